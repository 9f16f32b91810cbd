import Foundation

extension SSHTarget {
    /// The SSH target of a configured pod: its direct endpoint (or `endpoint`, another
    /// endpoint of the pod), identity and ssh options, checked against its pinned keys in
    /// `<state>/known_hosts/<pod>` (or `knownHostsFile`, a candidate being verified).
    /// Throws a usage error when there is no endpoint.
    public init(pod: PodSettings, locations: CCPodLocations, endpoint: SSHEndpoint? = nil,
                hostKeyAlias: String? = nil, knownHostsFile: URL? = nil) throws {
        guard let target = endpoint ?? pod.direct else {
            throw CCPodError.usage("pod \(pod.name) has no direct SSH endpoint; set one with `ccpod pod add \(pod.name) --direct root@HOST:PORT`")
        }
        self.init(name: pod.name, endpoint: target, identity: pod.identity, options: pod.sshOptions,
                  knownHostsFile: knownHostsFile ?? SSHConnection.knownHostsFile(pod: pod.name, locations: locations),
                  hostKeyAlias: hostKeyAlias ?? pod.name)
    }
}

extension SSHConnection {
    /// A connection to `settings.direct` (see `SSHTarget(pod:locations:…)` for the
    /// parameters). Throws a usage error when the pod has no direct endpoint or its
    /// identity file is missing.
    public init(
        settings: PodSettings, locations: CCPodLocations,
        endpoint: SSHEndpoint? = nil, hostKeyAlias: String? = nil, knownHostsFile: URL? = nil,
        connectTimeout: Int = 10, controlPersist: Int = 300,
        sshExecutable: String = "ssh", recorder: ExecRecorder? = nil
    ) throws {
        let target = try SSHTarget(pod: settings, locations: locations, endpoint: endpoint,
                                   hostKeyAlias: hostKeyAlias, knownHostsFile: knownHostsFile)
        try settings.checkIdentity()
        self.init(target: target, paths: settings.paths, locations: locations, connectTimeout: connectTimeout,
                  controlPersist: controlPersist, sshExecutable: sshExecutable, recorder: recorder)
        inactivityTimeout = PodProcess.inactivityTimeout(configured: settings.inactivityTimeout)
    }
}

extension HostKeyTrust {
    /// Learns the host key of `pod`'s direct endpoint (see `learn(name:direct:trusted:keyscan:)`).
    public func learn(pod: PodSettings, trusted: (any HostKeySource)?,
                      keyscan: KeyscanHostKeySource = KeyscanHostKeySource()) throws -> Learned {
        try learn(name: pod.name, direct: pod.direct, trusted: trusted, keyscan: keyscan)
    }
}
