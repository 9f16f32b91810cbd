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
    public var recorder: ExecRecorder?

    public init(locations: CCPodLocations, environment: [String: String],
                ask: (@Sendable (String) -> String?)? = nil, recorder: ExecRecorder? = nil) {
        self.locations = locations
        self.environment = environment
        self.ask = ask
        self.recorder = recorder
    }

    /// The failures a restart explains.
    public static func isRecoverable(_ error: CCPodError) -> Bool {
        switch error.sshFailure {
        case .connectionRefused?, .unreachable?, .hostKeyChanged?: return true
        default: return false
        }
    }

    /// The known_hosts file for a pod's proxy: ccpod's own when it has one, else the user's.
    public func proxyKnownHosts(pod: String) -> String {
        let own = SSHConnection.knownHostsFile(pod: pod, locations: locations).path + ".proxy"
        if FileManager.default.fileExists(atPath: own) { return own }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.ssh/known_hosts"
    }

    /// The control channel through the pod's stable proxy, when it has one.
    public func proxyChannel(for settings: PodSettings) -> ProxyControlChannel? {
        guard let endpoint = settings.proxy else { return nil }
        var ssh = ["ssh"]
        ssh += settings.sshOptions
        if let identity = settings.identity { ssh += ["-i", identity, "-o", "IdentitiesOnly=yes"] }
        ssh += ["-p", String(endpoint.port)]
        return ProxyControlChannel(ssh: ssh, target: endpoint.userAtHost, knownHostsFile: proxyKnownHosts(pod: settings.name))
    }

    /// Rediscovers `pod` after `error`, updates config and pinned key, and returns the
    /// repaired pod with a sentence describing what changed. Throws when it cannot.
    public func recover(_ pod: ResolvedPod, after error: CCPodError) throws -> (pod: ResolvedPod, summary: String) {
        guard var settings = pod.settings, let direct = settings.direct, let failure = error.sshFailure else { throw error }
        let directFailure: DirectFailure
        switch failure {
        case .connectionRefused: directFailure = .refused
        case .hostKeyChanged: directFailure = .hostKeyChanged
        default: directFailure = .timedOut
        }
        let proxy = proxyChannel(for: settings)
        var api: RunPodAPI?
        if settings.runpodId != nil, let key = try settings.apiKey(environment: environment) {
            api = RunPodAPI(apiKey: key)
        }
        let pinned = PodKnownHosts(pod: settings.name, locations: locations).keys().first?.line
        let discovery = PodRediscovery(podName: settings.name, host: direct.host, port: direct.port, pinnedHostKey: pinned,
                                       proxy: proxy, podPaths: settings.paths, runPodId: settings.runpodId, api: api, ask: ask)
        let result = try discovery.rediscover(after: directFailure)
        settings.direct = SSHEndpoint(user: direct.user, host: result.newHost, port: result.newPort)
        // Verify with a real login before anything is saved.
        let registry = PodRegistry(locations: locations, recorder: recorder)
        let keys: [HostKey]
        if let line = result.hostKey, let key = HostKey(publicKeyLine: line) {
            keys = [key]
        } else {
            keys = PodKnownHosts(pod: settings.name, locations: locations).keys()
        }
        try registry.verifyAndPin(settings, keys: keys)
        var config = try CCPodConfig.load(from: locations)
        if var saved = config.pods[settings.name] {
            // RUNPOD_PORT overrides are not saved; the rediscovered endpoint is.
            saved.direct = settings.direct
            config.pods[settings.name] = saved
            try config.save(to: locations)
        }
        let connection = try SSHConnection(settings: settings, locations: locations, recorder: recorder)
        connection.closeMaster()
        return (ResolvedPod(name: pod.name, settings: settings, connection: connection), result.summary(podName: settings.name))
    }
}
