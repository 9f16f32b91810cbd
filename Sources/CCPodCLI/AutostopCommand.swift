import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod pod autostop NAME --idle 30m | --off`: a watchdog on the pod that stops it
/// through the RunPod API once it has been idle long enough (never terminates it).
struct AutostopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autostop",
        abstract: "Stop the pod through the RunPod API when it has been idle for a while (--idle 30m), or turn that off.",
        discussion: """
        Installs a watchdog on the pod (in its persistent dir, so `ccpod setup` starts it \
        again after a restart) that checks every --interval seconds whether the pod is \
        idle: no tmux client attached, no Claude Code session at work, every GPU below \
        --gpu-threshold percent (when nvidia-smi exists), no run log growing. Idle for the \
        whole --idle time, it stops the pod (the volume stays; it never terminates). The \
        RunPod API key (RUNPOD_API_KEY or the pod's apiKeyFile) travels on ssh's stdin and \
        stays in the watchdog's memory; --persist-key also stores it on the pod (0600) so \
        `ccpod setup` can restart the watchdog without it. The next time ccpod reaches the \
        pod it says when and why the pod stopped itself. Without --idle or --off, shows \
        the watchdog's state.
        """)

    @Argument(help: "The pod (default: $CCPOD_POD, else the default pod).")
    var name: String?

    @Option(help: ArgumentHelp("Stop the pod after it has been idle this long: 30m, 2h, 1h30m, 90s.", valueName: "duration"))
    var idle: String?

    @Flag(help: "Stop and remove the watchdog.")
    var off = false

    @Option(name: .customLong("gpu-threshold"), help: ArgumentHelp("A GPU at or above this utilisation is busy.", valueName: "percent"))
    var gpuThreshold = 5

    @Option(help: ArgumentHelp("Seconds between two checks.", valueName: "seconds"))
    var interval = 60

    @Flag(name: .customLong("persist-key"), help: "Also store the API key on the pod (0600), so `ccpod setup` restarts the watchdog after a restart by itself.")
    var persistKey = false

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func validate() throws {
        if off && idle != nil { throw ValidationError("--off and --idle exclude each other") }
        if let idle {
            let seconds: Int
            do { seconds = try AutostopSettings.parseDuration(idle) } catch let e as CCPodError { throw ValidationError(e.message) }
            if interval > seconds { throw ValidationError("--interval (\(interval) s) is longer than --idle (\(seconds) s): the pod would be checked less often than it may idle") }
        }
        if !(0...100).contains(gpuThreshold) { throw ValidationError("--gpu-threshold is a percentage, 0 to 100") }
        if !(1...3600).contains(interval) { throw ValidationError("--interval is 1 to 3600 seconds") }
        if persistKey && idle == nil { throw ValidationError("--persist-key goes with --idle") }
    }

    func run() throws {
        let access = CLIContext.podAccess()
        var pod = try access.open(name: name)
        let locks = try OperationLock.acquire([.pod(pod.name)], stateDir: CLIContext.locations.stateDir,
                                              purpose: "changing autostop on \(pod.name)") { Console.note($0) }
        defer { locks.forEach { $0.release() } }
        func autostop(_ p: ResolvedPod) -> PodAutostop {
            PodAutostop(connection: p.connection, runtime: p.settings?.runtime ?? PodRuntime())
        }
        if off {
            let was = try access.withRecovery(&pod) { try autostop($0).off() }
            if json {
                try printJSON(AutostopStatus(pod: pod.name))
            } else {
                Console.out(was ? "autostop on \(pod.name): off (the watchdog is stopped and removed)\n" : "autostop on \(pod.name): was already off\n")
            }
            return
        }
        guard let idle else {
            let status = try access.withRecovery(&pod) { try autostop($0).status(podName: $0.name) }
            if json { try printJSON(status) } else { Console.out(AutostopRendering.text(status)) }
            return
        }
        let settings = AutostopSettings(idleSeconds: try AutostopSettings.parseDuration(idle), intervalSeconds: interval,
                                        gpuThreshold: gpuThreshold, persistKey: persistKey)
        guard let key = try AutostopRendering.apiKey(for: pod) else {
            throw CCPodError.usage("autostop stops the pod through the RunPod API and needs a key: set RUNPOD_API_KEY, or apiKeyFile in [pods.\(pod.name)] (`ccpod pod add … --api-key-file FILE`)")
        }
        let apiURL = try PodAutostop.apiURL(environment: CLIContext.environment)
        let runpodId = pod.settings?.runpodId
        // The price, for the note's estimate; a rejected key stops here (it could never stop the pod).
        var cost: Double?
        if let runpodId, let url = URL(string: apiURL) {
            do {
                cost = try RunPodAPI(apiKey: key, baseURL: url, maxAttempts: 2).pod(id: runpodId).costPerHour
            } catch let error as CCPodError where error.status == .notPermitted {
                throw error
            } catch {
                Console.note("note: could not read \(pod.name)'s price from the RunPod API (\(error)); the note will not estimate dollars")
            }
        }
        let started = try access.withRecovery(&pod) {
            try autostop($0).install(podName: $0.name, settings: settings, runpodId: runpodId, apiURL: apiURL,
                                     costPerHour: cost, apiKey: key)
        }
        var status = AutostopStatus(pod: pod.name)
        status.on = true
        status.idleSeconds = settings.idleSeconds
        status.intervalSeconds = settings.intervalSeconds
        status.gpuThreshold = settings.gpuThreshold
        status.runpodId = started.runpodId
        status.costPerHour = cost
        status.watchdogPid = started.pid
        status.keyStored = persistKey
        if json {
            try printJSON(status)
        } else {
            Console.out(AutostopRendering.text(status))
        }
    }

    func printJSON(_ status: AutostopStatus) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        Console.out(String(decoding: try encoder.encode(status), as: UTF8.self) + "\n")
    }
}

enum AutostopRendering {
    /// The RunPod API key from here: `RUNPOD_API_KEY`, else the pod's `apiKeyFile`.
    static func apiKey(for pod: ResolvedPod) throws -> String? {
        if let settings = pod.settings { return try settings.apiKey(environment: CLIContext.environment) }
        return CLIContext.environment["RUNPOD_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func clock(_ date: Date) -> String {
        let c = Calendar.current.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
    }

    static func text(_ s: AutostopStatus) -> String {
        guard s.on else { return "autostop on \(s.pod): off\n" }
        var head = "autostop on \(s.pod): on, stops"
        if let id = s.runpodId { head += " RunPod pod \(id)" } else { head += " the pod" }
        head += " after \(s.idleSeconds.map { AutostopSettings.describe(seconds: $0) } ?? "?") idle"
        var how: [String] = []
        if let i = s.intervalSeconds { how.append("checked every \(AutostopSettings.describe(seconds: i))") }
        if let g = s.gpuThreshold { how.append("a GPU at \(g) % or more is busy") }
        if let c = s.costPerHour { how.append(String(format: "$%.2f/h", c)) }
        var lines = [head + (how.isEmpty ? "" : " (" + how.joined(separator: "; ") + ")")]
        if let pid = s.watchdogPid {
            var line = "  watchdog: running (pid \(pid))"
            if let state = s.state {
                line += ", last check \(clock(state.checkedAt)): " + (state.kind == "idle" ? "idle" : "\(state.kind) \(state.detail)")
            }
            lines.append(line)
        } else if let state = s.state, state.kind == "stopped" {
            lines.append("  watchdog: stopped the pod at \(clock(state.checkedAt)); `ccpod setup` starts it again after the pod is started")
        } else {
            lines.append("  watchdog: not running (the pod restarted?): `ccpod setup` starts it again"
                         + (s.keyStored ? "" : " with RUNPOD_API_KEY set here"))
        }
        lines.append(s.keyStored ? "  key: stored on the pod (0600; --persist-key)"
                                 : "  key: in the watchdog's memory only (not stored on the pod)")
        if let note = s.pendingNote { lines.append("  note not shown yet: \(note)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// After `setup` (and `launch`, which runs it): the note, once, and a watchdog that
    /// could not restart by itself started with the key from here.
    static func afterSetup(_ report: inout SetupReport, pod: ResolvedPod) {
        if let text = report.autostopNote, let note = AutostopNote.parse(text) { Console.note(note.sentence()) }
        guard report.autostopNeedsKey == true else { return }
        guard let key = try? apiKey(for: pod) else {
            Console.note("autostop on \(pod.name) is on, but its watchdog is not running since the pod restarted "
                         + "(the API key was not stored there): run `ccpod setup` with RUNPOD_API_KEY set, "
                         + "or `ccpod pod autostop \(pod.name) --idle … --persist-key`")
            return
        }
        do {
            _ = try PodAutostop(connection: pod.connection, runtime: pod.settings?.runtime ?? PodRuntime()).resume(apiKey: key)
            report.steps.append(.added("autostop", .done, "restarted the watchdog with the API key from here"))
            report.autostopNeedsKey = nil
        } catch {
            Console.note("autostop on \(pod.name): the watchdog did not start again: \(error)")
        }
    }
}

/// What a pod said alongside its answer: an autostop note and the sessions that ended there
/// (ccpod's pod hook) as sentences, the rest as warnings.
enum PodWarnings {
    static func show(_ warnings: [String], notesOnly: Bool = false) {
        let ended = warnings.compactMap(PodHooks.endedWarning)
        if !ended.isEmpty { Console.note(PodHooks.sentence(ended)) }
        for warning in warnings where PodHooks.endedWarning(warning) == nil {
            if let note = AutostopNote.parse(warning) {
                Console.note(note.sentence())
            } else if !notesOnly {
                Console.note("warning: \(warning)")
            }
        }
    }
}
