import Crypto
import Foundation

/// One SSH public host key (`ssh-ed25519 AAAA…`).
public struct HostKey: Sendable, Equatable, Hashable {
    public var type: String
    /// The base64 key blob.
    public var base64: String

    public init(type: String, base64: String) {
        self.type = type
        self.base64 = base64
    }

    /// Parses `type base64 [comment]` (an `.pub` file or the tail of a known_hosts line).
    public init?(publicKeyLine line: String) {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, fields[0].hasPrefix("ssh-") || fields[0].hasPrefix("ecdsa-") || fields[0].hasPrefix("sk-"),
              Data(base64Encoded: String(fields[1])) != nil else { return nil }
        self.type = String(fields[0])
        self.base64 = String(fields[1])
    }

    /// `SHA256:…` as `ssh-keygen -l` prints it (unpadded base64 of the SHA-256 of the blob).
    public var fingerprint: String {
        let blob = Data(base64Encoded: base64) ?? Data()
        var text = Data(SHA256.hash(data: blob)).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return "SHA256:\(text)"
    }

    public var line: String { "\(type) \(base64)" }
}

/// The known_hosts file ccpod keeps for one pod: every key stored under the pod's
/// alias, written atomically with mode 0600.
public struct PodKnownHosts: Sendable {
    public let file: URL
    public let alias: String

    public init(file: URL, alias: String) {
        self.file = file
        self.alias = alias
    }

    public init(pod: String, locations: CCPodLocations) {
        self.init(file: SSHConnection.knownHostsFile(pod: pod, locations: locations), alias: pod)
    }

    /// The pinned keys (none when the file does not exist).
    public func keys() -> [HostKey] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let space = line.firstIndex(of: " ") else { return nil }
            let hosts = line[..<space].split(separator: ",")
            guard hosts.contains(where: { $0 == alias }) else { return nil }
            return HostKey(publicKeyLine: String(line[line.index(after: space)...]))
        }
    }

    /// Replaces the pinned keys with `keys`.
    public func pin(_ keys: [HostKey]) throws {
        try CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        let text = keys.map { "\(alias) \($0.line)\n" }.joined()
        try AtomicFile.write(Data(text.utf8), to: file, mode: 0o600)
    }

    /// Removes the file.
    public func remove() {
        try? FileManager.default.removeItem(at: file)
    }
}

/// Where a pod's host key can be learned over a trusted channel (the RunPod proxy,
/// which reads `/etc/ssh/ssh_host_ed25519_key.pub` on the pod through an
/// authenticated session). Keys from such a source are pinned without asking.
public protocol HostKeySource: Sendable {
    /// The pod's current host keys, or nil when this source cannot tell. `direct` is the
    /// endpoint they will be used for (a source may check what it shows).
    func hostKeys(direct: SSHEndpoint?) throws -> [HostKey]?
    /// Where the source says the pod's direct sshd listens now, logging in as `user`;
    /// nil when it cannot tell. `ccpod pod trust` moves the pod there.
    func currentEndpoint(user: String) -> SSHEndpoint?
    /// Called once the keys it gave worked for a real login, before the config is
    /// saved: a source that learned something of its own on the way (the proxy's host
    /// key) pins it now, and not before.
    func verified() throws
}

extension HostKeySource {
    public func currentEndpoint(user: String) -> SSHEndpoint? { nil }
    public func verified() throws {}
}

/// Learns a host key by asking the server itself (`ssh-keyscan`): not authenticated,
/// so a person must confirm the fingerprint (or pass `--accept-new`).
public struct KeyscanHostKeySource: Sendable {
    public var timeoutSeconds: Int

    public init(timeoutSeconds: Int = 10) {
        self.timeoutSeconds = timeoutSeconds
    }

    /// The ed25519 host key the endpoint shows.
    public func hostKeys(at endpoint: SSHEndpoint) throws -> [HostKey] {
        let (keys, why) = try scan(endpoint, types: "ed25519")
        guard !keys.isEmpty else {
            throw CCPodError.unavailable("could not read an ed25519 host key from \(endpoint.description) (is the pod running and the port right?)\(why)")
        }
        return keys
    }

    /// The keys of the given types (`ed25519,ecdsa,rsa`) the endpoint shows, and ssh-keyscan's
    /// first complaint (`: …`, empty when it had none).
    public func scan(_ endpoint: SSHEndpoint, types: String) throws -> (keys: [HostKey], why: String) {
        let out = try ChildProcess.run("ssh-keyscan", ["-T", String(timeoutSeconds), "-p", String(endpoint.port), "-t", types, endpoint.host])
        let keys = out.stdoutText.split(whereSeparator: \.isNewline).compactMap { raw -> HostKey? in
            let line = String(raw)
            guard !line.hasPrefix("#"), let space = line.firstIndex(of: " ") else { return nil }
            return HostKey(publicKeyLine: String(line[line.index(after: space)...]))
        }
        let why = out.stderrText.split(whereSeparator: \.isNewline).first { !$0.hasPrefix("#") }.map { ": \($0)" } ?? ""
        return (keys, why)
    }
}

/// How a new host key gets trusted on first contact or after a restart.
public struct HostKeyTrust: Sendable {
    /// Trust whatever the server shows without asking (`--accept-new`).
    public var acceptNew: Bool
    /// Whether a person can be asked (stdin and stderr are terminals).
    public var interactive: Bool
    /// Asks the person; gets the question, returns the answer. Only called when `interactive`.
    public var ask: @Sendable (String) -> Bool
    /// What to tell a script that cannot be asked (names the flag or command that accepts the key).
    public var scriptHint: String

    public init(acceptNew: Bool, interactive: Bool, scriptHint: String = "run again with --accept-new to trust it",
                ask: @escaping @Sendable (String) -> Bool) {
        self.acceptNew = acceptNew
        self.interactive = interactive
        self.scriptHint = scriptHint
        self.ask = ask
    }

    /// What was learned and how.
    public struct Learned: Sendable, Equatable {
        public var keys: [HostKey]
        /// "proxy", "accepted (--accept-new)", "confirmed"
        public var how: String
    }

    /// Learns the host key of pod `name`'s `direct` endpoint: through `trusted` when it
    /// can tell, else by `ssh-keyscan` and a confirmed fingerprint. Pins nothing.
    public func learn(name: String, direct: SSHEndpoint?, trusted: (any HostKeySource)?,
                      keyscan: KeyscanHostKeySource = KeyscanHostKeySource()) throws -> Learned {
        if let trusted, let keys = try trusted.hostKeys(direct: direct), !keys.isEmpty {
            return Learned(keys: keys, how: "learned through the proxy")
        }
        guard let direct else {
            throw CCPodError.usage("pod \(name) has no direct endpoint to learn a host key from")
        }
        let keys = try keyscan.hostKeys(at: direct)
        return try confirm(keys, of: "pod \(name)", at: direct.description,
                           advice: "Compare it with the pod's /etc/ssh/ssh_host_ed25519_key.pub and ")
    }

    /// Decides about `keys` that `subject` ("pod gpu1", "the proxy of pod gpu1") showed at
    /// `address` over an unauthenticated channel: accepted with `--accept-new`, else asked
    /// on a terminal, else refused with `advice` and the script hint (exit 64).
    public func confirm(_ keys: [HostKey], of subject: String, at address: String, advice: String = "If you trust it, ") throws -> Learned {
        let prints = keys.map { "\($0.type) key fingerprint is \($0.fingerprint)" }.joined(separator: "\n")
        if acceptNew { return Learned(keys: keys, how: "accepted with --accept-new") }
        guard interactive else {
            throw CCPodError.usage("the host key of \(subject) (\(address)) is not known yet: \(prints). \(advice)\(scriptHint)")
        }
        let question = "The authenticity of \(subject) (\(address)) can't be established.\n\(prints)\nTrust this key and continue connecting (y/N)? "
        guard ask(question) else {
            throw CCPodError.failure("host key of \(subject) not accepted; nothing was changed")
        }
        return Learned(keys: keys, how: "confirmed")
    }
}
