import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod hooks install|uninstall|status`: Claude Code hooks that sync a session when it
/// ends (and pull the project's sessions when one starts), in the background.
struct HooksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks",
        abstract: "Sync sessions when Claude Code ends them: install, remove or show ccpod's Claude Code hooks.",
        discussion: """
        Adds a SessionEnd hook (a background `ccpod sync --session ID` of the session that \
        ended) and a SessionStart hook (a background `ccpod pull --no-wait` of the project) \
        to Claude Code's settings.json, after the hooks already there. The hooks return at \
        once, print nothing, and log under ccpod's state dir (logs/hooks.log). `uninstall` \
        removes exactly what `install` added. Off by default. With --where pod, the pod's \
        Claude gets a SessionEnd hook that records which sessions ended there (the pod \
        cannot reach the laptop); `ccpod hooks status --where pod` lists them.
        """,
        subcommands: [HooksInstallCommand.self, HooksUninstallCommand.self, HooksStatusCommand.self],
        defaultSubcommand: HooksStatusCommand.self)
}

/// What the three hooks subcommands share.
struct HooksArguments: ParsableArguments {
    @OptionGroup var claude: ClaudeDirOption

    @Option(help: ArgumentHelp(
        "The pod the hooks sync with (default: as `ccpod sync` chooses: $CCPOD_POD, the project's pod, the default pod).",
        valueName: "name"))
    var pod: String?

    @Option(name: .customLong("where"), help: ArgumentHelp(
        "laptop (this machine: sync the session that ended), pod (the pod's Claude: record which sessions ended there), or both.",
        valueName: "place"))
    var place: Place = .laptop

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    enum Place: String, ExpressibleByArgument, CaseIterable {
        case laptop, pod, both
        var laptop: Bool { self != .pod }
        var pod: Bool { self != .laptop }
    }

    func installer() throws -> HookInstaller {
        HookInstaller(store: LocalSettingsFile(claudeDir: try claude.resolveForHooks()),
                      stateDir: CLIContext.locations.stateDir, place: "laptop")
    }

    /// The commands Claude runs: this ccpod by its absolute path, with the pod when one was named.
    func commands() -> [HookEvent: String] {
        let binary = URL(fileURLWithPath: HookLauncher.selfExecutable).standardizedFileURL.path
        let prefix = pod.map { "CCPOD_POD=\(ShellQuote.quote($0)) " } ?? ""
        var commands: [HookEvent: String] = [:]
        for event in HookEvent.allCases { commands[event] = "\(prefix)\(ShellQuote.quote(binary)) hook \(event.argument)" }
        return commands
    }

    /// What one place answers, for --json.
    struct Answer: Encodable {
        var place: String
        var settings: String
        var outcome: String?
        var installed: [String]
        var log: String?
        var endedOnPod: [PodHooks.Ended]?
    }

    /// Runs `body` on the places --where names (the laptop first) and prints what each answered.
    func each(_ body: (HookInstaller, PodHooks?) throws -> HookInstaller.Outcome?) throws {
        var answers: [Answer] = []
        if place.laptop {
            let installer = try installer()
            let outcome = try body(installer, nil)
            answers.append(try answer("laptop", outcome, installer, ended: nil))
        }
        if place.pod {
            let resolved = try CLIContext.podAccess().open(name: pod)
            let hooks = PodHooks(connection: resolved.connection, podName: resolved.name)
            let installer = HookInstaller(store: PodSettingsFile(connection: resolved.connection, podName: resolved.name),
                                          stateDir: CLIContext.locations.stateDir, place: "pod-\(resolved.name)")
            let outcome = try body(installer, hooks)
            let events = try installer.installedEvents()
            try hooks.remember(podStateDir: CLIContext.locations.podStateDir(podName: resolved.name), installed: !events.isEmpty)
            answers.append(try answer("pod", outcome, installer, ended: try hooks.endedSessions()))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(answers), as: UTF8.self) + "\n")
            return
        }
        for answer in answers {
            let origin = answer.settings
            switch answer.outcome.flatMap(HookInstaller.Outcome.init(rawValue:)) {
            case .installed?: Console.note("hooks installed in \(origin)")
            case .alreadyInstalled?: Console.note("hooks were already installed in \(origin)")
            case .removed?: Console.note("hooks removed from \(origin)")
            case .notInstalled?: Console.note("no ccpod hooks in \(origin)")
            case nil: break
            }
            let events = Set(answer.installed.compactMap(HookEvent.init(rawValue:)))
            if let ended = answer.endedOnPod {
                var line = "pod " + HooksStatusLine.text(events, onPod: true)
                if let last = ended.last {
                    line += "; \(ended.count) session\(ended.count == 1 ? "" : "s") ended there since the last sync (last \(last.sessionId) at \(last.time)); `ccpod sync` brings them home"
                }
                Console.out(line + "\n")
            } else {
                Console.out(HooksStatusLine.text(events) + "\n")
            }
        }
    }

    func answer(_ place: String, _ outcome: HookInstaller.Outcome?, _ installer: HookInstaller, ended: [PodHooks.Ended]?) throws -> Answer {
        Answer(place: place, settings: installer.store.origin, outcome: outcome?.rawValue,
               installed: try installer.installedEvents().map(\.rawValue).sorted(),
               log: ended == nil ? HookLog(stateDir: CLIContext.locations.stateDir).file.path : nil, endedOnPod: ended)
    }
}

extension ClaudeDirOption {
    /// The Claude dir for the hooks: like `resolve()`, but a missing dir is created by
    /// Claude on its first run, so only its path is needed.
    func resolveForHooks() throws -> URL {
        if let claudeDir { return URL(fileURLWithPath: claudeDir).standardizedFileURL }
        if let env = CLIContext.environment["CLAUDE_CONFIG_DIR"], !env.isEmpty { return URL(fileURLWithPath: env).standardizedFileURL }
        let home = CLIContext.environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".claude")
    }
}

/// `hooks: installed (SessionStart, SessionEnd)`, the line `hooks status` and `ccpod status` print.
enum HooksStatusLine {
    static func text(_ events: Set<HookEvent>, onPod: Bool = false) -> String {
        if events.isEmpty && onPod { return "hooks: not installed (`ccpod hooks install --where pod` records the sessions that end there)" }
        if events.isEmpty { return "hooks: not installed (`ccpod hooks install` syncs each session when Claude ends it)" }
        let names = HookEvent.allCases.filter { events.contains($0) }.map(\.rawValue).joined(separator: ", ")
        return "hooks: installed (\(names))"
    }

    /// The line for `ccpod status`, on stdout; says nothing when settings.json cannot be read.
    static func show(claudeDir: URL?) {
        guard let claudeDir else { return }
        let installer = HookInstaller(store: LocalSettingsFile(claudeDir: claudeDir), stateDir: CLIContext.locations.stateDir, place: "laptop")
        if let events = try? installer.installedEvents() { Console.out(text(events) + "\n") }
    }
}

struct HooksInstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Add ccpod's SessionStart and SessionEnd hooks to Claude Code's settings.json (idempotent).")

    @OptionGroup var hooks: HooksArguments

    func run() throws {
        try hooks.each { installer, pod in
            guard let pod else { return try installer.install(commands: hooks.commands()) }
            // The script first: the settings never name a hook that is not there.
            try pod.installScript()
            return try installer.install(commands: [.sessionEnd: pod.command])
        }
    }
}

struct HooksUninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Remove exactly the hooks `ccpod hooks install` added.")

    @OptionGroup var hooks: HooksArguments

    func run() throws {
        try hooks.each { installer, pod in
            let outcome = try installer.uninstall()
            try pod?.removeScript()
            return outcome
        }
    }
}

struct HooksStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether ccpod's hooks are installed.")

    @OptionGroup var hooks: HooksArguments

    func run() throws {
        try hooks.each { _, _ in nil }
    }
}
