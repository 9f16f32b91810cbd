import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod archive`: old sessions into a compressed archive under the state dir, and back.
struct ArchiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Move old sessions into a compressed archive under ccpod's state dir, list them, restore them.",
        discussion: """
        `ccpod archive` (the same as `ccpod archive run`) moves the sessions of the current \
        project last active more than --older-than ago, with their folders (subagents, tool \
        results, file-history, tasks, todos), into <state>/archive/<slug>/<id>.tar.zst and its \
        index. Archived sessions are left alone by push, pull and sync in both directions.
        """,
        subcommands: [ArchiveRunCommand.self, ArchiveListCommand.self, ArchiveRestoreCommand.self],
        defaultSubcommand: ArchiveRunCommand.self)
}

struct ArchiveRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Archive old sessions (the default of `ccpod archive`).",
        discussion: """
        A session open in a running claude, or changed in the last seconds, stays. The \
        archive is written, fsynced and read back before the index records it, and the \
        originals are removed only then: an interrupted run leaves a session in both \
        places, never in neither (the next run finishes it). --before-sweep archives exactly \
        the sessions `ccpod doctor` warns about: those Claude's cleanup deletes within a week \
        that are on no pod and not archived.
        """)

    @Option(name: .customLong("older-than"), help: ArgumentHelp("Last activity older than this (30d, 12h, 2w; default 30d).", valueName: "age"))
    var olderThan: String?

    @Flag(name: .customLong("before-sweep"), help: "Archive the sessions Claude's cleanup deletes within a week and that exist nowhere else.")
    var beforeSweep = false

    @Option(help: ArgumentHelp("The project directory (default: the git root of the current directory).", valueName: "path"))
    var project: String?

    @Flag(help: "Every project, not only the current one.")
    var all = false

    @Flag(name: .customLong("dry-run"), help: "Say what would be archived; change nothing.")
    var dryRun = false

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Flag(name: .customLong("no-wait"), help: "When another ccpod works with this Claude dir, exit 75 instead of waiting.")
    var noWait = false

    @OptionGroup var claude: ClaudeDirOption

    func validate() throws {
        if all && project != nil { throw ValidationError("--project and --all cannot be used together") }
        if beforeSweep && olderThan != nil { throw ValidationError("--before-sweep picks the sessions itself; leave out --older-than") }
        if let olderThan, ArchivePlan.parseAge(olderThan) == nil {
            throw ValidationError("--older-than takes an age such as 30d, 12h, 90m or 2w")
        }
    }

    struct Output: Encodable {
        struct Session: Encodable {
            var id: String
            var project: String
            var title: String?
            var lastActivity: Date
            var archive: String?
            var size: Int64?
            var archiveSize: Int64?
            var skipped: String?
        }
        var dryRun: Bool
        var archived: [Session]
        var skipped: [Session]
        var finishedInterrupted: [String]
    }

    func run() throws {
        let claudeDir = try claude.resolve()
        let locations = CLIContext.locations
        let locks = try OperationLock.acquire([.claudeDir(claudeDir.path), .archive], stateDir: locations.stateDir,
                                              purpose: "archiving sessions", wait: !noWait) { Console.note($0) }
        defer { locks.forEach { $0.release() } }
        let archiver = SessionArchiver(claudeDir: claudeDir, stateDir: locations.stateDir)
        var output = Output(dryRun: dryRun, archived: [], skipped: [], finishedInterrupted: [])
        if !dryRun {
            let (finished, notes) = try archiver.finishInterrupted()
            output.finishedInterrupted = finished
            for id in finished { Console.note("finished archiving \(id) (an earlier run was interrupted)") }
            for note in notes { Console.note("warning: \(note)") }
        }
        let slug: String? = all || (beforeSweep && project == nil) ? nil
            : ProjectSlug.of(ProjectSlug.resolvedPath(URL(fileURLWithPath: try project.map(SessionsCommand.absolutePath) ?? SessionsCommand.defaultProject())))
        let cache = SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: locations.stateDir))
        var (candidates, unreadable) = try ArchiveCandidate.gather(claudeDir: claudeDir, slug: slug, cache: cache)
        var age = ArchivePlan.parseAge(olderThan ?? "30d") ?? 30 * 86400
        if beforeSweep {
            let atRisk = Set(try RetentionShield.scan(claudeDir: claudeDir, locations: locations).atRisk.map(\.candidate.id))
            candidates = candidates.filter { atRisk.contains($0.id) }
            age = 0
        }
        let archived = try ArchiveIndex.load(stateDir: locations.stateDir).ids(claudeDir: claudeDir)
        let decisions = ArchivePlan.select(candidates, olderThan: age, now: Date(), live: LiveSessions.ids(configDir: claudeDir), archived: archived)
        for d in decisions {
            let c = d.candidate
            var row = Output.Session(id: c.id, project: c.project, title: c.title, lastActivity: c.lastActivity, skipped: d.skipped)
            if d.skipped == nil && !dryRun {
                let (entry, note) = try archiver.archive(c)
                if entry == nil { row.skipped = note } else if let note { Console.note("warning: \(c.id): \(note)") }
                if let entry {
                    row.archive = ArchiveIndex.folder(stateDir: locations.stateDir).appendingPathComponent(entry.file).path
                    row.size = entry.size
                    row.archiveSize = entry.archiveSize
                }
            }
            if row.skipped == nil { output.archived.append(row) } else { output.skipped.append(row) }
            if !json {
                if let why = row.skipped {
                    Console.note("kept \(c.id) (\(c.project)): \(why)")
                } else {
                    let sizes = row.size.map { " \(SessionsCommand.byteCount($0)) → \(SessionsCommand.byteCount(row.archiveSize ?? 0))" } ?? ""
                    Console.out("\(dryRun ? "would archive" : "archived")  \(c.id)  \(c.project)  \(c.title ?? "(untitled)")\(sizes)\n")
                }
            }
        }
        for reason in unreadable { Console.note("warning: \(reason)") }
        if json {
            Console.out(try ArchiveListCommand.encode(output))
        } else if output.archived.isEmpty && output.skipped.isEmpty {
            Console.note(beforeSweep ? "no session is due for Claude's cleanup within a week and kept nowhere else"
                         : "no session last active more than \(olderThan ?? "30d") ago")
        } else if !dryRun && !output.archived.isEmpty {
            Console.note("\(output.archived.count) session(s) archived under \(ArchiveIndex.folder(stateDir: locations.stateDir).path); "
                         + "`ccpod archive restore ID` brings one back")
        }
    }
}

struct ArchiveListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the archived sessions of this Claude dir.")

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    @OptionGroup var claude: ClaudeDirOption

    func run() throws {
        let claudeDir = try claude.resolve()
        try Self.show(try ArchiveIndex.load(stateDir: CLIContext.locations.stateDir).sessions(claudeDir: claudeDir), json: json)
    }

    /// The table (or JSON) `archive list` and `sessions --archived` print.
    static func show(_ sessions: [ArchivedSession], json: Bool) throws {
        let sorted = sessions.sorted { ($0.lastActivity, $0.id) > ($1.lastActivity, $1.id) }
        if json {
            Console.out(try encode(sorted))
            return
        }
        guard !sorted.isEmpty else {
            Console.note("no archived sessions")
            return
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        var rows = [["PROJECT", "SESSION", "TITLE", "SIZE", "LAST ACTIVITY", "ARCHIVED"]]
        for s in sorted {
            rows.append([s.project, s.id, SessionsCommand.truncate(s.title ?? "(untitled)", 64),
                         "\(SessionsCommand.byteCount(s.size)) → \(SessionsCommand.byteCount(s.archiveSize))",
                         formatter.string(from: s.lastActivity),
                         formatter.string(from: s.archivedAt) + (s.state == .restoring ? " (restore interrupted)" : "")])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        Console.out(rows.map { row in
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n")
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}

struct ArchiveRestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put an archived session back, byte for byte, with its files' times.",
        discussion: """
        Refuses, before writing anything, when a file of the session is here with other \
        contents. Once restored, the session syncs again and `claude --resume` lists it.
        """)

    @Argument(help: ArgumentHelp("The session id (or its first 8 or more characters).", valueName: "id"))
    var id: String

    @Flag(name: .customLong("no-wait"), help: "When another ccpod works with this Claude dir, exit 75 instead of waiting.")
    var noWait = false

    @OptionGroup var claude: ClaudeDirOption

    func run() throws {
        let claudeDir = try claude.resolve()
        let locations = CLIContext.locations
        let locks = try OperationLock.acquire([.claudeDir(claudeDir.path), .archive], stateDir: locations.stateDir,
                                              purpose: "restoring a session", wait: !noWait) { Console.note($0) }
        defer { locks.forEach { $0.release() } }
        let entry = try ArchiveIndex.load(stateDir: locations.stateDir).find(id, claudeDir: claudeDir)
        try SessionArchiver(claudeDir: claudeDir, stateDir: locations.stateDir).restore(entry)
        Console.out("restored  \(entry.id)  \(entry.project)  \(entry.title ?? "(untitled)")\n")
        Console.note("\(entry.files.count) file(s) back under \(claudeDir.path); `claude --resume` in \(entry.project) lists it")
    }
}

/// The retention shield's part of `ccpod doctor`: one line per session Claude's cleanup
/// deletes within a week that exists nowhere else, and what to do about it.
struct RetentionWarning: Encodable {
    var id: String
    var project: String
    var title: String?
    var transcript: String
    var daysLeft: Int
    var cleanupPeriodDays: Int

    static func check(claudeDir: URL, locations: CCPodLocations, printing: Bool) throws -> [RetentionWarning] {
        let scan = try RetentionShield.scan(claudeDir: claudeDir, locations: locations)
        let warnings = scan.atRisk.map {
            RetentionWarning(id: $0.candidate.id, project: $0.candidate.project, title: $0.candidate.title,
                             transcript: "\(claudeDir.path)/projects/\($0.candidate.slug)/\($0.candidate.id).jsonl",
                             daysLeft: $0.daysLeft, cleanupPeriodDays: scan.cleanupDays)
        }
        guard printing, !warnings.isEmpty else { return warnings }
        for w in warnings {
            let when = w.daysLeft == 0 ? "at claude's next start" : "in \(w.daysLeft) day\(w.daysLeft == 1 ? "" : "s")"
            Console.out("\(w.transcript): Claude's cleanup (cleanupPeriodDays \(w.cleanupPeriodDays)) deletes this session \(when); "
                        + "it is on no pod and not archived\n")
        }
        Console.note("hint: `ccpod archive --before-sweep` archives these \(warnings.count) session(s); `ccpod push` puts them on a pod; "
                     + "or raise cleanupPeriodDays in \(claudeDir.path)/settings.json")
        return warnings
    }
}
