import ArgumentParser
import CCPodKit
import Foundation

/// What the lifecycle commands share: the pod's settings and its RunPod API client.
enum PodLifecycle {
    static func settings(_ name: String?) throws -> PodSettings {
        let config = try CCPodConfig.load(from: CLIContext.locations)
        guard let settings = try PodResolver.settings(name: name, environment: CLIContext.environment, config: config) else {
            throw CCPodError.usage("a local: folder is not a RunPod pod; name a pod from `ccpod pod list`")
        }
        return settings
    }

    static func api(_ settings: PodSettings, what: String) throws -> (api: RunPodAPI, podId: String) {
        try RunPodAPI.forPod(settings, environment: CLIContext.environment, what: what)
    }

    static func lock(_ subjects: [OperationLock.Subject], noWait: Bool, purpose: String) throws -> [OperationLock] {
        try OperationLock.acquire(subjects, stateDir: CLIContext.locations.stateDir, purpose: purpose, wait: !noWait) { Console.note($0) }
    }

    static func dollars(_ value: Double?) -> String {
        value.map { String(format: "$%.2f/h", $0) } ?? "unknown $/h"
    }

    /// Asks on a terminal; without one `--yes` must have been given (checked before any work).
    static func requireConsent(yes: Bool, what: String) throws {
        if !yes && !CLIContext.isInteractive {
            throw CCPodError.usage("\(what) cannot be undone; without a terminal to ask on, pass --yes")
        }
    }
}

/// What the commands that bring a pod's work home before acting (stop, terminate) share.
struct HomecomingOptions: ParsableArguments {
    @OptionGroup var claude: ClaudeDirOption
    @Option(name: .customLong("busy-seconds"), parsing: .unconditional, help: ArgumentHelp("A session changed less than this many seconds ago is being written.", valueName: "seconds"))
    var busySeconds = 5
    @Flag(name: .customLong("no-wait"), help: "When another ccpod is working with this pod or Claude dir, exit 75 at once.")
    var noWait = false

    init() {}

    func validate() throws {
        if busySeconds < 0 { throw ValidationError("--busy-seconds cannot be negative") }
    }
}

/// `ccpod pod status [NAME]`: one API call.
struct PodStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The pod as RunPod sees it: status, GPU, $/h, uptime, SSH endpoint, volume (one API call; works while stopped).")

    @Argument(help: "The pod's name (default: $CCPOD_POD, else the default pod).")
    var name: String?
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let settings = try PodLifecycle.settings(name)
        let (api, id) = try PodLifecycle.api(settings, what: "`ccpod pod status`")
        let state = try api.pod(id: id)
        CostRecording.podState(state, pod: settings.name)
        let view = PodStatusView(settings: settings, pod: state)
        Console.out(json ? try view.json() : view.text())
    }
}

/// `ccpod pod start NAME`.
struct PodStartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a stopped pod, wait until SSH answers, find its new address and key, repair setup.",
        discussion: """
        Asks RunPod to start the pod, then waits (at most --wait-timeout seconds) for a GPU \
        and for its sshd, saying so on stderr. The new port and host key are learned as \
        after any restart (through the pod's proxy, else the API), verified with a login, \
        pinned and saved; then `ccpod setup` repairs what the restart wiped. Prints the new \
        address and the price per hour.
        """)

    @Argument(help: "The pod's name.")
    var name: String
    @Option(name: .customLong("wait-timeout"), help: ArgumentHelp("Give up waiting for the pod after this many seconds.", valueName: "seconds"))
    var waitTimeout: Int = 600
    @Option(name: .customLong("poll-interval"), help: .hidden)
    var pollInterval: Double = 5
    @Flag(name: .customLong("skip-setup"), help: "Do not repair the pod's setup after it started.")
    var skipSetup = false
    @Flag(name: .customLong("no-wait"), help: "When another ccpod is working with this pod, exit 75 at once instead of waiting for it.")
    var noWait = false
    @Flag(help: "Print the result as JSON on stdout.")
    var json = false
    @Flag(name: .customLong("over-budget"), help: "Start even when the pod's budget is used up.")
    var overBudget = false

    func validate() throws {
        if waitTimeout < 1 || waitTimeout > 86400 { throw ValidationError("--wait-timeout takes 1 to 86400 seconds") }
        if !(pollInterval >= 0 && pollInterval <= 600) { throw ValidationError("--poll-interval takes 0 to 600 seconds") }
    }

    func run() throws {
        let settings = try PodLifecycle.settings(name)
        let (api, id) = try PodLifecycle.api(settings, what: "`ccpod pod start`")
        try CostRecording.checkPodBudget(settings, overBudget: overBudget)
        let locks = try PodLifecycle.lock([.pod(settings.name)], noWait: noWait, purpose: "starting \(settings.name)")
        defer { locks.forEach { $0.release() } }
        let starter = PodStarter(api: api, podId: id, pollInterval: .milliseconds(Int(pollInterval * 1000)),
                                 timeout: .seconds(waitTimeout), progress: { Console.note("\(settings.name): \($0)") })
        let outcome = try starter.run()
        CostRecording.podState(outcome.pod, pod: settings.name)
        if !outcome.started { Console.note("\(settings.name) was running already") }
        // Its new address and key, as after any restart; a login proves them.
        let access = CLIContext.podAccess()
        var pod = try access.open(name: settings.name)
        // RunPod says where it is now: when that is not where the config points, it is
        // found again at once (through the proxy when there is one, else the API).
        if let direct = pod.settings?.direct, direct.host != outcome.endpoint.host || direct.port != outcome.endpoint.port,
           (CLIContext.environment["RUNPOD_PORT"] ?? "").isEmpty {
            let moved = CCPodError(.unavailable, "\(settings.name) started at \(outcome.endpoint.host):\(outcome.endpoint.port) "
                                   + "(the config has \(direct.host):\(direct.port))", sshFailure: .connectionRefused)
            pod = try access.recover(pod, after: moved)
        }
        try access.withRecovery(&pod) { pod in
            let out = try pod.connection.runCommand("true", activity: "logging in")
            guard out.status == 0 else { throw CCPodError.unavailable("\(pod.name) answered, but `true` failed there (status \(out.status))") }
        }
        if !skipSetup {
            let report = try SetupRunner.run(pod: pod, installTmux: false, forgetAuth: false, quiet: true)
            if report.ok {
                Console.note("setup: \(report.changed ? "repaired" : "ok")")
            } else {
                Console.note("warning: setup is not complete: " + report.problems.map { "\($0.name): \($0.detail)" }.joined(separator: "; ")
                             + " (`ccpod setup --pod \(pod.name)`)")
            }
        }
        let address = pod.settings?.direct?.description ?? "\(outcome.endpoint.username)@\(outcome.endpoint.host):\(outcome.endpoint.port)"
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let result = StartResult(pod: pod.name, runpodId: id, direct: address, costPerHour: outcome.pod.costPerHour, started: outcome.started)
            Console.out(String(decoding: try encoder.encode(result), as: UTF8.self) + "\n")
        } else {
            Console.out("\(pod.name) running at \(address) · \(PodLifecycle.dollars(outcome.pod.costPerHour))\n")
        }
    }

    struct StartResult: Codable {
        var pod: String
        var runpodId: String
        var direct: String
        var costPerHour: Double?
        var started: Bool
    }
}

/// `ccpod pod stop NAME [--force]`.
struct PodStopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Bring the pod's sessions home, then stop it (its /workspace is kept); refuses while work would stay only there.",
        discussion: """
        First pulls every session of the pod home (one exchange). If anything would then \
        stay only on the pod — a session that could not come home (busy, changed on both \
        sides, in conflict), a Claude Code still running in ccpod's tmux sessions, outputs \
        of a run deployed from here that are newer than its last pull — it is listed and \
        the pod keeps running, unless --force. A stopped pod costs nothing per hour and \
        keeps /workspace; `ccpod pod start` brings it back.
        """)

    @Argument(help: "The pod's name.")
    var name: String
    @Flag(help: "Stop even when work would stay only on the pod (or it cannot be reached).")
    var force = false
    @OptionGroup var homecoming: HomecomingOptions

    func run() throws {
        let settings = try PodLifecycle.settings(name)
        let (api, id) = try PodLifecycle.api(settings, what: "`ccpod pod stop`")
        let claudeDir = try homecoming.claude.resolve()
        let locks = try PodLifecycle.lock([.pod(settings.name), .claudeDir(claudeDir.path)], noWait: homecoming.noWait, purpose: "stopping \(settings.name)")
        defer { locks.forEach { $0.release() } }
        let before = try api.pod(id: id)
        CostRecording.podState(before, pod: settings.name)
        if before.status == "EXITED" {
            Console.out("\(settings.name) is stopped already\n")
            return
        }
        guard before.actions.isEmpty || before.actions.contains("stop") else {
            throw CCPodError.unavailable("RunPod pod \(id) is \(before.status) and cannot be stopped now")
        }
        if before.isRunning {
            var leftovers: [PodLeftover] = []
            do {
                var home = PodHomecoming(pod: try CLIContext.podAccess().open(name: settings.name), claudeDir: claudeDir)
                leftovers += PodLeftovers.sessions(try home.pullSessions(busySeconds: homecoming.busySeconds))
                let status = try PodSetup(connection: home.pod.connection, runtime: settings.runtime).run(mode: .status)
                leftovers += PodLeftovers.claudes(status.tmuxSessions)
                leftovers += try home.pendingArtifacts(home.deployedRuns())
            } catch let error as CCPodError {
                guard force else {
                    throw CCPodError(error.status, error.message + "\nthe pod is still running; `ccpod pod stop \(settings.name) --force` stops it "
                                     + "without bringing its work home", sshFailure: error.sshFailure)
                }
                Console.note("could not bring the pod's work home: \(error.message)\nstopping anyway (--force)")
            }
            if !leftovers.isEmpty {
                let list = PodHomecoming.list(leftovers)
                guard force else {
                    throw CCPodError.failure("\(leftovers.count) thing(s) would stay only on \(settings.name):\n\(list)\n"
                                             + "the pod is still running; bring them home first, or stop anyway with --force")
                }
                Console.note("stopping although these stay only on the pod (--force):\n\(list)")
            }
        }
        let after = try api.perform(.stop, podId: id)
        if let after { CostRecording.podState(after, pod: settings.name) }
        Console.out("stopped \(settings.name) (RunPod pod \(id), now \(after?.status ?? "stopping"), \(PodLifecycle.dollars(after?.costPerHour ?? 0))); "
                    + "/workspace is kept; `ccpod pod start \(settings.name)` brings it back\n")
    }
}

/// `ccpod pod terminate NAME`.
struct PodTerminateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminate",
        abstract: "Bring the pod's sessions and runs' outputs home, verify them by hash, then delete the pod for good.",
        discussion: """
        Pulls every session and the outputs of every run on the pod (or those named with \
        --run), then has the pod hash every file it keeps and compares with what came \
        home. Only when every file is verified is the pod terminated (asked on a \
        terminal; --yes otherwise). Nothing is terminated while a verification fails; the \
        files are named.
        """)

    @Argument(help: "The pod's name.")
    var name: String
    @Option(name: .customLong("run"), help: ArgumentHelp("Only this run's outputs (repeatable; default: every run on the pod).", valueName: "name"))
    var runs: [String] = []
    @Flag(help: "Do not ask (required without a terminal).")
    var yes = false
    @OptionGroup var homecoming: HomecomingOptions

    func run() throws {
        let settings = try PodLifecycle.settings(name)
        let (api, id) = try PodLifecycle.api(settings, what: "`ccpod pod terminate`")
        try PodLifecycle.requireConsent(yes: yes, what: "terminating \(settings.name)")
        let claudeDir = try homecoming.claude.resolve()
        let locks = try PodLifecycle.lock([.pod(settings.name), .claudeDir(claudeDir.path)], noWait: homecoming.noWait, purpose: "terminating \(settings.name)")
        defer { locks.forEach { $0.release() } }
        let current = try api.pod(id: id)
        guard current.isRunning else {
            throw CCPodError.unavailable("RunPod pod \(id) is \(current.status); ccpod brings its work home before terminating it, "
                                         + "which needs it running: `ccpod pod start \(settings.name)` first")
        }
        var home = PodHomecoming(pod: try CLIContext.podAccess().open(name: settings.name), claudeDir: claudeDir)
        _ = try home.pullSessions(busySeconds: homecoming.busySeconds)
        let chosen = try home.podRuns(named: runs)
        try home.pullArtifacts(chosen)
        let (verification, _) = try home.verify(runs: chosen)
        guard verification.ok else {
            throw CCPodError.failure("\(verification.problems.count) file(s) of \(settings.name) are not safely home; nothing was terminated:\n"
                                     + PodHomecoming.list(verification.problems))
        }
        Console.note("verified by SHA-256: \(verification.verifiedFiles) file(s) on \(settings.name) are home")
        if !yes {
            guard CLIContext.askYesNo("Terminate \(settings.name) (RunPod pod \(id))? Its disk and /workspace are deleted for good. [y/N] ") else {
                throw CCPodError.failure("not terminated")
            }
        }
        try api.perform(.terminate, podId: id)
        var gone = current
        gone.status = "TERMINATED"
        CostRecording.podState(gone, pod: settings.name)
        Console.out("terminated \(settings.name) (RunPod pod \(id)); `ccpod pod rm \(settings.name)` forgets its settings\n")
    }
}
