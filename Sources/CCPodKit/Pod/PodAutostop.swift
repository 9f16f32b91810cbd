import Foundation

/// How the autostop watchdog judges and acts (`ccpod pod autostop NAME --idle 30m …`).
public struct AutostopSettings: Sendable, Equatable {
    /// Idle this long (every check idle) and the pod is stopped.
    public var idleSeconds: Int
    /// Seconds between two checks.
    public var intervalSeconds: Int
    /// A GPU at or above this utilisation (percent) is busy.
    public var gpuThreshold: Int
    /// Store the API key on the pod (0600, under the persistent dir) so `ccpod setup`
    /// can restart the watchdog after a restart without the key from here.
    public var persistKey: Bool

    public init(idleSeconds: Int = 1800, intervalSeconds: Int = 60, gpuThreshold: Int = 5, persistKey: Bool = false) {
        self.idleSeconds = idleSeconds
        self.intervalSeconds = intervalSeconds
        self.gpuThreshold = gpuThreshold
        self.persistKey = persistKey
    }

    /// `30m`, `2h`, `1h30m`, `90s`, or a bare number of minutes; 1 s to 7 days.
    public static func parseDuration(_ text: String) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let bad = CCPodError.usage("'\(text.prefix(40))' is not a duration: write 30m, 2h, 1h30m or 90s")
        if let minutes = Int(t) {
            guard minutes > 0, minutes <= 7 * 24 * 60 else { throw bad }
            return minutes * 60
        }
        var total = 0
        var digits = ""
        for c in t {
            if c.isASCII && c.isNumber {
                digits.append(c)
                guard digits.count <= 7 else { throw bad }
            } else {
                guard let n = Int(digits) else { throw bad }
                switch c {
                case "h": total += n * 3600
                case "m": total += n * 60
                case "s": total += n
                default: throw bad
                }
                digits = ""
            }
        }
        guard digits.isEmpty, total > 0, total <= 7 * 24 * 3600 else { throw bad }
        return total
    }

    /// `30 min`, `1 h 30 min`, `90 s`.
    public static func describe(seconds: Int) -> String {
        if seconds % 60 != 0 { return "\(seconds) s" }
        let minutes = seconds / 60
        if minutes < 60 { return "\(minutes) min" }
        return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min"
    }
}

/// The note the watchdog leaves when it stopped the pod; ccpod shows it once, at the
/// next contact (the sync agent's warnings, `setup`, `check`). Everything in it came
/// from the pod: numbers are checked, the name is shown escaped.
public struct AutostopNote: Sendable, Codable, Equatable {
    /// The pod's name as it was when autostop was turned on.
    public var pod: String
    public var stoppedAt: Date
    public var idleSeconds: Int
    /// GPUs the pod had (nvidia-smi), 0 when unknown.
    public var gpus: Int
    /// US dollars per hour while it ran, when the API said.
    public var costPerHour: Double?
    /// When the pod's container started again, when the pod could tell.
    public var resumedAt: Date?

    public init(pod: String, stoppedAt: Date, idleSeconds: Int, gpus: Int, costPerHour: Double?, resumedAt: Date?) {
        self.pod = pod
        self.stoppedAt = stoppedAt
        self.idleSeconds = idleSeconds
        self.gpus = gpus
        self.costPerHour = costPerHour
        self.resumedAt = resumedAt
    }

    static let prefix = "autostop-note "

    /// Reads `autostop-note NAME STOPPED IDLE GPUS COST RESUMED` (also behind the sync
    /// reader's `pod: `); nil for anything else.
    public static func parse(_ text: String) -> AutostopNote? {
        var line = Substring(text)
        if line.hasPrefix("pod: ") { line = line.dropFirst(5) }
        guard line.hasPrefix(prefix), line.count <= 400 else { return nil }
        let f = line.dropFirst(prefix.count).split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard f.count == 6, f[0].count <= 64,
              let stopped = Int(f[1]), stopped > 0, stopped < 1 << 40,
              let idle = Int(f[2]), (0...(366 * 86400)).contains(idle),
              let gpus = Int(f[3]), (0...64).contains(gpus) else { return nil }
        var cost: Double?
        if f[4] != "-" {
            guard let c = Double(f[4]), c.isFinite, c >= 0, c < 10_000 else { return nil }
            cost = c
        }
        var resumed: Date?
        if f[5] != "-", let r = Int(f[5]), r > stopped, r < 1 << 40 { resumed = Date(timeIntervalSince1970: TimeInterval(r)) }
        let name = f[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) ? f[0] : "the pod"
        return AutostopNote(pod: name, stoppedAt: Date(timeIntervalSince1970: TimeInterval(stopped)), idleSeconds: idle,
                            gpus: gpus, costPerHour: cost, resumedAt: resumed)
    }

    /// Hours the pod stayed stopped: until it started again, else until `now`.
    public func hoursStopped(now: Date) -> Double {
        var end = resumedAt ?? now
        if end > now { end = now }
        return max(0, end.timeIntervalSince(stoppedAt) / 3600)
    }

    /// "gpu1 stopped itself at 14:02 after 30 min idle; 2.1 GPU-hours saved (about $0.92)".
    public func sentence(now: Date = Date(), timeZone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: stoppedAt)
        let clock = String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
        let when = calendar.isDate(stoppedAt, inSameDayAs: now)
            ? "at \(clock)" : String(format: "on %04d-%02d-%02d at %@", c.year ?? 0, c.month ?? 0, c.day ?? 0, clock)
        let hours = hoursStopped(now: now)
        let idle = idleSeconds < 60 ? "\(idleSeconds) s" : "\(Int((Double(idleSeconds) / 60).rounded())) min"
        var text = "\(pod) stopped itself \(when) after \(idle) idle; "
        text += gpus > 0 ? String(format: "%.1f GPU-hours saved", hours * Double(gpus)) : String(format: "%.1f pod-hours saved", hours)
        if let costPerHour, costPerHour > 0 { text += String(format: " (about $%.2f)", hours * costPerHour) }
        return text
    }
}

/// What the watchdog last did (`state` on the pod).
public struct AutostopState: Sendable, Codable, Equatable {
    public var checkedAt: Date
    /// Checks since the watchdog started.
    public var checks: Int
    /// `idle`, `busy`, `stopping`, `stopped`, `error`.
    public var kind: String
    public var detail: String

    /// `EPOCH TICKS KIND DETAIL…`.
    static func parse(_ text: String) -> AutostopState? {
        let f = text.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true).map(String.init)
        guard f.count >= 3, let at = Int(f[0]), at > 0, at < 1 << 40, let checks = Int(f[1]), checks >= 0,
              ["idle", "busy", "stopping", "stopped", "error"].contains(f[2]) else { return nil }
        return AutostopState(checkedAt: Date(timeIntervalSince1970: TimeInterval(at)), checks: checks, kind: f[2],
                             detail: f.count > 3 ? String(f[3].prefix(300)) : "")
    }
}

/// Autostop as the pod reports it (`ccpod pod autostop NAME`).
public struct AutostopStatus: Sendable, Codable, Equatable {
    public var pod: String
    /// Configured (a watchdog should run).
    public var on: Bool
    public var idleSeconds: Int?
    public var intervalSeconds: Int?
    public var gpuThreshold: Int?
    public var runpodId: String?
    public var costPerHour: Double?
    /// The watchdog's pid while it runs.
    public var watchdogPid: Int?
    /// The API key is stored on the pod (`--persist-key`).
    public var keyStored: Bool
    public var state: AutostopState?
    /// A note not shown yet.
    public var pendingNote: String?

    public init(pod: String) {
        self.pod = pod
        on = false
        keyStored = false
    }

    /// Reads the `status` answer.
    public static func parse(_ text: String, pod: String) -> AutostopStatus {
        var status = AutostopStatus(pod: pod)
        for line in text.split(separator: "\n").prefix(100) {
            let f = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            switch (f.first, f.count) {
            case ("config", 3):
                status.on = true
                switch f[1] {
                case "idle": status.idleSeconds = Int(f[2]).flatMap { $0 > 0 ? $0 : nil }
                case "interval": status.intervalSeconds = Int(f[2]).flatMap { $0 > 0 ? $0 : nil }
                case "gpu_threshold": status.gpuThreshold = Int(f[2])
                case "pod_id": status.runpodId = f[2].isEmpty ? nil : String(f[2].prefix(64))
                case "cost": status.costPerHour = Double(f[2]).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
                default: break
                }
            case ("watchdog", 3) where f[1] == "running": status.watchdogPid = Int(f[2])
            case ("state", _) where f.count >= 2: status.state = AutostopState.parse(String(line.dropFirst(6)))
            case ("key", 2) where f[1] == "stored": status.keyStored = true
            case ("note", _) where f.count >= 2: status.pendingNote = String(line.dropFirst(5).prefix(300))
            default: break
            }
        }
        return status
    }
}

/// The watchdog on a pod: install, resume with a key, turn off, report. The pod side is
/// `Pod/autostop.sh`; its copy, config and (with `--persist-key`) key live in
/// `<persistent dir>/autostop`, so `ccpod setup` finds them after a restart.
public struct PodAutostop: Sendable {
    public let connection: any PodConnection
    public let runtime: PodRuntime

    public init(connection: any PodConnection, runtime: PodRuntime) {
        self.connection = connection
        self.runtime = runtime
    }

    /// The script's text.
    public static var source: String { String(decoding: PackageResources.autostop_sh, as: UTF8.self) }

    /// The watchdog's folder on the pod (root prefix included).
    public var directory: String { connection.rootPrefix + connection.paths.persistentDir + "/autostop" }

    /// The API key is a token: letters, digits, `.`, `_`, `-`.
    public static func validateKey(_ key: String) throws {
        guard !key.isEmpty, key.count <= 256,
              key.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) })
        else { throw CCPodError.usage("the RunPod API key has characters a key does not have; check RUNPOD_API_KEY or the key file") }
    }

    /// The API's address as the watchdog uses it: `RUNPOD_API_URL`, else RunPod's.
    public static func apiURL(environment: [String: String]) throws -> String {
        // The one reader of RUNPOD_API_URL; what goes into the watchdog's config must also be shell-plain.
        let text = try RunPodAPI.baseURL(environment: environment).absoluteString
        guard !text.contains(where: { $0.isWhitespace || $0 == "'" || $0 == "\"" || $0 == "\\" || $0 == "`" || $0 == "$" }) else {
            throw CCPodError.usage("RUNPOD_API_URL is not an http(s) address: \(text.prefix(80))")
        }
        var s = text
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    func command(_ mode: String, _ arguments: [String] = []) -> String {
        InlineScript.command(PackageResources.autostop_sh, name: "ccpod-autostop", arguments: [mode, directory] + arguments)
    }

    /// Installs (or replaces) the watchdog. The key travels on stdin, before the script's
    /// own text. Returns the watchdog's pid and the RunPod pod id it will stop. One exec.
    public func install(podName: String, settings: AutostopSettings, runpodId: String?, apiURL: String,
                        costPerHour: Double?, apiKey: String) throws -> (pid: Int, runpodId: String) {
        try Self.validateKey(apiKey)
        let p = connection.rootPrefix
        let cost = costPerHour.map { String(format: "%.4f", $0) } ?? "-"
        let args = [podName, String(settings.idleSeconds), String(settings.intervalSeconds), String(settings.gpuThreshold),
                    runpodId ?? "", apiURL, cost, p + connection.paths.claudeDir, p + connection.paths.workspace + "/runs",
                    runtime.tmux, runtime.tmuxSocket ?? "", settings.persistKey ? "yes" : "no",
                    p + connection.paths.environmentFile]
        return try started(command("install", args), apiKey: apiKey, doing: "installing the autostop watchdog")
    }

    /// Starts the watchdog again with the configuration on the pod (after a restart,
    /// when the key was not stored there). One exec.
    public func resume(apiKey: String) throws -> (pid: Int, runpodId: String) {
        try Self.validateKey(apiKey)
        return try started(command("resume"), apiKey: apiKey, doing: "restarting the autostop watchdog")
    }

    private func started(_ command: String, apiKey: String, doing: String) throws -> (pid: Int, runpodId: String) {
        var input = Data((apiKey + "\n").utf8)
        input.append(contentsOf: PackageResources.autostop_sh)
        let output = try connection.runCommand(command, input: input, activity: doing, outputLimit: 64 << 10)
        let answer = output.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
        let f = answer.split(separator: " ").map(String.init)
        if f.count == 3, f[0] == "started", let pid = Int(f[1]), pid > 0 { return (pid, String(f[2].prefix(64))) }
        if answer == "error no-pod-id" {
            throw CCPodError.usage("cannot tell which RunPod pod \(connection.displayName) is: give its id with `ccpod pod add \(connection.displayName) … --runpod-id ID`")
        }
        if answer.hasPrefix("error ") {
            throw CCPodError.failure("autostop on \(connection.displayName): \(TerminalText.escape(String(answer.dropFirst(6).prefix(300))))")
        }
        throw CCPodError.badData("unexpected answer from \(connection.displayName) while \(doing) (status \(output.status)): "
                                 + TerminalText.escape(String(answer.prefix(200))) + " " + TerminalText.escape(String(output.stderrText.prefix(200))))
    }

    /// Stops the watchdog and removes its files (a note not shown yet stays). Returns
    /// whether it was on. One exec.
    public func off() throws -> Bool {
        let output = try connection.runCommand(command("off"), activity: "turning autostop off", outputLimit: 64 << 10)
        let answer = output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        switch answer {
        case "off": return true
        case "was-off": return false
        default:
            throw CCPodError.badData("unexpected answer from \(connection.displayName) while turning autostop off: "
                                     + TerminalText.escape(String(answer.prefix(200))))
        }
    }

    /// One idle check now, as the watchdog makes it: `idle` or `busy REASON …` (escaped). One exec.
    public func checkNow() throws -> String {
        let output = try connection.runCommand(command("check"), activity: "checking whether the pod is idle", outputLimit: 64 << 10)
        return TerminalText.escape(String(output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).prefix(400)))
    }

    /// What the watchdog is configured to do and last did. One exec.
    public func status(podName: String) throws -> AutostopStatus {
        let output = try connection.runCommand(command("status"), activity: "reading autostop", outputLimit: 64 << 10)
        return AutostopStatus.parse(output.stdoutText, pod: podName)
    }
}

extension SetupStep {
    /// A step ccpod adds itself after the script (`autostop` restarted with the key from here).
    public static func added(_ name: String, _ state: State, _ detail: String) -> SetupStep {
        SetupStep(name: name, state: state, detail: detail)
    }
}
