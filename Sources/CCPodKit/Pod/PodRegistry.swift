import Foundation

/// Adding, trusting and removing pods. Nothing in the config or the pinned keys
/// changes unless the new settings were verified with a real SSH call.
public struct PodRegistry: Sendable {
    public let locations: CCPodLocations
    public var recorder: ExecRecorder?
    /// How long the check that ssh to a pod works (`true` there) may take.
    public var checkSeconds: TimeInterval = 60

    public init(locations: CCPodLocations, recorder: ExecRecorder? = nil) {
        self.locations = locations
        self.recorder = recorder
    }

    /// The outcome of `add` and `trust`.
    public struct Outcome: Sendable {
        public var pod: PodSettings
        public var learned: HostKeyTrust.Learned
        /// True when a pod of that name was replaced.
        public var replaced: Bool
        public var isDefault: Bool
        /// The direct endpoint before `trustAgain` moved the pod to where its proxy said it is now
        /// (nil when it did not move).
        public var movedFrom: SSHEndpoint?
    }

    /// Learns the pod's host key (through `trustedSource` when it can tell, else by
    /// `ssh-keyscan` and `trust`), verifies that an SSH call with that key and the
    /// pod's identity works, then pins the key (and whatever the source learned on the
    /// way, the proxy's own key) and saves the pod in the config.
    public func add(
        _ pod: PodSettings, makeDefault: Bool, trust: HostKeyTrust, trustedSource: (any HostKeySource)? = nil,
        keyscan: KeyscanHostKeySource = KeyscanHostKeySource()
    ) throws -> Outcome {
        try PodSettings.validateName(pod.name)
        guard pod.direct != nil else {
            throw CCPodError.usage("pod \(pod.name) needs a direct endpoint: --direct root@HOST:PORT")
        }
        try pod.checkIdentity()
        var config = try CCPodConfig.load(from: locations)
        let learned = try trust.learn(pod: pod, trusted: trustedSource, keyscan: keyscan)
        let previous = config.pods[pod.name]
        // A master connection made with the old settings or keys must not carry the new ones.
        try verifyAndPin(pod, keys: learned.keys, replacing: previous)
        try trustedSource?.verified()
        if pod.proxy == nil { PodKnownHosts(file: PodProxy.pinnedFile(pod: pod.name, locations: locations), alias: "").remove() }
        config.pods[pod.name] = pod
        if makeDefault || config.defaultPod == nil { config.defaultPod = pod.name }
        try config.save(to: locations)
        return Outcome(pod: pod, learned: learned, replaced: previous != nil, isDefault: config.defaultPod == pod.name)
    }

    /// Learns and pins a new host key for a configured pod (after a restart), once a
    /// call with it succeeded. When `trustedSource` says where the pod's sshd is now
    /// (its proxy) and `RUNPOD_PORT` does not say otherwise, the pod is moved there and
    /// the config saved; otherwise the config is not changed.
    public func trustAgain(
        name: String, environment: [String: String], trust: HostKeyTrust, trustedSource: (any HostKeySource)? = nil,
        keyscan: KeyscanHostKeySource = KeyscanHostKeySource()
    ) throws -> Outcome {
        var config = try CCPodConfig.load(from: locations)
        guard var pod = try PodResolver.settings(name: name, environment: environment, config: config) else {
            throw CCPodError.usage("local: pods have no host key")
        }
        try pod.checkIdentity()
        var movedFrom: SSHEndpoint?
        if (environment["RUNPOD_PORT"] ?? "").isEmpty, let now = trustedSource?.currentEndpoint(user: pod.direct?.user ?? "root"), now != pod.direct {
            movedFrom = pod.direct
            pod.direct = now
        }
        let learned = try trust.learn(pod: pod, trusted: trustedSource, keyscan: keyscan)
        var before = pod
        before.direct = movedFrom ?? pod.direct
        // The master made with the old key (or to the old address) is closed.
        try verifyAndPin(pod, keys: learned.keys, replacing: before)
        try trustedSource?.verified()
        if movedFrom != nil {
            config.pods[pod.name]?.direct = pod.direct
            try config.save(to: locations)
        }
        return Outcome(pod: pod, learned: learned, replaced: true, isDefault: config.defaultPod == pod.name, movedFrom: movedFrom)
    }

    /// Runs `true` on the pod with `keys` as the only trusted host keys (a candidate
    /// known_hosts file, no shared master connection); on success pins them and closes
    /// the master connection `replacing` had with the keys pinned before (default: `pod`
    /// as it is), unless it is the very same connection.
    public func verifyAndPin(_ pod: PodSettings, keys: [HostKey], replacing old: PodSettings? = nil) throws {
        let before = master(of: old ?? pod)
        let pinned = PodKnownHosts(pod: pod.name, locations: locations)
        let candidate = PodKnownHosts(
            file: pinned.file.deletingLastPathComponent().appendingPathComponent(".\(pod.name).candidate"),
            alias: pod.name)
        try candidate.pin(keys)
        defer { candidate.remove() }
        let ssh = try SSHConnection(settings: pod, locations: locations, knownHostsFile: candidate.file, recorder: recorder)
        try ssh.prepareDirectories()
        recorder?.record("true")
        // The pod is untrusted: `true` prints nothing and ends at once, so an answer that
        // goes on (a login script printing without end) is cut at 64 KiB, and one that
        // never ends (ssh's keepalives hold a stuck session open) at `checkSeconds`.
        let out = try ChildProcess.run(ssh.sshExecutable, ssh.sshOptions(multiplex: false) + ["-T", ssh.destination, "--", "true"],
                                       stdoutLimit: 64 << 10, timeout: checkSeconds)
        if out.timedOut {
            throw CCPodError.unavailable("pod \(pod.name) took the connection but `true` did not finish there within \(Int(checkSeconds)) s; nothing was saved; check the pod's shell startup files")
        }
        if out.stdout.count > 64 << 10 {
            throw CCPodError.unavailable("pod \(pod.name) answered `true` with output that does not stop (a shell startup file that prints?); nothing was saved")
        }
        if out.status != 0 {
            if let error = ssh.explainFailure(status: out.status, stderr: out.stderrText) { throw error }
            // What the pod said, its end, bounded (ccpod keeps up to 1 MiB of it).
            let said = String(out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines).suffix(400))
            throw CCPodError.unavailable("pod \(pod.name) answered, but running `true` there failed with status \(out.status): \(said)")
        }
        try pinned.pin(keys)
        if let before, before.controlPath != master(of: pod)?.controlPath { before.closeMaster() }
    }

    /// The connection `pod` gets with the keys pinned now, to reach its master socket
    /// (nil without a direct endpoint; the identity file is not checked).
    func master(of pod: PodSettings) -> SSHConnection? {
        guard let target = try? SSHTarget(pod: pod, locations: locations) else { return nil }
        return SSHConnection(target: target, paths: pod.paths, locations: locations)
    }

    /// Removes a pod from the config, its pinned keys and its master connection.
    /// Returns the new default pod (nil when the removed one was the default).
    @discardableResult
    public func remove(name: String) throws -> String? {
        var config = try CCPodConfig.load(from: locations)
        let pod = try config.pod(named: name)
        config.pods[name] = nil
        if config.defaultPod == name { config.defaultPod = nil }
        try config.save(to: locations)
        master(of: pod)?.closeMaster()
        PodKnownHosts(pod: name, locations: locations).remove()
        PodKnownHosts(file: PodProxy.pinnedFile(pod: name, locations: locations), alias: name).remove()
        return config.defaultPod
    }

    /// Makes `name` the default pod.
    public func setDefault(name: String) throws {
        var config = try CCPodConfig.load(from: locations)
        _ = try config.pod(named: name)
        config.defaultPod = name
        try config.save(to: locations)
    }
}
