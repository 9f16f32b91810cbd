import Foundation

/// Replaces secrets in JSON lines by stable placeholders, `[REDACTED:<kind>:<first 4 hex of
/// SHA-256 of the value>]`: the same secret always gets the same placeholder.
///
/// It works on the decoded value of every JSON string (so `\n`, `\"`, `\/` and `\uXXXX`
/// escapes cannot hide a secret) and splices the placeholder into the raw line over exactly
/// the bytes that encode the secret: the line stays valid JSON and every other byte is kept.
struct SecretScrubber {
    var detectors: SecretDetectors
    /// Replacements made so far, by kind.
    private(set) var counts: [String: Int] = [:]

    init(detectors: SecretDetectors = .standard) {
        self.detectors = detectors
    }

    static func placeholder(kind: String, value: String) -> String {
        "[REDACTED:\(kind):\(SHA256Hex.of(Data(value.utf8)).prefix(4))]"
    }

    /// `raw` with every secret replaced; `raw` is one JSON value (a record line of the export).
    mutating func scrub(jsonLine raw: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var copied = 0
        var containers = [UInt8]()
        var keys = [String?]()
        var expectingKey = false
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c == UInt8(ascii: "\"") {
                guard let (end, decoded) = JSONStringDecoder.decode(raw, quoteAt: i) else { break }
                let inObject = containers.last == UInt8(ascii: "{")
                var name: String?
                if inObject && expectingKey {
                    expectingKey = false
                    keys[keys.count - 1] = decoded.text
                } else if inObject {
                    name = keys.last ?? nil
                }
                let replacements = findings(in: decoded, name: name)
                if !replacements.isEmpty {
                    if out.isEmpty { out.reserveCapacity(raw.count) }
                    if decoded.mapsExactly {
                        for (range, text) in replacements {
                            let start = Int(decoded.starts[range.location]), stop = decoded.end(of: range.location + range.length - 1)
                            out.append(contentsOf: raw[copied..<start])
                            out.append(contentsOf: Array(text.utf8))
                            copied = stop
                        }
                    } else {
                        // The decoded text does not map unit for unit (never seen in practice): re-encode the value.
                        let ns = NSMutableString(string: decoded.text)
                        for (range, text) in replacements.reversed() { ns.replaceCharacters(in: range, with: text) }
                        out.append(contentsOf: raw[copied..<i])
                        out.append(contentsOf: Array(ExportFormat.quote(ns as String).utf8))
                        copied = end
                    }
                }
                i = end
                continue
            }
            switch c {
            case UInt8(ascii: "{"): containers.append(c); keys.append(nil); expectingKey = true
            case UInt8(ascii: "["): containers.append(c); keys.append(nil); expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !containers.isEmpty { containers.removeLast(); keys.removeLast() }
                expectingKey = false
            case UInt8(ascii: ","): expectingKey = containers.last == UInt8(ascii: "{")
            default: break
            }
            i += 1
        }
        if out.isEmpty && copied == 0 { return raw }
        out.append(contentsOf: raw[copied...])
        return out
    }

    /// What to replace in one decoded string, as (UTF-16 range, placeholder), in order.
    private mutating func findings(in decoded: JSONStringDecoder.Decoded, name: String?) -> [(NSRange, String)] {
        let count = decoded.units.count
        guard count >= 4 else { return [] }
        let text = decoded.text
        let ns = text as NSString
        var found = count >= 8 && !Self.isPlainIdentifier(decoded.units) ? detectors.find(in: text) : []
        // A whole value under a secret-like key (`"password": "…"`, `"api_key": "…"`) that looks like a secret.
        if let name, SecretDetectors.isSecretName(name), !found.contains(where: { $0.range.length == ns.length }),
           SecretDetectors.acceptValue(name: name, value: text), !text.hasPrefix("[REDACTED:") {
            let kind = found.first?.kind ?? (name.lowercased().contains("pass") ? "password" : "secret")
            found = [SecretFinding(range: NSRange(location: 0, length: ns.length), kind: kind)]
        }
        return found.map { f in
            counts[f.kind, default: 0] += 1
            return (f.range, Self.placeholder(kind: f.kind, value: ns.substring(with: f.range)))
        }
    }

    /// UUIDs, hashes, timestamps, versions and type names: nothing a detector could match.
    private static func isPlainIdentifier(_ units: [UInt16]) -> Bool {
        if units.count > 64 { return false }
        let hexLike = units.allSatisfy { u in
            (u >= 0x30 && u <= 0x39) || (u >= 0x61 && u <= 0x66) || u == 0x2D || u == 0x3A || u == 0x2E || u == 0x54 || u == 0x5A
        }
        return hexLike
    }
}

/// Decodes a JSON string literal in place, remembering for every UTF-16 unit of the value
/// which raw bytes encode it.
enum JSONStringDecoder {
    struct Decoded {
        var units: [UInt16] = []
        /// Raw offset of the first byte encoding each unit (32 bits: lines are at most a few MiB, and
        /// these arrays are the scrubber's largest allocation).
        var starts: [Int32] = []
        /// Raw offset of the closing quote.
        var close = 0
        var text: String { String(decoding: units, as: UTF16.self) }
        /// Whether NSString offsets of `text` are offsets into `units` (lone surrogates may not be).
        var mapsExactly: Bool { (text as NSString).length == units.count }

        mutating func add(_ unit: UInt16, _ start: Int) {
            units.append(unit); starts.append(Int32(truncatingIfNeeded: start))
        }

        /// One past the last raw byte encoding unit `i`: where the next encoded character starts
        /// (the two units of a surrogate pair share their bytes).
        func end(of i: Int) -> Int {
            var j = i + 1
            while j < starts.count, starts[j] == starts[i] { j += 1 }
            return j < starts.count ? Int(starts[j]) : close
        }
    }

    /// The value of the string whose opening quote is at `q`, and the index after its closing quote;
    /// nil when the literal is not well formed.
    static func decode(_ raw: [UInt8], quoteAt q: Int) -> (Int, Decoded)? {
        var d = Decoded()
        var i = q + 1
        while i < raw.count {
            let b = raw[i]
            if b == UInt8(ascii: "\"") { d.close = i; return (i + 1, d) }
            if b == UInt8(ascii: "\\") {
                guard i + 1 < raw.count else { return nil }
                let unit: UInt16
                var width = 2
                switch raw[i + 1] {
                case UInt8(ascii: "\""): unit = 0x22
                case UInt8(ascii: "\\"): unit = 0x5C
                case UInt8(ascii: "/"): unit = 0x2F
                case UInt8(ascii: "b"): unit = 0x08
                case UInt8(ascii: "f"): unit = 0x0C
                case UInt8(ascii: "n"): unit = 0x0A
                case UInt8(ascii: "r"): unit = 0x0D
                case UInt8(ascii: "t"): unit = 0x09
                case UInt8(ascii: "u"):
                    guard i + 6 <= raw.count, let v = UInt16(String(decoding: raw[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) else { return nil }
                    unit = v
                    width = 6
                default: return nil
                }
                d.add(unit, i)
                i += width
                continue
            }
            if b < 0x80 {
                d.add(UInt16(b), i)
                i += 1
                continue
            }
            let width = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            guard i + width <= raw.count else { return nil }
            let scalarText = String(decoding: raw[i..<(i + width)], as: UTF8.self)
            for unit in scalarText.utf16 { d.add(unit, i) }
            i += width
        }
        return nil
    }
}
