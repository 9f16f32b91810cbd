import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod deploy`: the project's code on the pod as a tagged run.
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Put this project's code on the pod as a tagged run, in one exec.",
        discussion: """
        Tags the commit (HEAD by default) as ccpod/<run>-<YYYYmmdd-HHMMSS>, sends it as a \
        git bundle over SSH and checks it out in <workspace>/runs/<run>_<timestamp>/code, \
        with artifacts/ logs/ checkpoints/ results/ beside it. No hosting service and no \
        credentials on the pod. A failed deploy leaves nothing on the pod. \
        With --update, the latest run of that name is fast-forwarded to the new tag and \
        only the objects the pod lacks travel.
        """)

    @OptionGroup var podOptions: PodOptions

    @Option(name: .customLong("run"), help: ArgumentHelp("The run's name (default: the project folder's name).", valueName: "name"))
    var runName: String?

    @Option(help: ArgumentHelp("The commit, branch or tag to deploy (default: HEAD and the working tree must be clean).", valueName: "ref"))
    var ref: String?

    @Flag(name: .customLong("allow-dirty"), help: "Deploy uncommitted changes as a snapshot commit no branch points to.")
    var allowDirty = false

    @Flag(help: "Fast-forward the existing run named --run instead of creating a new one.")
    var update = false

    @Option(help: ArgumentHelp("The project directory (default: the current directory).", valueName: "path"))
    var project: String?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func validate() throws {
        if update && runName == nil { throw ValidationError("--update needs --run NAME: the run to fast-forward") }
        if let runName {
            do { try RunName.validate(runName) } catch let error as CCPodError { throw ValidationError(error.message) }
        }
    }

    func run() throws {
        let directory = project.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? FileManager.default.currentDirectoryPath
        let projectPod = (try? ProjectContext.locate(directory: directory))?.settings.pod
        let pod = try podOptions.session(projectPod: projectPod)
        let request = DeployRequest(directory: directory, runName: runName, ref: ref, allowDirty: allowDirty, update: update)
        // A failed deploy leaves nothing behind (its tag removed), so after a restart it
        // runs again whole on the pod found again.
        let result = try pod.run {
            try Deployer(connection: $0.connection, podStateDir: CLIContext.locations.podStateDir(podName: $0.name)).deploy(request)
        }
        for warning in result.warnings { Console.note("warning: \(warning)") }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(result), as: UTF8.self) + "\n")
            return
        }
        let r = result.record
        if result.upToDate {
            Console.note("run \(r.folder) is already at \(r.commit.prefix(12)); nothing sent")
        } else {
            let how = result.base.map { "only what \($0.prefix(12)) lacks" } ?? "full history"
            Console.note("\(result.updated ? "updated" : "deployed") \(r.tag) to \(result.pod) (\(SyncRendering.byteCount(result.bundleBytes)) bundle, \(how))")
        }
        Console.out("run: \(r.directory)\ncode: \(r.codePath)\ncommit: \(r.commit)\ntag: \(r.tag)\n")
    }
}
