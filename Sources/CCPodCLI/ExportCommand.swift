import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod export`: sessions into one git-friendly file, secrets scrubbed.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write sessions to one line-oriented file for git, with secrets replaced by placeholders.",
        discussion: """
        Writes the current project's sessions (the git root of the current directory, else the \
        directory) to .claude-session-export.jsonl at its root. The same sessions give the same \
        bytes; a session that grew shows as added lines. Secrets (provider keys, private keys, \
        tokens, passwords, credentials in URLs, also inside JSON escapes and base64) become \
        [REDACTED:<kind>:<hash>]; a second, independent scan refuses to write anything that still \
        matches (exit 65, naming where). --to encrypts the file to ccpod public keys (`ccpod keygen`) \
        or ssh-ed25519 public keys.
        """
    )

    @Option(name: .customLong("session"), help: ArgumentHelp("Export this session (repeat for more).", valueName: "id"))
    var sessions: [String] = []

    @Option(help: ArgumentHelp("Export the sessions of this project directory.", valueName: "path"))
    var project: String?

    @Flag(help: "Export the sessions of every project.")
    var all = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Write here (default: .claude-session-export.jsonl at the project root).", valueName: "file"))
    var output: String?

    @Flag(help: "Also carry the sessions' file-history backups.")
    var withFileHistory = false

    @Flag(help: "List what was redacted, by kind and count (never the values), on stderr (with --json: in the JSON).")
    var report = false

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Flag(help: "Do not replace secrets (the file's header says so). Only for exports that never leave this machine.")
    var noScrub = false

    @Option(name: .customLong("to"), help: ArgumentHelp("Encrypt to this public key (ccpodpk1…, an ssh-ed25519 line, or a .pub file; repeat for more).", valueName: "recipient"))
    var recipients: [String] = []

    @OptionGroup var claude: ClaudeDirOption

    func validate() throws {
        if all && project != nil { throw ValidationError("--project and --all cannot be used together") }
        if all && !sessions.isEmpty { throw ValidationError("--session and --all cannot be used together") }
    }

    func run() throws {
        let root = try claude.resolve()
        let projectPath = ProjectSlug.resolvedPath(URL(fileURLWithPath: try project.map(SessionsCommand.absolutePath) ?? SessionsCommand.defaultProject()))
        let selection: ExportOptions.Selection = all ? .all : sessions.isEmpty ? .project : .sessions(sessions)
        let file = output.map(SessionsCommand.absolutePath) ?? projectPath + "/" + ExportFormat.defaultFileName
        var options = ExportOptions(selection: selection, projectPath: projectPath, output: URL(fileURLWithPath: file))
        options.withFileHistory = withFileHistory
        options.scrub = !noScrub
        options.recipients = try recipients.map(ExportRecipient.parse)
        let summary = try SessionExporter(claudeDir: root).export(options)
        for note in summary.skipped { Console.note("skipped \(note)") }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            var shown = summary
            if !report { shown.redactions = [:] }
            Console.out(String(decoding: try encoder.encode(shown), as: UTF8.self) + "\n")
            return
        }
        let redacted = summary.redactions.values.reduce(0, +)
        var line = "exported \(summary.sessions) session(s), \(summary.files) file(s), \(summary.lines) line(s) to \(summary.output)"
        if !summary.encryptedTo.isEmpty { line += ", encrypted to \(summary.encryptedTo.joined(separator: ", "))" }
        line += summary.scrubbed ? "; \(redacted) secret(s) replaced by placeholders" : "; NOT scrubbed (--no-scrub): keep it off shared repositories"
        Console.note(line)
        if report && summary.scrubbed {
            for (kind, count) in summary.redactions.sorted(by: { $0.key < $1.key }) { Console.note("  \(kind)  \(count)") }
        }
    }
}
