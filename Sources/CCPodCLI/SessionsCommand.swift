import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod sessions`: the Claude Code sessions of a project, or of all projects.
struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List Claude Code sessions with their title, size and last activity.",
        discussion: """
        By default lists the sessions of the current project (the git root of the \
        current directory, else the current directory). Sessions written by `claude -p` \
        or an SDK are marked: `claude --resume` does not list them, but resumes them by id.
        """
    )

    @Option(help: ArgumentHelp("List the sessions of this project directory.", valueName: "path"))
    var project: String?

    @Flag(help: "List the sessions of every project.")
    var all = false

    @Flag(help: "Print a JSON array (sorted keys, ISO-8601 dates) instead of a table.")
    var json = false

    @Flag(help: "List the archived sessions instead (`ccpod archive`).")
    var archived = false

    @OptionGroup var claude: ClaudeDirOption

    @Flag(help: "Also every configured pod, each asked at once (one exchange each): where each session is, its sync state there, and whether a claude runs it now.")
    var everywhere = false

    @OptionGroup var pod: PodOptions

    func validate() throws {
        if all && project != nil { throw ValidationError("--project and --all cannot be used together") }
        if everywhere && pod.pod != nil { throw ValidationError("--everywhere asks every pod; --pod asks one: use one of them") }
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let root = try claude.resolve()
        if everywhere || pod.pod != nil {
            let names = try pod.pod.map { [$0] } ?? SessionsEverywhereRun.configuredPods()
            guard !names.isEmpty else { throw CCPodError.usage("no pod is configured: add one with `ccpod pod add`") }
            let path = all ? nil : ProjectSlug.resolvedPath(URL(fileURLWithPath: try project.map(Self.absolutePath) ?? Self.defaultProject()))
            let run = SessionsEverywhereRun(podNames: names, projectPath: path, claudeDir: root, pod: pod)
            return try SessionsEverywhereRun.render(try run.gather(), json: json)
        }
        let locations = CCPodLocations.resolve(environment: env)
        var catalog = SessionCatalog(
            store: ClaudeStore(root: root),
            cache: SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: locations.stateDir)))

        var slug: String?
        var projectPath: String?
        if !all {
            let path = try project.map(Self.absolutePath) ?? Self.defaultProject()
            projectPath = ProjectSlug.resolvedPath(URL(fileURLWithPath: path))
            slug = ProjectSlug.of(projectPath!)
        }
        if archived {
            let sessions = try ArchiveIndex.load(stateDir: CLIContext.locations.stateDir).sessions(claudeDir: root)
            return try ArchiveListCommand.show(sessions.filter { slug == nil || $0.slug == slug }, json: json)
        }
        let listing = try catalog.list(slug: slug)

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            let data = try encoder.encode(listing.sessions.map(SessionJSON.init))
            Console.out(String(decoding: data, as: UTF8.self) + "\n")
        } else if listing.sessions.isEmpty {
            if let projectPath, let slug {
                Console.note("no sessions for \(projectPath) (looked in \(root.path)/projects/\(slug))")
            } else {
                Console.note("no sessions in \(root.path)/projects")
            }
        } else {
            Console.out(Self.table(listing.sessions))
            let hidden = listing.sessions.filter { $0.summary.isHiddenFromPicker }.count
            if hidden > 0 {
                Console.note("\(hidden) session(s) marked \"hidden\" were written by claude -p or an SDK: "
                    + "claude --resume does not list them; resume them with claude --resume <id>")
            }
        }
        for failure in listing.unreadable { Console.error(failure.reason) }
        if !listing.unreadable.isEmpty {
            throw CCPodError.badData("\(listing.unreadable.count) session file(s) could not be read (named above)")
        }
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        if path == "~" || path.hasPrefix("~/") {
            return (ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()) + path.dropFirst()
        }
        return FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The git root of the current directory, else the current directory.
    static func defaultProject() throws -> String {
        let cwd = FileManager.default.currentDirectoryPath
        if let out = try? ChildProcess.run("git", ["rev-parse", "--show-toplevel"], directory: cwd), out.status == 0 {
            let top = out.stdoutText.trimmingCharacters(in: .newlines)
            if !top.isEmpty { return top }
        }
        return cwd
    }

    static func table(_ sessions: [SessionInfo]) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        var rows = [["PROJECT", "SESSION", "TITLE", "LINES", "SIZE", "LAST ACTIVITY", "NOTE"]]
        for s in sessions {
            var notes = [String]()
            if s.summary.isHiddenFromPicker { notes.append("hidden (\(s.summary.entrypoint ?? "sdk"))") }
            if s.summary.badLineCount > 0 { notes.append("\(s.summary.badLineCount) bad line(s)") }
            if s.summary.hasIncompleteTail { notes.append("incomplete last line") }
            rows.append([
                s.projectPath, s.ref.id, truncate(s.summary.title ?? "(untitled)", 64),
                String(s.summary.lineCount), byteCount(s.stat.size),
                formatter.string(from: s.lastActivity), notes.joined(separator: ", "),
            ])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        let rightAligned: Set<Int> = [3, 4]
        return rows.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : (c == row.count - 1 ? cell : cell + pad)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }

    /// `s` cut to `n` characters in the middle, so that both its start and its end stay
    /// visible: a fork's title differs from its sibling's only at the end ("… (from gpu1 …)").
    static func truncate(_ s: String, _ n: Int) -> String {
        guard s.count > n else { return s }
        let tail = min(n / 2 - 1, 30)
        return String(s.prefix(n - 1 - tail)) + "…" + String(s.suffix(tail))
    }

    static func byteCount(_ n: Int64) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n)B" : String(format: value < 10 ? "%.1f%@" : "%.0f%@", value, units[unit])
    }
}

/// One session in `ccpod sessions --json`.
struct SessionJSON: Encodable {
    var id: String
    var project: String
    var slug: String
    var title: String?
    var lines: Int
    var size: Int64
    var firstActivity: Date?
    var lastActivity: Date
    var entrypoint: String?
    var hiddenFromPicker: Bool
    var cwds: [String]
    var transcript: String
    var subagentFiles: Int
    var badLines: Int
    var incompleteTailBytes: Int64

    init(_ s: SessionInfo) {
        id = s.ref.id
        project = s.projectPath
        slug = s.ref.slug
        title = s.summary.title
        lines = s.summary.lineCount
        size = s.stat.size
        firstActivity = s.summary.firstTimestamp
        lastActivity = s.lastActivity
        entrypoint = s.summary.entrypoint
        hiddenFromPicker = s.summary.isHiddenFromPicker
        cwds = s.summary.cwds
        transcript = s.ref.transcript.path
        subagentFiles = s.ref.subagents.count + s.ref.legacyAgents.count
        badLines = s.summary.badLineCount
        incompleteTailBytes = s.summary.tailLength
    }
}
