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
        Encrypted exports are opened with your key (--identity, default: identity in ccpod's config dir).
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

    func run() throws {
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
        let keyURL = identity.map { URL(fileURLWithPath: SessionsCommand.absolutePath($0)) }
            ?? ExportIdentity.defaultURL(CCPodLocations.resolve(environment: env))
        options.identityPath = keyURL.path
        // A key given is read strictly; the default one only matters for an encrypted file.
        if identity != nil {
            options.identity = try ExportIdentity.load(keyURL)
        } else if FileStat.of(keyURL.path) != nil {
            options.identity = try? ExportIdentity.load(keyURL)
        }
        let locks = try OperationLock.acquire([.claudeDir(root.path)], stateDir: CCPodLocations.resolve(environment: env).stateDir,
                                              purpose: "import") { Console.note("waiting for \($0)") }
        defer { locks.forEach { $0.release() } }
        let report = try SessionImporter(claudeDir: root).run(options)
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
        Console.note("imported \(report.sessions) session(s) into \(root.path)/projects/\(ProjectSlug.of(projectPath)): "
            + "\(changed) file(s) written, \(report.count("unchanged")) unchanged, \(report.count("kept")) kept as they were here")
    }
}
