import Foundation

/// What `ccpod check` found about one way of reaching the pod. Others add fields
/// (PTY capability, agent handshake version) as optionals.
public struct EndpointCheck: Sendable, Codable, Equatable {
    /// "direct", "proxy" or "local".
    public var kind: String
    /// `root@203.0.113.7:41022`, `local:/tmp/pod`.
    public var address: String
    /// Something answered on the address.
    public var reachable: Bool
    /// The host key matched and our key was accepted.
    public var authenticated: Bool
    /// A command ran with binary-safe stdin and stdout.
    public var exec: Bool
    /// Milliseconds of the first call (connection setup included).
    public var connectMs: Int?
    /// Milliseconds of one more call over the warm connection (one operation's round trip).
    public var roundTripMs: Int?
    /// Why it failed, when it did.
    public var failure: SSHFailure?
    /// A sentence for people, when it failed.
    public var error: String?

    public init(kind: String, address: String, reachable: Bool = false, authenticated: Bool = false, exec: Bool = false) {
        self.kind = kind
        self.address = address
        self.reachable = reachable
        self.authenticated = authenticated
        self.exec = exec
    }
}

/// What the probe found on the pod.
public struct PodProbe: Sendable, Codable, Equatable {
    /// Tool name → whether `command -v` finds it (claude also in `~/.local/bin`).
    public var tools: [String: Bool]
    /// The workspace folder probed (pod path).
    public var workspace: String
    /// Free bytes in the workspace's file system (`df -Pk`), nil when it does not exist.
    public var workspaceFreeBytes: Int64?
    /// The RunPod environment file (pod path) and whether it exists.
    public var environmentFile: String
    public var environmentFileExists: Bool

    /// Tools `ccpod check` looks for.
    public static let toolNames = ["sh", "sha256sum", "tar", "zstd", "gzip", "tmux", "git", "claude", "find"]

    /// The probe, one `sh` command line; pod paths are prefixed with `rootPrefix`.
    public static func script(paths: PodPaths, rootPrefix: String) -> String {
        let ws = ShellQuote.quote(rootPrefix + paths.workspace)
        let env = ShellQuote.quote(rootPrefix + paths.environmentFile)
        return """
        for t in \(toolNames.joined(separator: " ")); do \
        if command -v "$t" >/dev/null 2>&1 || { [ "$t" = claude ] && [ -x "$HOME/.local/bin/claude" ]; }; \
        then echo "tool $t 1"; else echo "tool $t 0"; fi; done; \
        if [ -d \(ws) ]; then echo "df $(df -Pk \(ws) 2>/dev/null | tail -n 1)"; fi; \
        if [ -e \(env) ]; then echo "env 1"; else echo "env 0"; fi
        """
    }

    /// Parses the probe's output.
    public static func parse(_ text: String, paths: PodPaths) throws -> PodProbe {
        var probe = PodProbe(tools: [:], workspace: paths.workspace, workspaceFreeBytes: nil,
                             environmentFile: paths.environmentFile, environmentFileExists: false)
        var sawEnv = false
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let head = f.first else { continue }
            switch head {
            case "tool" where f.count == 3: probe.tools[String(f[1])] = f[2] == "1"
            // `df -Pk`: Filesystem 1024-blocks Used Available Capacity Mounted-on
            case "df" where f.count >= 5: probe.workspaceFreeBytes = Int64(f[4]).flatMap { $0 >= 0 && $0 <= Int64.max / 1024 ? $0 * 1024 : nil }
            case "env" where f.count == 2: probe.environmentFileExists = f[1] == "1"; sawEnv = true
            default: break
            }
        }
        guard sawEnv, probe.tools.count == toolNames.count else {
            throw CCPodError.badData("the pod's answer to the probe was not understood: \(text.prefix(200))")
        }
        return probe
    }
}

/// The result of `ccpod check`.
public struct PodCheckReport: Sendable, Codable, Equatable {
    public var pod: String
    public var endpoints: [EndpointCheck]
    public var probe: PodProbe?
    /// What `ccpod setup` looks after, as it is now (nil when the probe did not run).
    public var setup: [SetupStep]?
    /// Whether the pod could be used (some endpoint ran the probe).
    public var usable: Bool { probe != nil }

    enum CodingKeys: String, CodingKey { case pod, endpoints, probe, setup, usable }

    public init(pod: String, endpoints: [EndpointCheck] = [], probe: PodProbe? = nil) {
        self.pod = pod
        self.endpoints = endpoints
        self.probe = probe
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pod = try c.decode(String.self, forKey: .pod)
        endpoints = try c.decode([EndpointCheck].self, forKey: .endpoints)
        probe = try c.decodeIfPresent(PodProbe.self, forKey: .probe)
        setup = try c.decodeIfPresent([SetupStep].self, forKey: .setup)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(pod, forKey: .pod)
        try c.encode(endpoints, forKey: .endpoints)
        try c.encodeIfPresent(probe, forKey: .probe)
        try c.encodeIfPresent(setup, forKey: .setup)
        try c.encode(usable, forKey: .usable)
    }
}

/// Checks a pod: can it be reached, does our key work, how long does a call take,
/// what does it have. Two execs: the probe, then a timed `true` over the warm connection.
public enum PodChecker {
    public static func check(_ pod: ResolvedPod) -> PodCheckReport {
        let connection = pod.connection
        var report = PodCheckReport(pod: pod.name)
        let kind = connection is SSHConnection ? "direct" : "local"
        let address = (connection as? SSHConnection)?.endpoint.description ?? connection.displayName
        var endpoint = EndpointCheck(kind: kind, address: address)
        // The setup check rides along in the probe's exec.
        let setupCheck = PodSetup(connection: connection, runtime: pod.settings?.runtime ?? PodRuntime()).remoteCommand(mode: .check)
        let script = PodProbe.script(paths: connection.paths, rootPrefix: connection.rootPrefix) + "; " + setupCheck
        let start = DispatchTime.now()
        do {
            // Through the process layer: bounded output, and a pod that goes silent is stopped.
            let out = try connection.runCommand(script, activity: "checking the pod")
            endpoint.connectMs = milliseconds(since: start)
            endpoint.reachable = true
            endpoint.authenticated = true
            if out.status != 0 {
                endpoint.error = "the probe failed with status \(out.status): \(TerminalText.escape(out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)))"
            } else {
                endpoint.exec = true
                do {
                    report.probe = try PodProbe.parse(out.stdoutText, paths: connection.paths)
                    report.setup = try? PodSetup.parse(out.stdoutText, pod: pod.name).steps
                } catch {
                    endpoint.error = "\(error)"
                }
                let again = DispatchTime.now()
                if let r = try? connection.runCommand("true", activity: "timing a round trip"), r.status == 0 {
                    endpoint.roundTripMs = milliseconds(since: again)
                }
            }
        } catch let error as CCPodError {
            // ssh's own failure (what a restart causes) says how far it got.
            let failure = error.sshFailure
            endpoint.failure = failure
            endpoint.reachable = failure.map { $0 != .unreachable && $0 != .connectionRefused } ?? true
            endpoint.authenticated = failure == nil || failure == .connectionLost
            endpoint.error = error.message
        } catch {
            endpoint.error = "\(error)"
        }
        report.endpoints.append(endpoint)
        return report
    }

    static func milliseconds(since start: DispatchTime) -> Int {
        Int((DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
    }
}
