import Foundation

/// Everything `ssh` needs to reach one pod's sshd, as a plain value: Pod builds it from
/// a pod's settings (`SSHTarget(pod:locations:)`); Remote only reads it.
public struct SSHTarget: Sendable, Equatable {
    /// How the user knows the pod (in messages).
    public var name: String
    public var endpoint: SSHEndpoint
    /// The private key to log in with (`~` allowed); nil = ssh's own choice.
    public var identity: String?
    /// Extra `ssh` arguments, put before ccpod's own (tests use `-F /dev/null`).
    public var options: [String]
    /// The known_hosts file checked strictly: the pinned keys.
    public var knownHostsFile: URL
    /// The name the keys are stored under in `knownHostsFile` (the pod's name, so a new
    /// port does not invalidate them).
    public var hostKeyAlias: String
    /// Names the master connection's socket: a digest of everything that decides what
    /// a master authenticated, the pinned keys included. Two pods at one address, or one
    /// pod before and after its key was pinned again, never share a master.
    public var controlIdentity: String

    /// A target; `controlIdentity` is derived from the other fields and the keys pinned in
    /// `knownHostsFile` now.
    public init(name: String, endpoint: SSHEndpoint, identity: String? = nil, options: [String] = [],
                knownHostsFile: URL, hostKeyAlias: String? = nil) {
        self.name = name
        self.endpoint = endpoint
        self.identity = identity
        self.options = options
        self.knownHostsFile = knownHostsFile
        self.hostKeyAlias = hostKeyAlias ?? name
        self.controlIdentity = ""
        self.controlIdentity = deriveControlIdentity()
    }

    /// Hex characters of `controlIdentity` (128 bits of SHA-256: short enough for a unix
    /// socket path, see `SSHConnection.controlDirectory`).
    public static let controlIdentityLength = 32

    /// The digest of the name, alias, address, identity, options, the known_hosts file's
    /// path and its bytes as they are now (missing file: empty).
    public func deriveControlIdentity() -> String {
        let pinned = (try? Data(contentsOf: knownHostsFile)) ?? Data()
        // Fields separated by NUL, which none of them can contain.
        var fields = [name, hostKeyAlias, endpoint.user, endpoint.host, String(endpoint.port),
                      identity ?? "", knownHostsFile.path]
        fields += options
        var input = Data(fields.joined(separator: "\0").utf8)
        input.append(0)
        input.append(pinned)
        return String(SHA256Hex.of(input).prefix(Self.controlIdentityLength))
    }
}
