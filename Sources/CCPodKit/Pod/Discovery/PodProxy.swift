import Foundation

/// A pod's stable proxy (`<podId>-<hex>@ssh.runpod.io`), reached as a control channel
/// with its host key checked strictly.
///
/// The proxy's key is looked up in ccpod's own `<state>/known_hosts/<pod>.proxy`, then
/// in the user's `~/.ssh/known_hosts` (read, never written). When neither knows it, it
/// is learned as ssh does on first contact: its fingerprint is shown and the person
/// asked (or `--accept-new`), and it is pinned in ccpod's file only once the proxy
/// answered with it (`Opened.commit`). A key that differs from a known one is refused,
/// never re-pinned.
public struct PodProxy: Sendable {
    public let settings: PodSettings
    public let endpoint: SSHEndpoint
    public let locations: CCPodLocations
    public let environment: [String: String]
    public var keyscan: KeyscanHostKeySource
    /// How long one command through the proxy may take.
    public var timeout: Duration

    /// Throws a usage error when `settings` has no proxy.
    public init(settings: PodSettings, locations: CCPodLocations, environment: [String: String],
                keyscan: KeyscanHostKeySource = KeyscanHostKeySource(), timeout: Duration = .seconds(20)) throws {
        guard let endpoint = settings.proxy else {
            throw CCPodError.usage("pod \(settings.name) has no proxy; add one with `ccpod pod add \(settings.name) --proxy USER@HOST`")
        }
        self.settings = settings
        self.endpoint = endpoint
        self.locations = locations
        self.environment = environment
        self.keyscan = keyscan
        self.timeout = timeout
    }

    /// `<state>/known_hosts/<pod>.proxy`.
    public static func pinnedFile(pod: String, locations: CCPodLocations) -> URL {
        let direct = SSHConnection.knownHostsFile(pod: pod, locations: locations)
        return direct.deletingLastPathComponent().appendingPathComponent(direct.lastPathComponent + ".proxy")
    }

    /// The proxy's name as ssh writes it in known_hosts: `host`, or `[host]:port` off port 22.
    public var knownHostsName: String { endpoint.port == 22 ? endpoint.host : "[\(endpoint.host)]:\(endpoint.port)" }

    /// `user@host`, with the port when it is not 22.
    public var address: String { endpoint.port == 22 ? endpoint.userAtHost : endpoint.description }

    /// ccpod's pinned keys for this proxy (under `knownHostsName`).
    public var pinned: PodKnownHosts {
        PodKnownHosts(file: PodProxy.pinnedFile(pod: settings.name, locations: locations), alias: knownHostsName)
    }

    /// The user's own known_hosts.
    public var userKnownHostsFile: String {
        (environment["HOME"] ?? NSHomeDirectory()) + "/.ssh/known_hosts"
    }

    /// The first known_hosts file (ccpod's, then the user's) with an entry for the proxy,
    /// and the keys it holds for it; nil when neither knows the proxy. `ssh-keygen -F`
    /// does the lookup, so hashed and wildcard entries count too.
    public func knownEntry() -> (file: String, keys: [HostKey])? {
        for file in [pinned.file.path, userKnownHostsFile] where FileManager.default.fileExists(atPath: file) {
            guard let out = try? ChildProcess.run("ssh-keygen", ["-F", knownHostsName, "-f", file]), out.status == 0 else { continue }
            let keys = out.stdoutText.split(whereSeparator: \.isNewline).compactMap { raw -> HostKey? in
                let line = raw.trimmingCharacters(in: .whitespaces)
                guard !line.hasPrefix("#"), !line.hasPrefix("@"), let space = line.firstIndex(of: " ") else { return nil }
                return HostKey(publicKeyLine: String(line[line.index(after: space)...]))
            }
            return (file, keys)
        }
        return nil
    }

    /// The control channel, checking the proxy's key strictly against `knownHostsFile`.
    public func channel(knownHostsFile: String) -> ProxyControlChannel {
        var ssh = ["ssh"]
        ssh += settings.sshOptions
        if let identity = settings.identity {
            ssh += ["-i", (identity as NSString).expandingTildeInPath, "-o", "IdentitiesOnly=yes"]
        }
        ssh += ["-p", String(endpoint.port)]
        return ProxyControlChannel(ssh: ssh, target: endpoint.userAtHost, knownHostsFile: knownHostsFile, timeout: timeout)
    }

    /// Opens the way to the proxy: with the known_hosts file that knows it, or, on first
    /// contact, with its key learned by `ssh-keyscan` and decided by `trust` (asked on a
    /// terminal, `--accept-new`, else a usage error naming `trust.scriptHint`). Pins
    /// nothing; `Opened.commit` does, once the proxy answered.
    public func open(trust: HostKeyTrust) throws -> Opened {
        if let known = knownEntry() {
            return Opened(proxy: self, channel: channel(knownHostsFile: known.file), learned: nil,
                          knownFile: known.file, knownKeys: known.keys, candidate: nil)
        }
        var (keys, why) = try keyscan.scan(endpoint, types: "ed25519")
        if keys.isEmpty {
            // Not every proxy has an ed25519 key; take what it has, as ssh would.
            let other = try keyscan.scan(endpoint, types: "ecdsa,rsa")
            keys = other.keys
            if why.isEmpty { why = other.why }
        }
        guard !keys.isEmpty else {
            throw CCPodError.unavailable("could not read a host key from the proxy \(address)\(why); check --proxy and the network")
        }
        let learned = try trust.confirm(keys, of: "the proxy of pod \(settings.name)", at: address,
                                        advice: "If it is the proxy you expect, ")
        let candidate = PodKnownHosts(
            file: pinned.file.deletingLastPathComponent().appendingPathComponent(".\(settings.name).proxy.candidate"),
            alias: knownHostsName)
        try candidate.pin(keys)
        return Opened(proxy: self, channel: channel(knownHostsFile: candidate.file.path), learned: learned,
                      knownFile: nil, knownKeys: [], candidate: candidate)
    }

    /// The proxy, ready to take commands, and what it took to trust it.
    public struct Opened: Sendable {
        public let proxy: PodProxy
        public let channel: ProxyControlChannel
        /// The proxy's keys accepted just now; nil when a known_hosts file knew them.
        public let learned: HostKeyTrust.Learned?
        /// The known_hosts file that vouched for the proxy (nil on first contact).
        public let knownFile: String?
        let knownKeys: [HostKey]
        let candidate: PodKnownHosts?

        /// Runs one command line in the proxy's shell (see `ProxyControlChannel.run`).
        public func run(_ command: String) throws -> String {
            do { return try channel.run(command) } catch { throw explain(error) }
        }

        /// Reads the pod's current address and host key through the proxy (`PodAddressProbe`).
        public func probe(paths: PodPaths, expectingPodId: String?) throws -> DiscoveredEndpoint {
            do {
                return try PodAddressProbe(paths: paths).probe(through: channel, expectingPodId: expectingPodId)
            } catch {
                throw explain(error)
            }
        }

        /// Pins the keys learned on first contact (call once the proxy answered and
        /// everything else the caller checks is verified); removes the candidate file.
        public func commit() throws {
            defer { discard() }
            guard let learned else { return }
            try proxy.pinned.pin(learned.keys)
        }

        /// Forgets the keys learned on first contact (nothing is pinned).
        public func discard() {
            candidate?.remove()
        }

        /// Turns ssh's host key refusal into a sentence that says what to check and how
        /// to fix it; other errors are returned as they are.
        public func explain(_ error: any Error) -> any Error {
            guard let e = error as? CCPodError, e.sshFailure == .hostKeyChanged || e.sshFailure == .hostKeyUnknown else { return error }
            let shown = (try? proxy.keyscan.scan(proxy.endpoint, types: "ed25519,ecdsa,rsa").keys) ?? []
            let now = shown.isEmpty ? "another key" : shown.map { "\($0.type) \($0.fingerprint)" }.joined(separator: ", ")
            let name = proxy.settings.name
            guard let knownFile else {
                return CCPodError(.unavailable,
                    "the proxy of pod \(name) (\(proxy.address)) showed \(now) when ccpod logged in, not the key it showed a moment "
                    + "before; ccpod refuses to use it (possible man-in-the-middle attack) and saved nothing", sshFailure: .hostKeyChanged)
            }
            let was = knownKeys.isEmpty ? "another key" : knownKeys.map { "\($0.type) \($0.fingerprint)" }.joined(separator: ", ")
            return CCPodError(.unavailable,
                "the host key of the proxy of pod \(name) (\(proxy.address)) changed: it shows \(now), but \(knownFile) has \(was). "
                + "This could be a man-in-the-middle attack (or RunPod replaced the proxy's key); ccpod refuses to use the proxy and changed nothing. "
                + "If you are sure the new key is right, remove the old one with `ssh-keygen -R '\(proxy.knownHostsName)' -f \(knownFile)` "
                + "and run `ccpod pod trust \(name)`.", sshFailure: .hostKeyChanged)
        }
    }
}

/// The pod's direct host key as the pod itself reports it through its proxy
/// (`/etc/ssh/ssh_host_ed25519_key.pub`, read by `PodAddressProbe`), cross-checked
/// against the key the direct endpoint shows; and the direct address the pod reports
/// (`/etc/rp_environment`).
public struct ProxyHostKeySource: HostKeySource {
    public let proxy: PodProxy.Opened
    /// What the pod said through the proxy.
    public let reported: DiscoveredEndpoint

    public init(proxy: PodProxy.Opened, reported: DiscoveredEndpoint) {
        self.proxy = proxy
        self.reported = reported
    }

    /// Opens `proxy` (learning its own key per `trust` on first contact) and reads the
    /// pod's address and host key through it.
    public static func probe(_ proxy: PodProxy, trust: HostKeyTrust) throws -> ProxyHostKeySource {
        let opened = try proxy.open(trust: trust)
        do {
            let found = try opened.probe(paths: proxy.settings.paths, expectingPodId: proxy.settings.runpodId)
            return ProxyHostKeySource(proxy: opened, reported: found)
        } catch {
            opened.discard()
            throw error
        }
    }

    /// The pod's host key as reported.
    public var hostKey: HostKey? { reported.hostKey.flatMap { HostKey(publicKeyLine: $0) } }

    /// `203.0.113.7:40123` (IPv6 in brackets), as the pod reported it.
    public var reportedAddress: String {
        reported.host.contains(":") ? "[\(reported.host)]:\(reported.port)" : "\(reported.host):\(reported.port)"
    }

    /// `203.0.113.7:40123, host key SHA256:…`
    public var summary: String { "\(reportedAddress), host key \(hostKey?.fingerprint ?? "unknown")" }

    /// The reported key, once `ssh-keyscan` of `direct` showed the same one.
    /// Throws (exit 69) when they differ: nothing may be pinned then.
    public func hostKeys(direct: SSHEndpoint?) throws -> [HostKey]? {
        guard let key = hostKey else { return nil }
        guard let direct else { return [key] }
        let shown = try proxy.proxy.keyscan.hostKeys(at: direct)
        guard shown.contains(key) else {
            let prints = shown.map(\.fingerprint).joined(separator: ", ")
            let why = (direct.host != reported.host || direct.port != reported.port)
                ? "Either \(direct.description) is not this pod (the pod reports its direct address as \(reportedAddress)), "
                    + "or someone is in between (a possible man-in-the-middle attack)"
                : "Someone may be in between (a possible man-in-the-middle attack)"
            throw CCPodError(.unavailable,
                "the pod told its proxy (\(proxy.proxy.address)) that its host key is \(key.fingerprint), but \(direct.description) shows \(prints). "
                + "\(why); ccpod refuses to trust it and saved nothing.",
                sshFailure: .hostKeyChanged)
        }
        return [key]
    }

    public func currentEndpoint(user: String) -> SSHEndpoint? {
        SSHEndpoint(user: user, host: reported.host, port: reported.port)
    }

    /// Pins the proxy's own key when it was learned on this contact.
    public func verified() throws {
        try proxy.commit()
    }

    /// Forgets what was learned about the proxy (when the rest failed).
    public func discard() {
        proxy.discard()
    }
}
