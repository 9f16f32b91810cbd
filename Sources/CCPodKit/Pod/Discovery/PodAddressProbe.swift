import Foundation

/// Where a pod's sshd can be reached right now, as the pod itself reports it.
public struct DiscoveredEndpoint: Sendable, Equatable {
    /// `RUNPOD_PUBLIC_IP`.
    public var host: String
    /// `RUNPOD_TCP_PORT_22`.
    public var port: Int
    /// The pod's host key as `TYPE BASE64` (no comment); nil when the source cannot vouch for one (the API).
    public var hostKey: String?
    /// `RUNPOD_POD_ID`, when known.
    public var podId: String?

    public init(host: String, port: Int, hostKey: String?, podId: String?) {
        self.host = host
        self.port = port
        self.hostKey = hostKey
        self.podId = podId
    }
}

/// Learns a pod's current direct address and host key through its proxy, in one
/// command: the RunPod environment file and the sshd's public host key file.
public struct PodAddressProbe: Sendable {
    public var environmentFile: String
    public var hostKeyFile: String

    public init(environmentFile: String = PodPaths().environmentFile, hostKeyFile: String = PodPaths().hostKeyFile) {
        self.environmentFile = environmentFile
        self.hostKeyFile = hostKeyFile
    }

    public init(paths: PodPaths) {
        self.init(environmentFile: paths.environmentFile, hostKeyFile: paths.hostKeyFile)
    }

    /// The one command line typed into the proxy. Every line of each file comes back
    /// tagged (`E ` environment, `K ` host key) so the two cannot be confused; the
    /// `echo`s end a last line that has no newline of its own.
    public var command: String {
        "sed 's/^/E /' \(shellQuote(environmentFile)) 2>/dev/null; echo; sed 's/^/K /' \(shellQuote(hostKeyFile)) 2>/dev/null; echo"
    }

    /// Runs the probe through `channel` and validates the answer.
    public func probe(through channel: ProxyControlChannel, timeout: Duration? = nil) throws -> DiscoveredEndpoint {
        let answer = try channel.run(command, timeout: timeout ?? channel.timeout)
        return try parse(answer)
    }

    /// `probe`, refusing an answer from another RunPod pod than `expected` (when both are known; exit 65).
    public func probe(through channel: ProxyControlChannel, expectingPodId expected: String?, timeout: Duration? = nil) throws -> DiscoveredEndpoint {
        let found = try probe(through: channel, timeout: timeout)
        if let expected, !expected.isEmpty, let reported = found.podId, reported != expected {
            throw CCPodError.badData("the proxy \(channel.target) leads to RunPod pod \(reported), not \(expected); check the pod's --proxy and --runpod-id")
        }
        return found
    }

    /// Turns the tagged answer into an endpoint. Anything missing or malformed is exit 65.
    public func parse(_ answer: String) throws -> DiscoveredEndpoint {
        var environment = [String]()
        var key = [String]()
        for line in answer.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("E ") { environment.append(String(line.dropFirst(2))) }
            else if line.hasPrefix("K ") { key.append(String(line.dropFirst(2))) }
        }
        guard !environment.isEmpty else {
            throw CCPodError.badData("the pod has no readable \(environmentFile) (or it is empty); cannot learn its address through the proxy")
        }
        let values = PodAddressProbe.parseEnvironment(environment.joined(separator: "\n"))
        guard let host = values["RUNPOD_PUBLIC_IP"], !host.isEmpty else {
            throw CCPodError.badData("\(environmentFile) on the pod has no RUNPOD_PUBLIC_IP; the pod may have no public IP (expose TCP port 22 in its template)")
        }
        guard PodAddressProbe.isValidHost(host) else {
            throw CCPodError.badData("\(environmentFile) on the pod has an invalid RUNPOD_PUBLIC_IP '\(host.prefix(80))'")
        }
        guard let portText = values["RUNPOD_TCP_PORT_22"], !portText.isEmpty else {
            throw CCPodError.badData("\(environmentFile) on the pod has no RUNPOD_TCP_PORT_22; expose TCP port 22 in the pod's template")
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw CCPodError.badData("\(environmentFile) on the pod has an invalid RUNPOD_TCP_PORT_22 '\(portText.prefix(40))'")
        }
        guard let keyLine = key.first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            throw CCPodError.badData("the pod has no readable host key at \(hostKeyFile)")
        }
        guard let hostKey = PodAddressProbe.normalizedHostKey(keyLine) else {
            throw CCPodError.badData("the host key in \(hostKeyFile) on the pod is not a valid SSH public key")
        }
        let podId = values["RUNPOD_POD_ID"].flatMap { $0.isEmpty ? nil : $0 }
        return DiscoveredEndpoint(host: host, port: port, hostKey: hostKey, podId: podId)
    }

    /// Reads `KEY=VALUE` and `export KEY=VALUE` lines, values bare or in single or
    /// double quotes. Comments, blank lines and anything else are ignored.
    public static func parseEnvironment(_ text: String) -> [String: String] {
        var result = [String: String]()
        for raw in text.split(whereSeparator: \.isNewline) {
            var line = raw.trimmingCharacters(in: .whitespaces)[...]
            if line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") || line.hasPrefix("export\t") {
                line = line.dropFirst(7).drop(while: { $0 == " " || $0 == "\t" })
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let name = line[..<eq]
            guard let first = name.first, first == "_" || first.isLetter,
                  name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else { continue }
            var value = line[line.index(after: eq)...]
            if let q = value.first, q == "\"" || q == "'" {
                value = value.dropFirst()
                guard let close = value.firstIndex(of: q) else { continue }
                value = value[..<close]
            } else if let space = value.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == ";" }) {
                value = value[..<space]
            }
            result[String(name)] = String(value)
        }
        return result
    }

    /// An IPv4/IPv6 address or a DNS name; nothing that could smuggle options or spaces.
    public static func isValidHost(_ host: String) -> Bool {
        guard !host.isEmpty, host.count <= 253, !host.hasPrefix("-"), !host.hasPrefix(".") else { return false }
        return host.unicodeScalars.allSatisfy {
            ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "." || $0 == "-" || $0 == ":"
        }
    }

    /// `TYPE BASE64` from a public key line (comment dropped) when the base64 blob
    /// decodes and names the same key type; nil otherwise.
    public static func normalizedHostKey(_ line: String) -> String? {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2 else { return nil }
        let type = String(fields[0]), blob = String(fields[1])
        let known = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                     "ssh-rsa", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
        guard known.contains(type), let data = Data(base64Encoded: blob), data.count > 4 else { return nil }
        // The blob starts with the key type as an SSH string: a 4-byte big-endian length, then the name.
        let bytes = [UInt8](data)
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard length == type.utf8.count, bytes.count > 4 + length,
              String(decoding: bytes[4..<(4 + length)], as: UTF8.self) == type else { return nil }
        return "\(type) \(blob)"
    }
}

/// Quotes `text` for POSIX sh (single quotes; embedded ones as '\'').
fileprivate func shellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
