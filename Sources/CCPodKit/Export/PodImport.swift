import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod import --pod NAME --from-git [REV]`: the export file as committed in a run's code
/// folder on the pod, imported into the pod's Claude dir for that folder.
///
/// The file is read with `git show REV:./FILE` on the pod (bounded output), then the pod's
/// sessions of the folder are pulled into a private staging Claude dir, the export is imported
/// there with the usual semantics (new, longer, went another way → sibling), and the result is
/// pushed back with the sync machinery: the pod's own files are only ever appended to or
/// created, as by `ccpod push`.
public struct PodImport: Sendable {
    public var connection: any PodConnection
    /// The pod's folder under ccpod's state dir (the staging Claude dir lives there while it runs).
    public var podStateDir: URL
    /// The run's code folder on the pod: the git clone, and the project the sessions go to.
    public var codePath: String
    public var revision: String
    /// The export file, relative to the code folder.
    public var file: String
    public var withFileHistory = false
    public var identity: ExportIdentity?
    public var identityPath = ""

    /// The biggest export read from the pod.
    public static let maxExport = 256 << 20

    public init(connection: any PodConnection, podStateDir: URL, codePath: String, revision: String, file: String) {
        self.connection = connection
        self.podStateDir = podStateDir
        self.codePath = codePath
        self.revision = revision
        self.file = file
    }

    public func run() throws -> ImportReport {
        guard !revision.isEmpty, !revision.hasPrefix("-"), !revision.contains(":"), !revision.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw CCPodError.usage("\(TerminalText.escape(revision)) is not a revision (a branch, tag or commit)")
        }
        guard !file.isEmpty, !file.hasPrefix("/"), !file.split(separator: "/").contains(".."), !file.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw CCPodError.usage("\(TerminalText.escape(file)): the export file must be relative to the run's code folder, without `..`")
        }
        let work = podStateDir.appendingPathComponent("import-\(getpid())-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try CCPodLocations.makePrivateDirectory(work.appendingPathComponent("claude/projects", isDirectory: true))
        defer { try? FileManager.default.removeItem(at: work) }
        // Straight into a file as it arrives: the pod decides how much it sends (up to the
        // limit), never how much memory ccpod uses.
        let export = work.appendingPathComponent("export")
        let command = "git -C \(ShellQuote.quote(codePath)) --no-pager show --no-textconv \(ShellQuote.quote("\(revision):./\(file)"))"
        let out = try connection.runCommand(command, outputPath: export.path, activity: "reading \(file) at \(revision) on the pod",
                                            outputLimit: Self.maxExport)
        guard out.status == 0 else {
            let said = TerminalText.escape(String(out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines).prefix(2000)))
            throw CCPodError.usage("git on \(connection.displayName) cannot show \(revision):\(file) in \(codePath): \(said)")
        }

        let claude = work.appendingPathComponent("claude", isDirectory: true)
        let slug = ProjectSlug.of(codePath)
        let scope = SyncScope(projects: [ProjectMapping(localSlug: slug, podSlug: slug, localPath: codePath, podPath: codePath)], userConfig: .none)
        let engine = SyncEngine(claudeDir: claude.path, connection: connection, stateDir: work.appendingPathComponent("state", isDirectory: true))
        // What the pod has of this folder, so the import compares with it.
        _ = try engine.run(scope: scope, options: SyncOptions(direction: .pull, busySeconds: 0))

        var options = ImportOptions(source: .file(export.path), projectPath: codePath)
        options.withFileHistory = withFileHistory
        options.identity = identity
        options.identityPath = identityPath
        let report = try SessionImporter(claudeDir: claude).run(options)

        let pushed = try engine.run(scope: scope, options: SyncOptions(direction: .push, busySeconds: 0))
        if pushed.conflicts > 0 {
            throw CCPodError.failure("the sessions changed on \(connection.displayName) while ccpod imported (\(pushed.conflicts) conflict(s)); nothing of theirs was replaced; import again")
        }
        return report
    }
}
