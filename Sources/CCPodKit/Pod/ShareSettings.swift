import Foundation
import TOMLKit

/// The `[share]` table of `config.toml`: the team's session repository.
///
/// ```toml
/// [share]
/// remote = "git@github.com:team/claude-sessions.git"
/// user = "alice"
/// recipients = ["ccpodpk1…", "ssh-ed25519 AAAA… bob@laptop", "~/keys/carol.pub"]
/// ```
public struct ShareSettings: Sendable, Equatable {
    /// The git repository the exports live in (any URL `git` understands, or a path).
    public var remote: String?
    /// Your folder's name, `sessions/<user>/` (default: the login name).
    public var user: String?
    /// Who may read what you push: exports are encrypted to these keys (and yours) when any are set.
    public var recipients: [String] = []

    public init(remote: String? = nil, user: String? = nil, recipients: [String] = []) {
        self.remote = remote
        self.user = user
        self.recipients = recipients
    }

    static let keys: Set<String> = ["remote", "user", "recipients"]

    static func parse(_ t: TOMLTable, bad: (String) -> CCPodError) throws -> ShareSettings {
        var settings = ShareSettings()
        if let v = t["remote"] {
            guard let s = v.string else { throw bad("share.remote must be a string (a git URL or path)") }
            settings.remote = s
        }
        if let v = t["user"] {
            guard let s = v.string, ShareNames.isValid(s, maxLength: 64) else {
                throw bad("share.user must be a name of letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)")
            }
            settings.user = s
        }
        if let v = t["recipients"] {
            guard let a = v.array else { throw bad("share.recipients must be a list of strings (ccpodpk1…, ssh-ed25519 lines or .pub files)") }
            settings.recipients = try a.map { element in
                guard let s = element.string else { throw bad("share.recipients must be a list of strings") }
                return s
            }
        }
        return settings
    }
}

/// Names of folders in the share repository: `sessions/<user>/<project>/`.
public enum ShareNames {
    /// The export file in a user's project folder.
    public static let exportFile = "sessions.jsonl"
    /// The file in a user's folder naming the key that owns it.
    public static let ownerFile = "owner"

    /// Letters, digits, `.`, `_`, `-`; starting with a letter or digit; at most `maxLength`.
    public static func isValid(_ name: String, maxLength: Int = 100) -> Bool {
        let b = Array(name.utf8)
        guard (1...maxLength).contains(b.count), isAlnum(b[0]) else { return false }
        return b.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    /// `text` made a valid name: other characters become `-`, leading ones that may not start it are dropped.
    public static func sanitize(_ text: String, maxLength: Int = 100) -> String? {
        let mapped = String(text.unicodeScalars.map { s -> Character in
            s.isASCII && (CharacterSet.alphanumerics.contains(s) || s == "." || s == "_" || s == "-") ? Character(s) : "-"
        })
        let trimmed = String(mapped.drop(while: { !($0.isASCII && ($0.isLetter || $0.isNumber)) }).prefix(maxLength))
        return isValid(trimmed, maxLength: maxLength) ? trimmed : nil
    }

    /// The user's name: `[share] user`, else the login name (`USER`, `LOGNAME`) made valid.
    public static func user(settings: ShareSettings, environment: [String: String]) throws -> String {
        if let user = settings.user { return user }
        for key in ["USER", "LOGNAME"] {
            if let value = environment[key], let name = sanitize(value, maxLength: 64) { return name }
        }
        throw CCPodError.usage("ccpod does not know your name for the share repository; set `user = \"NAME\"` under [share] in config.toml")
    }

    /// The project's name in the repository, the same on every clone: the name of the
    /// repository its `origin` remote points to (`…/team/app.git` → `app`), else the
    /// project folder's name.
    public static func project(path: String, environment: [String: String]? = nil) -> String? {
        if ChildProcess.exists("git"),
           let out = try? ChildProcess.run("git", ["-C", path, "config", "--get", "remote.origin.url"], environment: environment),
           out.status == 0 {
            var url = out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            while url.hasSuffix("/") { url.removeLast() }
            if url.hasSuffix(".git") { url.removeLast(4) }
            let last = url.split(whereSeparator: { $0 == "/" || $0 == ":" }).last.map(String.init) ?? ""
            if let name = sanitize(last) { return name }
        }
        return sanitize(URL(fileURLWithPath: path).lastPathComponent)
    }
}
