import ArgumentParser
import CCPodKit
import Foundation

extension SyncScope.UserConfig: ExpressibleByArgument {}

/// What push, pull, sync and status share: which pod, which sessions, how to report.
struct SyncArguments: ParsableArguments {
    @OptionGroup var pod: PodOptions
    @OptionGroup var claude: ClaudeDirOption

    @Flag(help: "Every project, not only the current one.")
    var all = false

    @Option(help: ArgumentHelp("Only this session (and its folders).", valueName: "id"))
    var session: String?

    @Option(name: .customLong("pod-path"), help: ArgumentHelp(
        "Where this project lives on the pod (default: pod_path in .ccpod.toml, else the code folder of its latest run there (`ccpod runs`), else the same path as here).",
        valueName: "path"))
    var podPath: String?

    @Option(help: ArgumentHelp("The project directory (default: the git root of the current directory).", valueName: "path"))
    var project: String?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Option(help: ArgumentHelp(
        "Your Claude config (settings.json, CLAUDE.md, commands/, agents/, skills/, output-styles/): push (default), both, or none.",
        valueName: "mode"))
    var config: SyncScope.UserConfig = .push

    @Option(name: .customLong("busy-seconds"), parsing: .unconditional, help: ArgumentHelp(
        "A file changed less than this many seconds ago (and not by ccpod) is being written: skip it this time. Where Claude registers its running sessions (sessions/ in its config dir), a session no running claude holds moves at once.",
        valueName: "seconds"))
    var busySeconds = 5

    func validate() throws {
        if all && podPath != nil { throw ValidationError("--pod-path maps one project; it cannot be used with --all") }
        if busySeconds < 0 { throw ValidationError("--busy-seconds cannot be negative") }
        if let session, UUID(uuidString: session) == nil {
            throw ValidationError("--session takes a session id (a UUID, as `ccpod sessions` shows)")
        }
    }

    /// What a command on this project and pod works with.
    struct Prepared {
        var located: Located
        var scope: SyncScope
        var claudeDir: URL { located.claudeDir }
        /// The pod: found again once for the whole command when it restarted.
        var session: PodSession { located.session }
        var stateDir: URL { located.stateDir }
        var pod: ResolvedPod { session.pod }

        func engine(_ connection: (any PodConnection)? = nil) -> SyncEngine { located.engine(connection) }
    }

    /// The Claude dir, the project and the pod, before the project's mapping is known.
    struct Located {
        var claudeDir: URL
        var context: ProjectContext
        var session: PodSession
        var stateDir: URL

        /// The engine for this pod (`connection`: the pod found again after a restart).
        func engine(_ connection: (any PodConnection)? = nil) -> SyncEngine {
            var engine = SyncEngine(claudeDir: claudeDir.path, connection: connection ?? session.pod.connection, stateDir: stateDir)
            engine.scriptCacheDir = CLIContext.locations.cacheDir
            return engine
        }
    }

    /// Resolves the Claude dir, the project, the pod (unless the caller has it already:
    /// launch, attach) and its state folder.
    func locate(on podSession: PodSession? = nil) throws -> Located {
        let claudeDir = try claude.resolve()
        let directory = project.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? FileManager.default.currentDirectoryPath
        let context = try ProjectContext.locate(directory: directory)
        let podSession = try podSession ?? pod.session(projectPod: context.settings.pod)
        return Located(claudeDir: claudeDir, context: context, session: podSession,
                       stateDir: CLIContext.locations.podStateDir(podName: podSession.pod.name))
    }

    /// Resolves the Claude dir, the project and its mapping, the pod (unless the caller
    /// has it already: launch, attach) and its state folder.
    func prepare(verb: String, rememberMapping: Bool, on podSession: PodSession? = nil) throws -> Prepared {
        try prepare(locate(on: podSession), verb: verb, rememberMapping: rememberMapping)
    }

    /// The project's mapping (every project's with `--all`) for what `locate` found.
    func prepare(_ located: Located, verb: String, rememberMapping: Bool) throws -> Prepared {
        let (claudeDir, context, podSession, stateDir) = (located.claudeDir, located.context, located.session, located.stateDir)
        let resolved = podSession.pod
        let memory = MappingMemory(stateDir: stateDir)
        let scope: SyncScope
        if all {
            // Each project as it would map alone: .ccpod.toml, its latest run, else as last time.
            let (mappings, mapped) = try AllProjects.mappings(claudeDir: claudeDir.path, remembered: memory.load()) { root in
                (try? LatestRun.record(for: root, connection: resolved.connection, stateDir: stateDir))??.codePath
            }
            if !json {
                for m in mapped where m.mapping.podSlug != m.mapping.localSlug {
                    Console.note("\(verb): \(m.mapping.localPath ?? m.mapping.localSlug) ↔ \(resolved.name):\(m.mapping.podPath ?? m.mapping.podSlug) (\(m.source))")
                }
            }
            scope = SyncScope(projects: mappings, all: true, sessionId: session, userConfig: config)
        } else {
            // Neither --pod-path nor .ccpod.toml: the project's latest run on the pod.
            var latestRun: RunRecord?
            if context.needsLatestRun(podPathOverride: podPath) {
                latestRun = try LatestRun.record(for: context.root, connection: resolved.connection, stateDir: stateDir)
            }
            // Else where this project went last time (a --pod-path given to an earlier push or launch).
            var remembered: ProjectMapping?
            if context.needsLatestRun(podPathOverride: podPath) && latestRun == nil {
                let slug = ProjectSlug.of(context.root)
                remembered = memory.load().first { $0.localSlug == slug && $0.podSlug != slug }
            }
            let mapping = try context.mapping(podPathOverride: podPath, latestRunPodPath: latestRun?.codePath ?? remembered?.podPath)
            if rememberMapping { try memory.remember(mapping) }
            if !json {
                let there = mapping.podPath ?? mapping.localPath ?? ""
                let why = latestRun.map { " (latest run \($0.folder))" } ?? (remembered != nil ? " (as last time)" : "")
                Console.note("\(verb): \(context.root) ↔ \(resolved.name):\(there)\(why)")
            }
            scope = SyncScope(projects: [mapping], sessionId: session, userConfig: config)
        }
        return Prepared(located: located, scope: scope)
    }

    /// Resolves everything and runs the engine; a pod that restarted is found again once.
    /// `session`: the pod the command works with already (launch, attach).
    func run(_ options: SyncOptions, on session: PodSession? = nil) throws -> SyncReport {
        try execute(options, on: session).report
    }

    /// `run`, also returning the session it worked with (its pod found again after a restart).
    func execute(_ options: SyncOptions, on session: PodSession? = nil) throws -> (report: SyncReport, session: PodSession) {
        let located = try locate(on: session)
        // One ccpod at a time with this pod and this Claude dir (a hook, a watch and a terminal).
        let locks = try self.pod.lock([.pod(located.session.pod.name), .claudeDir(located.claudeDir.path)],
                                      purpose: "\(SyncRendering.gerund(options.direction)) with \(located.session.pod.name)")
        defer { locks.forEach { $0.release() } }
        // One updating line on stderr while bytes move, only on a terminal and never with --json.
        let display = TerminalProgress(isTerminal: Console.stderrIsTerminal && !json) { Console.writeError($0) }
        defer { display.clear() }
        func engine(_ connection: (any PodConnection)? = nil) -> SyncEngine {
            var engine = located.engine(connection)
            engine.progress = display.meter()
            return engine
        }
        // The pod's agent starts now: the connection's round trips overlap with the
        // mapping of every project and the scan.
        var agent = engine().startAgent(options)
        defer { agent?.cancel() }
        let prepared = try prepare(located, verb: options.direction.rawValue,
                                   rememberMapping: !options.dryRun && options.direction != .status)
        var options = options
        options.busySeconds = busySeconds
        // Archived sessions stay out of it, both ways (`ccpod archive`).
        options.archivedSessions = try ArchiveIndex.load(stateDir: CLIContext.locations.stateDir).ids(claudeDir: prepared.claudeDir)
        // A pod that keeps only active sessions gets only those pushed.
        let keepWindow = options.direction == .push ? prepared.pod.settings?.podKeepWindow : nil
        if let keepWindow, options.onlyRecent == nil { options.onlyRecent = keepWindow }
        // The pod probably restarted: find it again, say what changed, retry once.
        var report = try prepared.session.run(whenLost: { display.clear() }) {
            // The agent started above, on the first try only (a pod found again gets its own).
            let started = agent
            agent = nil
            return try engine($0.connection).run(scope: prepared.scope, options: options, agent: started)
        }
        if let keepWindow, !options.dryRun {
            // pod_keep = "active": older sessions, verified identical at home, leave the pod.
            let trim = try prepared.session.run(whenLost: { display.clear() }) {
                try PodKeepTrim.run(connection: $0.connection, podStateDir: prepared.stateDir, claudeDir: prepared.claudeDir.path,
                                    scope: prepared.scope, window: keepWindow)
            }
            report.warnings += PodKeepRendering.lines(trim, pod: prepared.pod.name)
        }
        return (report, prepared.session)
    }

    /// Prints the report: JSON on stdout, or one line per file that moved (all files for
    /// status and dry runs) and a summary on stderr.
    func render(_ report: SyncReport, showInSync: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n")
            PodWarnings.show(report.warnings, notesOnly: true)
        } else {
            var lines = ""
            for item in report.items where showInSync || item.action != .inSync {
                lines += SyncRendering.line(item, dryRun: report.dryRun) + "\n"
            }
            Console.out(lines)
            PodWarnings.show(report.warnings)
            Console.note(SyncRendering.summary(report))
        }
        if report.conflicts > 0 {
            if !json { Console.note("\(SyncRendering.counted(report.conflicts, "conflict")) left for you: run `ccpod resolve`") }
            throw ExitCode(ExitStatus.conflicts.rawValue)
        }
    }
}

enum SyncRendering {
    /// What a holder of the lock is doing, for a second ccpod that waits for it.
    static func gerund(_ direction: SyncOptions.Direction) -> String {
        switch direction {
        case .push: "pushing"
        case .pull: "pulling"
        case .sync: "syncing"
        case .status: "comparing"
        }
    }

    /// `pushed   +12 lines  3.1 KB  projects/-slug/id.jsonl  (detail)`, like rsync --itemize.
    static func line(_ item: SyncItem, dryRun: Bool) -> String {
        var verb = item.action.rawValue
        if dryRun { verb = "would: " + verb }
        let lines = item.lines > 0 ? "+" + counted(item.lines, "line") : ""
        let bytes = item.bytes > 0 ? byteCount(item.bytes) : ""
        var text = "\(pad(verb, 16)) \(pad(lines, 12)) \(pad(bytes, 9)) \(item.path)"
        if let detail = item.detail { text += "  (\(detail))" }
        return text
    }

    static func summary(_ report: SyncReport) -> String {
        var parts: [String] = []
        let actions: [(SyncItem.Action, String)] = [
            (.pushed, "pushed"), (.copiedToPod, "copied to pod"), (.pulled, "pulled"), (.copiedFromPod, "copied here"),
            (.replacedOnPod, "replaced on pod"), (.replacedLocally, "replaced here"), (.forked, "forked"),
            (.localAhead, "ahead here"), (.podAhead, "ahead on pod"), (.localOnly, "only here"), (.podOnly, "only on pod"),
            (.diverged, "diverged"), (.busy, "busy"),
        ]
        for (action, name) in actions {
            let n = report.count(action)
            if n > 0 { parts.append("\(n) \(name)") }
        }
        if report.conflicts > 0 { parts.append(counted(report.conflicts, "conflict")) }
        if report.count(.failed) > 0 { parts.append("\(report.count(.failed)) failed") }
        let inSync = report.count(.inSync)
        if parts.isEmpty { parts.append(inSync > 0 ? "everything in sync (\(counted(inSync, "file")))" : "nothing to sync") }
        let exchanges = counted(report.exchanges, "exchange")
        let moved = byteCount(report.bytesUp) + " up, " + byteCount(report.bytesDown) + " down"
        return "\(report.dryRun ? "dry run: " : "")\(parts.joined(separator: ", ")) · \(exchanges) · \(moved) · \(String(format: "%.2f", report.seconds)) s"
    }

    /// `1 file`, `2 files`.
    static func counted(_ n: Int, _ noun: String) -> String {
        "\(n) \(noun)\(n == 1 ? "" : "s")"
    }

    static func byteCount(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return String(format: "%.1f KB", Double(n) / 1024) }
        if n < 1024 * 1024 * 1024 { return String(format: "%.1f MB", Double(n) / 1_048_576) }
        return String(format: "%.2f GB", Double(n) / 1_073_741_824)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}

struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Send this project's sessions to the pod: new complete lines only, in one exchange.",
        discussion: """
        A session that grew here gets its new lines appended on the pod; a new one is \
        copied. When the pod's copy moved on too, nothing is overwritten: the file is \
        reported as diverged and `ccpod sync` keeps both continuations.
        """)

    @OptionGroup var sync: SyncArguments
    @Flag(help: "Show what would move; change nothing.") var dryRun = false
    @Flag(help: "Also delete on the pod what was deleted here (shown in the plan first).") var delete = false
    @Option(name: .customLong("only-recent"), help: ArgumentHelp(
        "Only sessions active here within this age (14d, 12h); the others are left alone on both sides (default with pod_keep = \"active\": pod_keep_days).",
        valueName: "age"))
    var onlyRecent: String?

    func validate() throws {
        if let onlyRecent, ArchivePlan.parseAge(onlyRecent) == nil {
            throw ValidationError("--only-recent takes an age such as 14d, 12h or 2w")
        }
    }

    func run() throws {
        var options = SyncOptions(direction: .push, dryRun: dryRun, delete: delete)
        options.onlyRecent = onlyRecent.flatMap(ArchivePlan.parseAge)
        let report = try sync.run(options)
        try sync.render(report, showInSync: false)
    }
}

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Bring the pod's sessions home: new complete lines only, in one exchange.")

    @OptionGroup var sync: SyncArguments
    @Flag(help: "Show what would move; change nothing.") var dryRun = false
    @Flag(help: "Also move away here what was deleted on the pod (into ccpod's backups folder).") var delete = false

    func run() throws {
        let report = try sync.run(SyncOptions(direction: .pull, dryRun: dryRun, delete: delete))
        try sync.render(report, showInSync: false)
    }
}

struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Push and pull in one exchange; when both sides moved on, keep both as sibling sessions.",
        discussion: """
        A session that grew on both sides forks: each side keeps its own session, and \
        the other side's continuation arrives as a new session (new id, its lines' \
        sessionId rewritten, titled "… (from pod)"), resumable with `claude --resume`.
        """)

    @OptionGroup var sync: SyncArguments
    @Flag(help: "Show what would move; change nothing.") var dryRun = false
    @Flag(help: "Propagate deletions both ways (shown in the plan first).") var delete = false

    func run() throws {
        let report = try sync.run(SyncOptions(direction: .sync, dryRun: dryRun, delete: delete))
        try sync.render(report, showInSync: false)
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Compare this project's sessions with the pod (one exchange, nothing moves).")

    @OptionGroup var sync: SyncArguments

    func run() throws {
        let (report, session) = try sync.execute(SyncOptions(direction: .status))
        defer {
            if !sync.json {
                PodSideSection.show(session.pod)
                HooksStatusLine.show(claudeDir: try? sync.claude.resolve())
            }
        }
        try sync.render(report, showInSync: true)
    }
}

/// What `pod_keep = "active"` did after a push, as report lines.
enum PodKeepRendering {
    static func lines(_ trim: PodKeepTrim.Outcome, pod: String) -> [String] {
        var lines: [String] = []
        if trim.sessions > 0 {
            lines.append("pod_keep: \(trim.sessions) older session(s) (\(trim.removed.count) file(s)) removed from \(pod), verified identical here, where they stay")
        }
        if trim.unverified > 0 {
            lines.append("pod_keep: \(trim.unverified) older session(s) stay on \(pod): not all of their files there are home (`ccpod pull` first)")
        }
        for kept in trim.kept.prefix(5) { lines.append("pod_keep: kept \(kept.path) on \(pod): \(kept.why)") }
        return lines
    }
}
