import CCPodKit
import Foundation
import Testing

/// A command's output written to a file as it arrives (what `import --pod` reads from the
/// pod): all of it when it fits the limit, refused (65) when the pod sends more, and the
/// file never holds much more than the limit whatever the pod sends.
@Suite struct PodCommandOutputTests {
    @Test func outputToAFileIsBoundedAndRefusedPastTheLimit() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-out-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let pod = LocalConnection(root: root.path)
        let file = root.appendingPathComponent("out").path

        let fits = try pod.runCommand("printf 'a\\nb\\n'; head -c 100000 /dev/zero", outputPath: file, activity: "testing", outputLimit: 1 << 20)
        #expect(fits.status == 0 && fits.stdout.isEmpty)
        #expect(FileStat.of(file)?.size == 100_004)

        // An endless answer: refused at the limit, the file at most one chunk past it.
        #expect {
            try pod.runCommand("yes ccpod", outputPath: file, activity: "testing", outputLimit: 1 << 20)
        } throws: { ($0 as? CCPodError)?.status == .badData }
        #expect((FileStat.of(file)?.size ?? 0) <= (1 << 20) + (1 << 16))
    }
}
