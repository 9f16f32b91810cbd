import CCPodCLI

@main
enum CCPodMain {
    static func main() async {
        await CCPodEntry.run()
    }
}
