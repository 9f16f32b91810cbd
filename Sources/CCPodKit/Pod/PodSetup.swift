import Foundation

/// How Claude Code is installed and run on a pod (keys of `[pods.NAME]` in config.toml).
public struct PodRuntime: Sendable, Equatable {
    /// The official installer; it puts `claude` in `~/.local/bin`.
    public static let officialInstaller = "curl -fsSL https://claude.ai/install.sh | bash"

    /// `installCommand`: a `sh` command line that installs Claude Code (pods without internet set their own).
    public var installCommand: String
    /// `binDir`: where `claude` is linked so shells that read no profile find it.
    public var binDir: String
    /// `tmux`: the tmux program on the pod.
    public var tmux: String
    /// `tmuxSocket`: a private tmux server (`tmux -L NAME`); nil = the pod's default server.
    public var tmuxSocket: String?
    /// `claudeEnv`: environment variables for Claude Code on this pod (set in the tmux
    /// pane before `claude` starts; names of letters, digits and `_`).
    public var claudeEnvironment: [String: String] = [:]

    /// An environment variable's name as a shell takes it.
    public static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == 0x5F || (0x41...0x5A).contains(first) || (0x61...0x7A).contains(first),
              name.utf8.count <= 128 else { return false }
        return name.utf8.allSatisfy { $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    public init(installCommand: String = PodRuntime.officialInstaller, binDir: String = "/usr/local/bin",
                tmux: String = "tmux", tmuxSocket: String? = nil) {
        self.installCommand = installCommand
        self.binDir = binDir
        self.tmux = tmux
        self.tmuxSocket = tmuxSocket
    }
}

/// One thing `ccpod setup` looks after on the pod.
public struct SetupStep: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        /// Already right.
        case ok
        /// Changed just now.
        case done
        /// Not right (a check that changes nothing).
        case missing
        case failed
    }

    /// `projects`, `todos`, `settings`, `guard`, `claude`, `path`, `tmux`, `auth`, `layout`, `autostop`.
    public var name: String
    public var state: State
    public var detail: String
}

/// What the setup script answered.
public struct SetupReport: Sendable, Codable, Equatable {
    public var pod: String
    public var steps: [SetupStep]
    /// The last lines of a failed installer.
    public var log: [String]
    /// Files moved aside while migrating (the pod's copy differed from the persistent one).
    public var keptAside: [String]
    /// The auth file stored with `--persist-auth`, when there is one.
    public var persistedAuth: String?
    /// Status mode only.
    public var claudeVersion: String?
    public var tmuxSessions: [TmuxSession]
    public var gpus: [String]
    public var uptimeSeconds: Double?
    /// The autostop watchdog's note (it stopped the pod), shown once (`AutostopNote`).
    public var autostopNote: String?
    /// Autostop is on but its watchdog could not restart: the key was not stored on the pod.
    public var autostopNeedsKey: Bool?

    /// Everything is in place (nothing missing or failed).
    public var ok: Bool { steps.allSatisfy { $0.state == .ok || $0.state == .done } }
    /// Something was changed by this run.
    public var changed: Bool { steps.contains { $0.state == .done } }
    /// The steps that are not right.
    public var problems: [SetupStep] { steps.filter { $0.state == .missing || $0.state == .failed } }
    /// Whether only tmux is missing (the caller may ask to install it).
    public var onlyTmuxMissing: Bool {
        problems.count == 1 && problems[0].name == "tmux" && problems[0].state == .missing
    }

    public init(pod: String) {
        self.pod = pod
        steps = []
        log = []
        keptAside = []
        tmuxSessions = []
        gpus = []
    }
}

/// A ccpod tmux session on the pod.
public struct TmuxSession: Sendable, Codable, Equatable {
    public var name: String
    /// Clients attached now.
    public var attached: Int
    /// Unix time it was created.
    public var created: Int

    public init(name: String, attached: Int, created: Int) {
        self.name = name
        self.attached = attached
        self.created = created
    }
}

/// The persistent layout on the pod, Claude Code, tmux and the retention guard:
/// one exec of `Pod/setup.sh`.
public struct PodSetup: Sendable {
    public enum Mode: String, Sendable {
        /// Make everything right (idempotent).
        case apply
        /// Report only.
        case check
        /// Report, plus Claude's version, tmux sessions, GPUs, uptime.
        case status
        /// After a restart: restore the links into the persistent dir and the retention
        /// guard (no install, no tmux), on a pod that was set up before only.
        case layout
    }

    public let connection: any PodConnection
    public let runtime: PodRuntime

    public init(connection: any PodConnection, runtime: PodRuntime) {
        self.connection = connection
        self.runtime = runtime
    }

    /// The script's text.
    public static var source: String { String(decoding: PackageResources.setup_sh, as: UTF8.self) }

    /// The `sh` command line that runs the script (base64 in the command, no stdin).
    public func remoteCommand(mode: Mode, installTmux: Bool = false, forgetAuth: Bool = false) -> String {
        let p = connection.rootPrefix
        let paths = connection.paths
        let args = [mode.rawValue, p + paths.claudeDir, p + paths.persistentDir, p + runtime.binDir,
                    runtime.installCommand, installTmux ? "yes" : "no", forgetAuth ? "yes" : "no",
                    runtime.tmux, runtime.tmuxSocket ?? ""]
        return InlineScript.command(PackageResources.setup_sh, name: "ccpod-setup", arguments: args)
    }

    /// Runs the script; throws when the pod cannot be reached or the answer is not understood.
    public func run(mode: Mode, installTmux: Bool = false, forgetAuth: Bool = false) throws -> SetupReport {
        let output = try connection.runCommand(remoteCommand(mode: mode, installTmux: installTmux, forgetAuth: forgetAuth))
        return try Self.parse(output.stdoutText, pod: connection.displayName, stderr: output.stderrText, status: output.status)
    }

    /// Parses the script's answer.
    public static func parse(_ text: String, pod: String, stderr: String = "", status: Int32 = 0) throws -> SetupReport {
        var report = SetupReport(pod: pod)
        var ended = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let f = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            switch f.first {
            case "step" where f.count >= 3:
                guard let state = SetupStep.State(rawValue: f[2]) else { continue }
                report.steps.append(SetupStep(name: f[1], state: state, detail: f.count > 3 ? f[3] : ""))
            case "log":
                report.log.append(String(line.dropFirst(4)))
            case "info" where f.count >= 3:
                let value = f.dropFirst(2).joined(separator: " ")
                switch f[1] {
                case "kept-aside": report.keptAside.append(value)
                case "auth": report.persistedAuth = f.count > 3 ? f[3] : value
                case "claude-version": report.claudeVersion = value.isEmpty ? nil : value
                case "tmux":
                    let t = value.split(separator: " ")
                    if t.count == 3 { report.tmuxSessions.append(TmuxSession(name: String(t[0]), attached: Int(t[1]) ?? 0, created: Int(t[2]) ?? 0)) }
                case "gpu": report.gpus.append(value)
                case "uptime": report.uptimeSeconds = Double(value)
                case "autostop" where value == "needs-key": report.autostopNeedsKey = true
                case "autostop-note": report.autostopNote = "autostop-note " + value
                default: break
                }
            case "end": ended = true
            default: break
            }
        }
        guard ended else {
            let why = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw CCPodError.badData("the setup script on \(pod) did not finish (status \(status))\(why.isEmpty ? "" : ": \(why.suffix(400))")")
        }
        return report
    }
}
