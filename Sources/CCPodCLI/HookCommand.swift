import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod hook session-end|session-start` (hidden): what Claude Code runs. Reads the
/// hook's JSON from stdin (bounded), starts the work detached (`hook run`), and returns
/// at once with exit 0 and nothing printed, whatever happens: a broken config or an
/// unreachable pod only shows in `<state>/logs/hooks.log`.
struct HookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "What Claude Code's hooks run (installed by `ccpod hooks install`).",
        shouldDisplay: false,
        subcommands: [HookSessionEndCommand.self, HookSessionStartCommand.self, HookRunCommand.self])

    /// How long a hook's sync or pull may run in the background.
    static let timeLimit: Double = 600

    /// Starts `ccpod hook run … -- arguments` detached; never throws, never prints (the hook exits 0).
    static func start(event: HookEvent, input: HookInput?, _ arguments: [String]) {
        let log = HookLog(stateDir: CLIContext.locations.stateDir)
        guard let input else {
            log.append("hook: \(event.argument): no session id in Claude's input; nothing to do")
            return
        }
        var job = ["hook", "run", "--label", "\(event.argument) \(input.sessionId)", "--time-limit", String(Int(timeLimit))]
        if event == .sessionEnd { job += ["--session", input.sessionId] }
        var command = arguments
        if let cwd = input.cwd { command += ["--project", cwd] }
        do {
            try HookLauncher.detach(HookLauncher.selfExecutable, job + ["--"] + command, log: log)
        } catch {
            log.append("hook: \(event.argument) \(input.sessionId): \(error)")
        }
    }
}

struct HookSessionEndCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session-end",
        abstract: "Claude's SessionEnd: sync the session that ended, in the background.")

    func run() throws {
        let input = HookInput.parse(HookInput.readStandardInput())
        // The session has ended: its lines move at once (no --busy-seconds wait).
        HookCommand.start(event: .sessionEnd, input: input,
                          ["sync", "--busy-seconds", "0"] + (input.map { ["--session", $0.sessionId] } ?? []))
    }
}

struct HookSessionStartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session-start",
        abstract: "Claude's SessionStart: bring the project's sessions from the pod home, in the background.")

    func run() throws {
        // The session that starts is held by the running claude and stays as it is; the
        // project's other sessions (ended on the pod) come home for /resume. Skipped when
        // another ccpod is at work (--no-wait).
        HookCommand.start(event: .sessionStart, input: HookInput.parse(HookInput.readStandardInput()), ["pull", "--no-wait"])
    }
}

/// `ccpod hook run [--session ID] --time-limit S -- ARGS`: the detached job (see `HookJob`).
struct HookRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a hook's ccpod command in the background with a time limit (started by the hook).")

    @Option var label: String = "hook"
    @Option var session: String?
    @Option(name: .customLong("time-limit")) var timeLimit: Double = HookCommand.timeLimit
    @Argument(parsing: .postTerminator) var arguments: [String] = []

    func run() throws {
        let log = HookLog(stateDir: CLIContext.locations.stateDir)
        let claudeDir = try? ClaudeConfigDir.resolve(override: nil, environment: CLIContext.environment)
        let job = HookJob(log: log, claudeDir: claudeDir, sessionId: session, timeLimit: max(1, timeLimit))
        job.run(label: label, HookLauncher.selfExecutable, arguments)
    }
}
