import Foundation

/// The second, independent look at what an export is about to write: a few simple,
/// conservative patterns over the raw bytes of each output line and over every string
/// value of it as a JSON parser decodes it (and the text of base64 runs in them). It shares
/// no code with `SecretScrubber`: a gap in the scrubber is caught here, and the export is
/// refused with where the match is (never the value).
struct ExportVerifier {
    /// Where a match is: the session, the file in it and the line of that file.
    struct Location: Sendable, Equatable, CustomStringConvertible {
        var session: String?
        var file: String?
        var line: Int
        var description: String {
            let place = line > 0 ? "line \(line)" : file != nil ? "its file record" : session != nil ? "its session record (title)" : "the header"
            return [session.map { "session \($0)" }, file, place].compactMap { $0 }.joined(separator: ", ")
        }
    }

    struct Hit: Sendable, Equatable {
        var location: Location
        var kind: String
    }

    private(set) var hits: [Hit] = []
    private(set) var hitCount = 0

    private static let sources: [(String, String)] = [
        ("anthropic-key", #"\bsk-ant-[A-Za-z0-9_-]{16,}"#),
        ("openai-key", #"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"#),
        ("openai-key", #"\bsk-(?=[A-Za-z]*[0-9])[A-Za-z0-9]{40,}"#),
        ("aws-access-key", #"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"#),
        ("github-token", #"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}"#),
        ("github-token", #"github_pat_[A-Za-z0-9_]{30,}"#),
        ("gitlab-token", #"\bglpat-[A-Za-z0-9_-]{20,}"#),
        ("huggingface-token", #"\bhf_[A-Za-z0-9]{30,}"#),
        ("slack-token", #"\bxox[abposr]-[0-9A-Za-z-]{10,}"#),
        ("stripe-key", #"\b[sr]k_live_[0-9A-Za-z]{16,}"#),
        ("runpod-key", #"\brpa_[A-Za-z0-9]{20,}"#),
        ("google-api-key", #"\bAIza[0-9A-Za-z_-]{35}"#),
        ("npm-token", #"\bnpm_[A-Za-z0-9]{36}"#),
        ("private-key", #"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"#),
        ("jwt", #"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"#),
        ("url-credentials", #"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@"'<>]+:([^\s@/"'<>]+)@"#),
    ]

    private static let patterns: [(String, NSRegularExpression)] = sources.map { kind, pattern in
        do { return (kind, try NSRegularExpression(pattern: pattern)) } catch { fatalError("bad verifier pattern \(kind)") }
    }


    private static let base64 = try? NSRegularExpression(pattern: #"[A-Za-z0-9+/]{40,}={0,2}"#)

    /// Checks one output line (without its newline).
    mutating func check(_ line: [UInt8], at location: Location) {
        var kinds = Set<String>()
        scan(String(decoding: line, as: UTF8.self), into: &kinds)
        if let object = try? JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) {
            walk(object) { string in
                scan(string, into: &kinds)
                guard string.utf8.count >= 40, let base64 = Self.base64 else { return }
                for m in base64.matches(in: string, range: NSRange(location: 0, length: (string as NSString).length)) {
                    var run = (string as NSString).substring(with: m.range)
                    while run.count % 4 != 0 { run += "=" }
                    if let data = Data(base64Encoded: run), let text = String(data: data, encoding: .utf8) { scan(text, into: &kinds) }
                }
            }
        }
        for kind in kinds.sorted() {
            hitCount += 1
            if hits.count < 20 { hits.append(Hit(location: location, kind: kind)) }
        }
    }

    private func scan(_ text: String, into kinds: inout Set<String>) {
        let ns = text as NSString
        for (kind, regex) in Self.patterns {
            for m in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
                if kind == "url-credentials" {
                    let password = ns.substring(with: m.range(at: 1))
                    // Only strong signals: a literal with a digit, six characters or more.
                    let literal = !password.hasPrefix("[") && !password.hasPrefix("$") && !password.hasPrefix("<")
                        && !password.contains("{") && !password.contains("(") && !password.contains(".")
                    if !literal || password.count < 6 || !password.contains(where: \.isNumber) || Set(password).count <= 2 {
                        continue
                    }
                }
                kinds.insert(kind)
            }
        }
    }

    private func walk(_ value: Any, _ visit: (String) -> Void) {
        if let s = value as? String {
            visit(s)
        } else if let a = value as? [Any] {
            for v in a { walk(v, visit) }
        } else if let d = value as? [String: Any] {
            for (k, v) in d {
                visit(k)
                walk(v, visit)
            }
        }
    }

    /// The error that refuses the export, naming where the matches are.
    func refusal() -> CCPodError {
        let shown = hits.map { "  \($0.kind) at \($0.location)" }.joined(separator: "\n")
        let more = hitCount > hits.count ? "\n  … and \(hitCount - hits.count) more" : ""
        return CCPodError.badData("""
            nothing was written: after scrubbing, the export still matches \(hitCount) secret pattern(s) the scrubber missed:
            \(shown)\(more)
            Remove the secret from the session (or leave the session out with --session), then export again.
            """)
    }
}
