import Foundation

/// A secret found in a text: its UTF-16 range (what gets replaced) and its kind.
struct SecretFinding: Equatable {
    var range: NSRange
    var kind: String
    /// Among findings of the same span, the lower wins (the catalog lists specific detectors first).
    var priority = 0
}

/// One pattern for one kind of secret. `group` is the capture that holds the value
/// (0: the whole match); `accept` can refuse a value that only looks like one.
struct SecretDetector: @unchecked Sendable {
    let kind: String
    let regex: NSRegularExpression
    let group: Int
    let accept: @Sendable (String) -> Bool
    /// UTF-16 units that must not come right before the match (a lookbehind checked here, so
    /// the pattern starts with its literal prefix and the regex engine can skip ahead fast).
    let notAfter: Set<UInt16>

    init(_ kind: String, _ pattern: String, group: Int = 0, notAfter: String = "",
         accept: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.kind = kind
        self.notAfter = Set(notAfter.utf16)
        // The patterns are constants of this file; a bad one is a programming error caught by every test.
        do { regex = try NSRegularExpression(pattern: pattern) } catch { fatalError("bad secret pattern for \(kind): \(error)") }
        self.group = group
        self.accept = accept
    }
}

/// The layered detectors of the export scrubber: provider keys by their shapes, private keys,
/// JWTs, `key=value` pairs, `.env` lines, URLs with credentials, high-entropy values in
/// key-like positions, and secrets hidden in base64 runs.
struct SecretDetectors: @unchecked Sendable {
    var detectors: [SecretDetector]

    /// Every detector.
    static let standard = SecretDetectors(detectors: catalog)

    /// The same detectors without some kinds (tests use it to open a gap the second scan must catch).
    func removing(_ kinds: Set<String>) -> SecretDetectors {
        SecretDetectors(detectors: detectors.filter { !kinds.contains($0.kind) })
    }

    /// Non-overlapping findings in `text`, earliest first (the longest wins at one position).
    /// `base64Depth` bounds how deep base64 runs are decoded and scanned.
    func find(in text: String, base64Depth: Int = 2) -> [SecretFinding] {
        let ns = text as NSString
        let whole = NSRange(location: 0, length: ns.length)
        var found = [SecretFinding]()
        var awsIds = [NSRange]()
        for (index, detector) in detectors.enumerated() {
            for match in detector.regex.matches(in: text, range: whole) {
                let r = match.range(at: detector.group)
                guard r.location != NSNotFound, r.length > 0 else { continue }
                if !detector.notAfter.isEmpty, match.range.location > 0,
                   detector.notAfter.contains(ns.character(at: match.range.location - 1)) {
                    continue
                }
                let value = ns.substring(with: r)
                guard detector.accept(value) else { continue }
                found.append(SecretFinding(range: r, kind: detector.kind, priority: index))
                if detector.kind == "aws-access-key" { awsIds.append(r) }
            }
        }
        // An AWS secret key has no prefix: a 40-character base64 word near an access key id is one.
        if !awsIds.isEmpty && detectors.contains(where: { $0.kind == "aws-secret-key" }) {
            for match in Self.awsSecretShape.matches(in: text, range: whole) {
                let r = match.range
                let near = awsIds.contains { abs($0.location - r.location) < 600 }
                if near, Self.mixed(ns.substring(with: r)) { found.append(SecretFinding(range: r, kind: "aws-secret-key", priority: Int.max)) }
            }
        }
        var chosen = Self.nonOverlapping(found)
        if base64Depth > 0 {
            for match in Self.base64Run.matches(in: text, range: whole) {
                let r = match.range
                guard !chosen.contains(where: { NSIntersectionRange($0.range, r).length > 0 }) else { continue }
                guard let decoded = Self.decodeBase64Text(ns.substring(with: r)) else { continue }
                if let inner = find(in: decoded, base64Depth: base64Depth - 1).first {
                    chosen.append(SecretFinding(range: r, kind: "base64-" + inner.kind.replacingOccurrences(of: "base64-", with: "")))
                }
            }
            chosen.sort { $0.range.location < $1.range.location }
        }
        return chosen
    }

    static func nonOverlapping(_ findings: [SecretFinding]) -> [SecretFinding] {
        let sorted = findings.sorted {
            ($0.range.location, -$0.range.length, $0.priority) < ($1.range.location, -$1.range.length, $1.priority)
        }
        var out = [SecretFinding]()
        var end = 0
        for f in sorted where f.range.location >= end {
            out.append(f)
            end = f.range.location + f.range.length
        }
        return out
    }

    /// The text a base64 run decodes to, when it is mostly printable text (binary data is left alone).
    static func decodeBase64Text(_ run: String) -> String? {
        var compact = run.replacingOccurrences(of: "\\n", with: "").filter { !$0.isWhitespace }
        while compact.count % 4 != 0 { compact += "=" }
        guard compact.count >= 40, let data = Data(base64Encoded: compact), data.count >= 24 else { return nil }
        let printable = data.filter { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 >= 0x80 }.count
        guard printable * 10 >= data.count * 9 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static let base64Run = regex(#"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{16,}(?:(?:\r?\n|\\n)[A-Za-z0-9+/]{4,})*={0,2}"#)
    static let awsSecretShape = regex(#"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"#)

    static func regex(_ pattern: String) -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: pattern) } catch { fatalError("bad pattern: \(error)") }
    }

    // MARK: - What a value must look like

    /// Lower, upper and digit all present.
    static func mixed(_ s: String) -> Bool {
        s.contains(where: \.isLowercase) && s.contains(where: \.isUppercase) && s.contains(where: \.isNumber)
    }

    /// Shannon entropy in bits per character.
    static func entropy(_ s: String) -> Double {
        var counts = [Character: Int]()
        for c in s { counts[c, default: 0] += 1 }
        let n = Double(s.count)
        guard n > 0 else { return 0 }
        return counts.values.reduce(0) { acc, c in let p = Double(c) / n; return acc - p * log2(p) }
    }

    /// Words that follow `password=` in code and docs without being one.
    static let notValues: Set<String> = [
        "string", "str", "null", "none", "nil", "true", "false", "undefined", "required", "optional", "int", "number",
        "object", "any", "bool", "boolean", "env", "process", "self", "this", "value", "secret", "password", "token",
        "changeme", "example", "redacted", "hidden", "masked", "getenv", "environ", "config", "settings", "args",
    ]

    /// A value, not a reference to one: no `$VAR`, `<placeholder>`, `[REDACTED…]`, `os.environ[…]`, `****`.
    static func isLiteralValue(_ v: String) -> Bool {
        guard let first = v.first, !"$%{<[(*#&@!".contains(first) else { return false }
        if notValues.contains(v.lowercased()) { return false }
        if v.contains("(") || v.contains("[") || v.contains("{") || v.contains("${") { return false }
        // URLs (their credentials have their own detector) and paths name where a secret is, not the secret.
        if v.contains("://") || v.hasPrefix("/") || v.hasPrefix("./") || v.hasPrefix("~/") { return false }
        if Set(v).count <= 2 { return false }
        // A dotted identifier (`os.environ`, `config.token`) names a value elsewhere.
        if v.range(of: #"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"#, options: .regularExpression) != nil { return false }
        return true
    }

    /// A literal value that looks generated: long enough, with a digit or mixed case, and varied.
    static func looksRandom(_ v: String) -> Bool {
        guard v.count >= 8, isLiteralValue(v), !v.allSatisfy(\.isNumber) else { return false }
        let hasDigit = v.contains(where: \.isNumber)
        let hasUpper = v.contains(where: \.isUppercase), hasLower = v.contains(where: \.isLowercase)
        guard hasDigit || (hasUpper && hasLower) else { return false }
        // snake_case or kebab-case words without digits are names, not secrets.
        if !hasDigit, v.range(of: #"^[a-z]+([_-][a-z]+)+$"#, options: .regularExpression) != nil { return false }
        return entropy(v) >= 2.8
    }

    /// A provider key: at least one digit and mixed characters (so `sk-learn-…` prose is not one).
    static func keyLike(_ v: String) -> Bool {
        v.contains(where: \.isNumber) && (v.contains(where: \.isUppercase) || v.count >= 40)
    }

    /// Names whose value is a secret (JSON keys, `NAME=value`).
    static func isSecretName(_ name: String) -> Bool {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "_")
        for word in ["password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "access_key", "private_key",
                     "auth_key", "credential", "client_secret", "session_key", "signing_key", "encryption_key"]
        where n.contains(word) {
            // Counters and settings named after tokens are not secrets.
            if word == "token", n.hasSuffix("tokens") || n.contains("token_count") || n.contains("max_token") || n.contains("tokenizer") {
                return false
            }
            return true
        }
        return n.hasSuffix("_key") || n == "key" || n.hasSuffix("_pwd") || n == "pwd" || n == "pass" || n == "auth" || n == "authorization"
    }

    /// Whether a value under a secret name is redacted: a password-like name takes any literal value
    /// of four characters or more, other names a value that looks generated.
    static func acceptValue(name: String, value: String) -> Bool {
        let n = name.lowercased()
        if n.contains("pass") || n.hasSuffix("pwd") { return value.count >= 4 && isLiteralValue(value) }
        return looksRandom(value)
    }
}
