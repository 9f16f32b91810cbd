import Foundation

/// What `PodAccess` did on the way to a ready pod, for the command to tell the user.
public enum PodAccessEvent: Sendable, Equatable {
    /// A host key seen for the first time was pinned: the pod's own (`proxy` false) or
    /// its proxy's. `how`: "learned through the proxy", "confirmed", …
    case pinned(pod: String, proxy: Bool, fingerprints: [String], how: String)
    /// The pod failed as a restart makes it fail (`reason`: what it did, as in "gpu1
    /// refused the connection at 203.0.113.7:41022"); ccpod looks for it again.
    case lookingAgain(pod: String, reason: String)
    /// Found again; `summary` says what changed (`RediscoveryResult.summary`).
    case recovered(pod: String, summary: String)
    /// After the restart, the pod's Claude layout (links into the persistent dir, the
    /// retention guard) was repaired: the steps changed or still failing.
    case repaired(pod: String, steps: [SetupStep])
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
        report(.lookingAgain(pod: pod.name, reason: PodRecovery.symptom(of: error, on: pod)))
        let (repaired, summary) = try recovery.recover(pod, after: error)
        report(.recovered(pod: repaired.name, summary: summary))
        return repaired
    }

    /// Restores what a restart wiped of ccpod's layout on `pod` (setup's `layout` mode:
    /// the links into the persistent dir and the guard; nothing on a pod never set up),
    /// so the step that runs next writes into the persistent dir. Reports and returns the
    /// steps it changed or could not fix. One exec.
    public func repairLayout(_ pod: ResolvedPod) throws -> [SetupStep] {
        let setup = PodSetup(connection: pod.connection, runtime: pod.settings?.runtime ?? PodRuntime())
        let steps = try setup.run(mode: .layout).steps.filter { $0.state != .ok }
        if !steps.isEmpty { report(.repaired(pod: pod.name, steps: steps)) }
        return steps
    }

    /// Runs `body` on `pod` as `PodSession.run` does, and sets `pod` to the one it ended
    /// with (found again after a restart).
    public func withRecovery<T>(_ pod: inout ResolvedPod, whenLost: () -> Void = {},
                                _ body: (ResolvedPod) throws -> T) throws -> T {
        let session = PodSession(access: self, pod: pod)
        defer { pod = session.pod }
        return try session.run(whenLost: whenLost, body)
    }
}

/// A command's pod for the whole command: every step that reaches the pod runs through
/// `run`, which recognises a restart (refused, timed out, host key changed), finds the
/// pod again through `PodAccess` (proxy, API, a question on a terminal), pins and saves
/// what changed, says so, and runs the step once more. That happens at most once per
/// command: later steps use the repaired connection (`pod`), and a second failure of
/// that kind is the command's error. A restart wipes what lives outside the persistent
/// dir, so once the pod was found again its Claude layout is repaired before the step
/// runs again (see `repairLayout`).
public final class PodSession {
    public let access: PodAccess
    /// The pod as it is now: the one the command resolved, or the one found again.
    public private(set) var pod: ResolvedPod
    /// Why ccpod looked for the pod again (the failure's sentence), once it found it again;
    /// nil while no restart was met.
    public private(set) var recovered: String?
    /// The layout steps repaired after the restart (empty when nothing was missing).
    public private(set) var repaired: [SetupStep] = []

    public init(access: PodAccess, pod: ResolvedPod) {
        self.access = access
        self.pod = pod
    }

    public var name: String { pod.name }
    public var connection: any PodConnection { pod.connection }
    public var settings: PodSettings? { pod.settings }

    /// Runs `body` on the pod; when it fails as a restart makes it fail (and the pod was
    /// not found again yet in this command), calls `whenLost` (to clear a progress line),
    /// recovers, and runs `body` once more on the repaired pod.
    public func run<T>(whenLost: () -> Void = {}, _ body: (ResolvedPod) throws -> T) throws -> T {
        do {
            return try firstTry(body)
        } catch let error as CCPodError where canRecover(error) {
            whenLost()
            try recover(after: error)
            return try body(pod)
        }
    }

    /// Whether `error` is what a restart causes and this command has not recovered yet.
    public func canRecover(_ error: CCPodError) -> Bool {
        recovered == nil && access.isRecoverable(error, for: pod)
    }

    /// Finds the pod again after `error` (reported through the access), repairs its
    /// layout, and makes the repaired pod this session's. Throws `error` when it is not a
    /// restart's or the pod was found again already; the rediscovery's error when it fails.
    public func recover(after error: CCPodError) throws {
        guard canRecover(error) else { throw error }
        pod = try access.recover(pod, after: error)
        recovered = error.message
        repaired = try access.repairLayout(pod)
    }

    /// `body`, once more on a fresh connection when ssh's master lost its connection
    /// before the command ran (a pod that restarted leaves a master behind that does not
    /// know it yet): the stale master is closed, and the second try connects anew, or
    /// fails as a restart does (refused, timed out, new host key) and is recovered.
    private func firstTry<T>(_ body: (ResolvedPod) throws -> T) throws -> T {
        do {
            return try body(pod)
        } catch let error as CCPodError where error.sshFailure == .connectionLost {
            guard let ssh = pod.connection as? SSHConnection else { throw error }
            ssh.closeMaster()
            return try body(pod)
        }
    }
}
