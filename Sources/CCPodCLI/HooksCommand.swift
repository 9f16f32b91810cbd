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
        removes exactly what `install` added. Off by default.
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

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

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

    func report(_ outcome: HookInstaller.Outcome?, _ installer: HookInstaller) throws {
        let events = try installer.installedEvents()
        if json {
            struct Answer: Encodable {
                var settings: String
                var outcome: String?
                var installed: [String]
                var log: String
            }
            let answer = Answer(settings: installer.store.origin, outcome: outcome?.rawValue,
                                installed: events.map(\.rawValue).sorted(),
                                log: HookLog(stateDir: CLIContext.locations.stateDir).file.path)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(answer), as: UTF8.self) + "\n")
            return
        }
        switch outcome {
        case .installed?: Console.note("hooks installed in \(installer.store.origin)")
        case .alreadyInstalled?: Console.note("hooks were already installed in \(installer.store.origin)")
        case .removed?: Console.note("hooks removed from \(installer.store.origin)")
        case .notInstalled?: Console.note("no ccpod hooks in \(installer.store.origin)")
        case nil: break
        }
        Console.out(HooksStatusLine.text(events) + "\n")
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
    static func text(_ events: Set<HookEvent>) -> String {
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
        let installer = try hooks.installer()
        try hooks.report(try installer.install(commands: hooks.commands()), installer)
    }
}

struct HooksUninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Remove exactly the hooks `ccpod hooks install` added.")

    @OptionGroup var hooks: HooksArguments

    func run() throws {
        let installer = try hooks.installer()
        try hooks.report(try installer.uninstall(), installer)
    }
}

struct HooksStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether ccpod's hooks are installed.")

    @OptionGroup var hooks: HooksArguments

    func run() throws {
        try hooks.report(nil, try hooks.installer())
    }
}
