import Foundation

/// What `PodAccess` did on the way to a ready pod, for the command to tell the user.
public enum PodAccessEvent: Sendable, Equatable {
    /// A host key seen for the first time was pinned: the pod's own (`proxy` false) or
    /// its proxy's. `how`: "learned through the proxy", "confirmed", …
    case pinned(pod: String, proxy: Bool, fingerprints: [String], how: String)
    /// The pod failed as a restart makes it fail (`reason`: the error's sentence);
    /// ccpod looks for it again.
    case lookingAgain(pod: String, reason: String)
    /// Found again; `summary` says what changed (`RediscoveryResult.summary`).
    case recovered(pod: String, summary: String)
}

/// The one way a command reaches its pod. `open` chooses the pod once (`--pod` >
/// `CCPOD_POD` > the project's pod > the default), reads its settings once (with
/// `RUNPOD_PORT`), learns its host key on first contact and returns a ready connection;
/// `withRecovery` runs the command's exchange and, when the pod restarted (refused,
/// timed out, new host key), finds it again, pins and saves what changed, and runs it
/// once more. What it did is passed to `report`; nothing here prints.
public struct PodAccess: Sendable {
    public let locations: CCPodLocations
    public let environment: [String: String]
    /// Asks a yes/no question on a terminal (a host key seen for the first time); nil
    /// when nobody can answer.
    public var confirm: (@Sendable (String) -> Bool)?
    /// Asks for a line on a terminal (a restarted pod's new port); nil when nobody can answer.
    public var ask: (@Sendable (String) -> String?)?
    public var recorder: ExecRecorder?
    /// Told what was done, as it happens.
    public var report: @Sendable (PodAccessEvent) -> Void

    public init(locations: CCPodLocations, environment: [String: String],
                confirm: (@Sendable (String) -> Bool)? = nil, ask: (@Sendable (String) -> String?)? = nil,
                recorder: ExecRecorder? = nil, report: @escaping @Sendable (PodAccessEvent) -> Void = { _ in }) {
        self.locations = locations
        self.environment = environment
        self.confirm = confirm
        self.ask = ask
        self.recorder = recorder
        self.report = report
    }

    /// The pod for this command, ready to use. On first contact with a pod whose host
    /// key is not pinned yet (one written into config.toml by hand) the key is learned
    /// as `ccpod pod trust` does: through the pod's proxy when it has one, else by
    /// fingerprint and `confirm`; without a terminal that is a usage error naming the
    /// command that trusts it. A pod that does not answer at all is returned as it is,
    /// for the command to report what ssh says.
    public func open(name: String?, projectPod: String? = nil) throws -> ResolvedPod {
        let resolved = try PodResolver.resolvePod(name: name, projectPod: projectPod, environment: environment,
                                                  locations: locations, recorder: recorder)
        guard let settings = resolved.settings, PodKnownHosts(pod: settings.name, locations: locations).keys().isEmpty,
              try trustOnFirstContact(settings) else {
            return resolved
        }
        // Made again: the master's socket is named after the keys pinned just now.
        let connection = try SSHConnection(settings: settings, locations: locations, recorder: recorder)
        return ResolvedPod(name: resolved.name, settings: settings, connection: connection)
    }

    /// Learns, verifies and pins the host key of a pod that has none pinned; false when
    /// nothing answered (nothing pinned).
    func trustOnFirstContact(_ settings: PodSettings) throws -> Bool {
        let trust = HostKeyTrust(acceptNew: false, interactive: confirm != nil,
                                 scriptHint: "run `ccpod pod trust \(settings.name) --accept-new` to trust it",
                                 ask: confirm ?? { _ in false })
        var source: ProxyHostKeySource?
        defer { source?.discard() }
        let learned: HostKeyTrust.Learned
        do {
            if settings.proxy != nil {
                source = try ProxyHostKeySource.probe(
                    PodProxy(settings: settings, locations: locations, environment: environment), trust: trust)
            }
            learned = try trust.learn(pod: settings, trusted: source)
        } catch let error as CCPodError where error.status == .unavailable && error.sshFailure != .hostKeyChanged {
            return false
        }
        try PodRegistry(locations: locations, recorder: recorder).verifyAndPin(settings, keys: learned.keys)
        try source?.verified()
        if let proxyKeys = source?.proxy.learned {
            report(.pinned(pod: settings.name, proxy: true, fingerprints: proxyKeys.keys.map(\.fingerprint), how: proxyKeys.how))
        }
        report(.pinned(pod: settings.name, proxy: false, fingerprints: learned.keys.map(\.fingerprint), how: learned.how))
        return true
    }

    /// Rediscovery with this access's questions (also opens the pod's proxy for `check`).
    public var recovery: PodRecovery {
        PodRecovery(locations: locations, environment: environment, ask: ask, confirm: confirm, recorder: recorder)
    }

    /// Whether `error` is what a restart of `pod` causes and ccpod can look for it
    /// (a configured pod, not a `local:` folder).
    public func isRecoverable(_ error: CCPodError, for pod: ResolvedPod) -> Bool {
        pod.settings != nil && PodRecovery.isRecoverable(error)
    }

    /// Finds `pod` again after `error` (see `PodRecovery.recover`), reporting before and
    /// after; throws when it cannot.
    public func recover(_ pod: ResolvedPod, after error: CCPodError) throws -> ResolvedPod {
        report(.lookingAgain(pod: pod.name, reason: error.message))
        let (repaired, summary) = try recovery.recover(pod, after: error)
        report(.recovered(pod: repaired.name, summary: summary))
        return repaired
    }

    /// Runs `body` on `pod`; when it fails as a restart makes it fail, calls `whenLost`
    /// (to clear a progress line), finds the pod again, sets `pod` to the repaired one
    /// and runs `body` once more.
    public func withRecovery<T>(_ pod: inout ResolvedPod, whenLost: () -> Void = {},
                                _ body: (ResolvedPod) throws -> T) throws -> T {
        do {
            return try firstTry(pod, body)
        } catch let error as CCPodError where isRecoverable(error, for: pod) {
            whenLost()
            pod = try recover(pod, after: error)
            return try body(pod)
        }
    }

    /// `body`, once more on a fresh connection when ssh's master lost its connection
    /// before the command ran (a pod that restarted leaves a master behind that does not
    /// know it yet): the stale master is closed, and the second try connects anew, or
    /// fails as a restart does (refused, timed out, new host key) and is recovered.
    private func firstTry<T>(_ pod: ResolvedPod, _ body: (ResolvedPod) throws -> T) throws -> T {
        do {
            return try body(pod)
        } catch let error as CCPodError where error.sshFailure == .connectionLost {
            guard let ssh = pod.connection as? SSHConnection else { throw error }
            ssh.closeMaster()
            return try body(pod)
        }
    }
}
