import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod import`: sessions from an export file (or from git) into this machine's project.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Bring the sessions of an export file into this project, as sync does.",
        discussion: """
        Sessions go to the current project (the git root of the current directory, else the \
        directory) or --project: a new session is created; a longer version of one here gets \
        its new lines appended; one that went another way arrives as a new session titled \
        "… (from export)"; importing again changes nothing. --from-git reads the file as \
        committed at HEAD (or REV; give FILE before it) without touching the working tree. \
        With --pod NAME --from-git, the file is read in a run's code folder on the pod (the \
        project's latest run, or --run NAME) and the sessions go to the pod's Claude dir for \
        that folder. Encrypted exports are opened with your key (--identity, default: identity in ccpod's config dir).
        """
    )

    @Argument(help: ArgumentHelp("The export file (default: .claude-session-export.jsonl at the project root).", valueName: "file"))
    var file: String?

    @Option(name: .customLong("from-git"), defaultAsFlag: "HEAD",
            help: ArgumentHelp("Read the file as committed at this revision (default HEAD).", valueName: "rev"))
    var fromGit: String? = nil

    @Option(help: ArgumentHelp("Import into this project directory.", valueName: "path"))
    var project: String?

    @Flag(help: "Also write the sessions' file-history backups the export carries.")
    var withFileHistory = false

    @Option(help: ArgumentHelp("Your key for encrypted exports: a ccpod key, or an ssh-ed25519 private key without a passphrase.", valueName: "file"))
    var identity: String?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @OptionGroup var claude: ClaudeDirOption

    @OptionGroup var podOptions: PodOptions

    @Option(name: .customLong("run"), help: ArgumentHelp("With --pod: the run whose code folder holds the file (default: this project's latest run).", valueName: "name"))
    var runName: String?

    func validate() throws {
        if podOptions.pod != nil && fromGit == nil {
            throw ValidationError("--pod reads the export as committed in a run's code folder on the pod: add --from-git [REV]")
        }
        if runName != nil && podOptions.pod == nil { throw ValidationError("--run names a run on a pod: add --pod NAME") }
        if podOptions.pod != nil && claude.claudeDir != nil {
            throw ValidationError("--claude-dir is this machine's; with --pod the sessions go to the pod's Claude dir (claudeDir in its config)")
        }
    }

    /// The key given, read strictly; else the default one when it exists (it only matters for an encrypted file).
    func loadIdentity(_ locations: CCPodLocations) throws -> (ExportIdentity?, String) {
        let keyURL = identity.map { URL(fileURLWithPath: SessionsCommand.absolutePath($0)) } ?? ExportIdentity.defaultURL(locations)
        if identity != nil { return (try ExportIdentity.load(keyURL), keyURL.path) }
        return (FileStat.of(keyURL.path) != nil ? try? ExportIdentity.load(keyURL) : nil, keyURL.path)
    }

    func run() throws {
        if podOptions.pod != nil { return try runOnPod() }
        let root = try claude.resolve()
        let env = ProcessInfo.processInfo.environment
        let projectPath = ProjectSlug.resolvedPath(URL(fileURLWithPath: try project.map(SessionsCommand.absolutePath) ?? SessionsCommand.defaultProject()))
        let source: ImportOptions.Source
        if let revision = fromGit {
            var relative = file ?? ExportFormat.defaultFileName
            if relative.hasPrefix("/") {
                guard relative.hasPrefix(projectPath + "/") else { throw CCPodError.usage("\(relative) is not inside the project \(projectPath)") }
                relative = String(relative.dropFirst(projectPath.count + 1))
            }
            source = .git(revision: revision, path: relative, directory: projectPath)
        } else {
            source = .file(file.map(SessionsCommand.absolutePath) ?? projectPath + "/" + ExportFormat.defaultFileName)
        }
        var options = ImportOptions(source: source, projectPath: projectPath)
        options.withFileHistory = withFileHistory
        (options.identity, options.identityPath) = try loadIdentity(CCPodLocations.resolve(environment: env))
        let locks = try OperationLock.acquire([.claudeDir(root.path)], stateDir: CCPodLocations.resolve(environment: env).stateDir,
                                              purpose: "import") { Console.note("waiting for \($0)") }
        defer { locks.forEach { $0.release() } }
        let report = try SessionImporter(claudeDir: root).run(options)
        try render(report, into: "\(root.path)/projects/\(ProjectSlug.of(projectPath))")
    }

    /// `--pod NAME --from-git`: in a run's code folder on the pod, into the pod's Claude dir.
    func runOnPod() throws {
        guard let revision = fromGit else { return }
        let relative = file ?? ExportFormat.defaultFileName
        let directory = project.map(SessionsCommand.absolutePath) ?? FileManager.default.currentDirectoryPath
        let context = try ProjectContext.locate(directory: directory)
        let session = try podOptions.session(projectPod: context.settings.pod)
        let stateDir = CLIContext.locations.podStateDir(podName: session.name)
        let (key, keyPath) = try loadIdentity(CLIContext.locations)
        let locks = try podOptions.lock([.pod(session.name)], purpose: "importing sessions on \(session.name)")
        defer { locks.forEach { $0.release() } }
        let (report, codePath) = try session.run { pod -> (ImportReport, String) in
            let run = try ArtifactRun.locate(projectRoot: context.root, runName: runName, podDirectory: nil,
                                             connection: pod.connection, podStateDir: stateDir)
            if !json { Console.note("import: \(relative) at \(revision) in \(pod.name):\(run.podDirectory)/code (\(run.how))") }
            var importer = PodImport(connection: pod.connection, podStateDir: stateDir, codePath: run.podDirectory + "/code",
                                     revision: revision, file: relative)
            importer.withFileHistory = withFileHistory
            importer.identity = key
            importer.identityPath = keyPath
            return (try importer.run(), importer.codePath)
        }
        try render(report, into: "\(session.name):projects/\(ProjectSlug.of(codePath))")
    }

    func render(_ report: ImportReport, into place: String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n")
            return
        }
        var text = ""
        for item in report.items where item.action != "unchanged" {
            text += "\(item.action.padding(toLength: 10, withPad: " ", startingAt: 0)) \(item.path)\(item.detail.map { "  (\($0))" } ?? "")\n"
        }
        Console.out(text)
        let changed = report.items.filter { ["created", "appended", "sibling"].contains($0.action) }.count
        Console.note("imported \(report.sessions) session(s) into \(place): "
            + "\(changed) file(s) written, \(report.count("unchanged")) unchanged, \(report.count("kept")) kept as they were here")
    }
}
