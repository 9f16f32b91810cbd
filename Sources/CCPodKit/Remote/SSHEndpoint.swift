import Foundation

/// An SSH address: `user@host:port`. IPv6 hosts are written in brackets (`root@[::1]:22`).
public struct SSHEndpoint: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var user: String
    public var host: String
    public var port: Int

    public init(user: String, host: String, port: Int = 22) {
        self.user = user
        self.host = host
        self.port = port
    }

    /// `user@host:port`, with brackets around an IPv6 host.
    public var description: String {
        host.contains(":") ? "\(user)@[\(host)]:\(port)" : "\(user)@\(host):\(port)"
    }

    /// `user@host`, with the port left out (the RunPod proxy style).
    public var userAtHost: String { "\(user)@\(host)" }

    /// Parses `[user@]host[:port]` (`root@203.0.113.7:41022`, `root@[::1]:22`).
    /// `defaultUser` is used when the user is left out (nil: a user is required).
    /// `option` names the flag in error messages.
    public static func parse(_ text: String, defaultUser: String? = "root", option: String = "--direct") throws -> SSHEndpoint {
        let example = "\(option) root@203.0.113.7:41022 (IPv6: root@[::1]:22)"
        func bad(_ why: String) -> CCPodError {
            .usage("malformed \(option) \"\(text)\": \(why); expected \(example)")
        }
        guard !text.isEmpty else { throw bad("it is empty") }
        guard !text.contains(where: { $0.isWhitespace || $0.isNewline }) else { throw bad("it contains spaces") }
        var rest = Substring(text)
        var user = defaultUser
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        guard let user, !user.isEmpty else { throw bad("the user is missing") }
        guard user.first != "-", user.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw bad("\"\(user)\" is not a valid user name")
        }
        var host: String
        var portText: Substring?
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { throw bad("the IPv6 address has no closing ]") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw bad("unexpected text after ]") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.contains(":"),
                  host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw bad("\"\(host)\" is not an IPv6 address")
            }
        } else {
            let colons = rest.filter { $0 == ":" }.count
            if colons > 1 { throw bad("write IPv6 addresses in brackets") }
            if let colon = rest.firstIndex(of: ":") {
                host = String(rest[..<colon])
                portText = rest[rest.index(after: colon)...]
            } else {
                host = String(rest)
            }
            guard !host.isEmpty else { throw bad("the host is missing") }
            guard host.first != "-", host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                throw bad("\"\(host)\" is not a valid host name")
            }
        }
        var port = 22
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw bad("the port \"\(portText)\" is not a number from 1 to 65535")
            }
            port = p
        }
        host = host.lowercased()
        return SSHEndpoint(user: user, host: host, port: port)
    }
}
