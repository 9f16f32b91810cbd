import Foundation

/// Starts a stopped RunPod pod and waits, bounded, until it runs and its sshd answers:
/// the `start` action when the pod's `actions` allow it, then `GET /v2/pods/{id}`
/// every `pollInterval` until `RUNNING` with a direct SSH endpoint ("waiting for a
/// GPU"), then the endpoint until sshd shows a host key ("waiting for SSH"). Every
/// wait ends at `timeout` with what the pod was doing. Re-pinning and setup are the
/// caller's (through `PodAccess`), as for any restart.
public struct PodStarter: Sendable {
    public var api: RunPodAPI
    public var podId: String
    public var pollInterval: Duration
    public var timeout: Duration
    /// Whether sshd answers at the endpoint (default: `ssh-keyscan` reads a host key).
    public var sshAnswers: @Sendable (RunPodSSHEndpoint) -> Bool
    /// Told each new stage once ("waiting for a GPU (STARTING)", "waiting for SSH at …").
    public var progress: @Sendable (String) -> Void
    public var sleep: @Sendable (Duration) -> Void
    public var now: @Sendable () -> ContinuousClock.Instant

    public init(api: RunPodAPI, podId: String, pollInterval: Duration = .seconds(5), timeout: Duration = .seconds(600),
                sshAnswers: @escaping @Sendable (RunPodSSHEndpoint) -> Bool = PodStarter.keyscanAnswers,
                progress: @escaping @Sendable (String) -> Void = { _ in },
                sleep: @escaping @Sendable (Duration) -> Void = { Thread.sleep(forTimeInterval: Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) },
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.api = api
        self.podId = podId
        self.pollInterval = pollInterval
        self.timeout = timeout
        self.sshAnswers = sshAnswers
        self.progress = progress
        self.sleep = sleep
        self.now = now
    }

    /// sshd answers when `ssh-keyscan` reads any host key from it within 5 s.
    public static let keyscanAnswers: @Sendable (RunPodSSHEndpoint) -> Bool = { endpoint in
        let ssh = SSHEndpoint(user: endpoint.username, host: endpoint.host, port: endpoint.port)
        return ((try? KeyscanHostKeySource(timeoutSeconds: 5).scan(ssh, types: "ed25519,ecdsa,rsa").keys) ?? []).isEmpty == false
    }

    public struct Outcome: Sendable, Equatable {
        /// The pod as the API last reported it (running).
        public var pod: RunPodPod
        public var endpoint: RunPodSSHEndpoint
        /// False when it was running already (nothing was started).
        public var started: Bool
    }

    public func run() throws -> Outcome {
        let deadline = now() + timeout
        var pod = try api.pod(id: podId)
        var started = false
        switch pod.status {
        case "RUNNING":
            break
        case "TERMINATED":
            throw CCPodError.unavailable("RunPod pod \(podId) has been terminated; it cannot be started again (create a new pod and `ccpod pod add` it)")
        case "PROVISIONING", "STARTING":
            break
        default:
            guard pod.actions.isEmpty || pod.actions.contains("start") else {
                throw CCPodError.unavailable("RunPod pod \(podId) is \(pod.status) and cannot be started now (allowed: \(pod.actions.joined(separator: ", ")))")
            }
            if let updated = try api.perform(.start, podId: podId) { pod = updated }
            started = true
        }
        var said: String?
        func say(_ line: String) {
            if said != line { progress(line); said = line }
        }
        // The GPU: the pod runs and publishes its sshd.
        var endpoint: RunPodSSHEndpoint?
        while true {
            if pod.isRunning, let found = try? pod.directEndpoint() { endpoint = found; break }
            if pod.status == "ERROR" || pod.status == "TERMINATED" {
                throw CCPodError.unavailable("RunPod pod \(podId) went to \(pod.status) while starting; see its logs in the RunPod console")
            }
            say(pod.isRunning ? "waiting for RunPod to publish the pod's SSH port" : "waiting for a GPU (\(pod.status))")
            guard now() + pollInterval <= deadline else {
                throw CCPodError.unavailable(
                    "RunPod pod \(podId) is still \(pod.status) after \(Self.seconds(timeout)) s; it may be waiting for a free GPU on its "
                    + "machine. Try again later (`ccpod pod status`), or give it longer with --wait-timeout")
            }
            sleep(pollInterval)
            pod = try api.pod(id: podId)
        }
        guard let endpoint else { throw CCPodError.failure("no endpoint") }
        // sshd: the container may run before its sshd listens.
        say("waiting for SSH at \(endpoint.host):\(endpoint.port)")
        while !sshAnswers(endpoint) {
            guard now() + pollInterval <= deadline else {
                throw CCPodError.unavailable(
                    "RunPod pod \(podId) runs, but nothing answers SSH at \(endpoint.host):\(endpoint.port) after \(Self.seconds(timeout)) s; "
                    + "check that the template starts sshd (RunPod console → the pod's logs)")
            }
            sleep(pollInterval)
        }
        return Outcome(pod: pod, endpoint: endpoint, started: started)
    }

    static func seconds(_ d: Duration) -> Int { Int(d.components.seconds) }
}
