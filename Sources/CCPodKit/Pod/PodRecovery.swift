import Foundation

/// Finds a restarted pod again and repairs ccpod's record of it: when the direct
/// endpoint was refused, timed out or showed a new host key, learn the new port
/// and key through the proxy (or the RunPod API, or the user), verify them with a
/// real login, pin the key, save the config, and say what changed.
public struct PodRecovery: Sendable {
    public let locations: CCPodLocations
    public let environment: [String: String]
    /// Asks the user for a line (the new port); nil when not on a terminal.
    public var ask: (@Sendable (String) -> String?)?
    /// Asks the user to trust the proxy's host key on first contact; nil when not on a terminal.
    public var confirm: (@Sendable (String) -> Bool)?
    public var recorder: ExecRecorder?

    public init(locations: CCPodLocations, environment: [String: String],
                ask: (@Sendable (String) -> String?)? = nil, confirm: (@Sendable (String) -> Bool)? = nil,
                recorder: ExecRecorder? = nil) {
        self.locations = locations
        self.environment = environment
        self.ask = ask
        self.confirm = confirm
        self.recorder = recorder
    }

    /// The failures a restart explains. A connection closed before the command ran
    /// reaches here only when a fresh connection was closed too (`PodSession.firstTry`):
    /// something else answers at the old address, or the pod is starting.
    public static func isRecoverable(_ error: CCPodError) -> Bool {
        switch error.sshFailure {
        case .connectionRefused?, .unreachable?, .hostKeyChanged?, .connectionLost?: return true
        default: return false
        }
    }

    /// The restart's symptom an ssh failure stands for (refused, did not answer, new key).
    static func directFailure(_ failure: SSHFailure) -> DirectFailure {
        switch failure {
        case .connectionRefused: return .refused
        case .hostKeyChanged: return .hostKeyChanged
        case .connectionLost: return .closed
        default: return .timedOut
        }
    }

    /// What happened, in a few words, for the line before "looking for pod … again":
    /// `gpu1 refused the connection at 203.0.113.7:41022` (the error's own advice, to run
    /// `ccpod check`, is what ccpod does next, so it is left out).
    public static func symptom(of error: CCPodError, on pod: ResolvedPod) -> String {
        guard let failure = error.sshFailure, let direct = pod.settings?.direct else { return error.message }
        return "\(pod.name) \(directFailure(failure).phrase) at \(direct.host):\(direct.port)"
    }

    /// How a proxy host key nobody pinned yet gets trusted here: asked on a terminal
    /// (`confirm`), else refused with the command that trusts it.
    public func proxyTrust(pod: String) -> HostKeyTrust {
        HostKeyTrust(acceptNew: false, interactive: confirm != nil,
                     scriptHint: "run `ccpod pod trust \(pod) --accept-new` to trust it",
                     ask: confirm ?? { _ in false })
    }

    /// The pod's stable proxy, opened (its key learned per `proxyTrust` on first
    /// contact, pinned only by `Opened.commit`); nil when the pod has none.
    public func openProxy(for settings: PodSettings) throws -> PodProxy.Opened? {
        guard settings.proxy != nil else { return nil }
        return try PodProxy(settings: settings, locations: locations, environment: environment)
            .open(trust: proxyTrust(pod: settings.name))
    }

    /// Rediscovers `pod` after `error`, updates config and pinned key, and returns the
    /// repaired pod with a sentence describing what changed. Throws when it cannot.
    public func recover(_ pod: ResolvedPod, after error: CCPodError) throws -> (pod: ResolvedPod, summary: String) {
        guard var settings = pod.settings, let direct = settings.direct, let failure = error.sshFailure else { throw error }
        let directFailure = Self.directFailure(failure)
        let proxy = try openProxy(for: settings)
        defer { proxy?.discard() }
        var api: RunPodAPI?
        if settings.runpodId != nil, let key = try settings.apiKey(environment: environment) {
            api = RunPodAPI(apiKey: key, baseURL: try RunPodAPI.baseURL(environment: environment))
        }
        let pinned = PodKnownHosts(pod: settings.name, locations: locations).keys().first?.line
        let discovery = PodRediscovery(podName: settings.name, host: direct.host, port: direct.port, pinnedHostKey: pinned,
                                       proxy: proxy?.channel, podPaths: settings.paths, runPodId: settings.runpodId, api: api, ask: ask)
        let result: RediscoveryResult
        do {
            result = try discovery.rediscover(after: directFailure)
        } catch {
            throw proxy?.explain(error) ?? error
        }
        settings.direct = SSHEndpoint(user: direct.user, host: result.newHost, port: result.newPort)
        // Verify with a real login before anything is saved.
        let registry = PodRegistry(locations: locations, recorder: recorder)
        let keys: [HostKey]
        if let line = result.hostKey, let key = HostKey(publicKeyLine: line) {
            keys = [key]
        } else {
            keys = PodKnownHosts(pod: settings.name, locations: locations).keys()
        }
        // The master made with the old address or key is closed once the new ones are pinned.
        try registry.verifyAndPin(settings, keys: keys, replacing: pod.settings)
        // A proxy key learned on this first contact is pinned only if the proxy answered.
        if result.source == .proxy { try proxy?.commit() }
        var config = try CCPodConfig.load(from: locations)
        if var saved = config.pods[settings.name] {
            // RUNPOD_PORT overrides are not saved; the rediscovered endpoint is.
            saved.direct = settings.direct
            // The pod's own RUNPOD_POD_ID, read through its proxy, names it for the API.
            if saved.runpodId == nil, result.source == .proxy, let id = result.podId, RunPodAPI.isValidPodId(id) {
                saved.runpodId = id
            }
            config.pods[settings.name] = saved
            try config.save(to: locations)
        }
        let connection = try SSHConnection(settings: settings, locations: locations, recorder: recorder)
        return (ResolvedPod(name: pod.name, settings: settings, connection: connection), result.summary(podName: settings.name))
    }
}
