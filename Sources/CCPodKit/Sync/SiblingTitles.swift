import Foundation

/// Custom titles stay with the session that wrote them. A pair whose two sides carry
/// different session ids joins a session with its sibling (a fork's, or the pod's
/// session arriving under a new id); when the real claude resumes one of them it
/// writes that session's `{"type":"custom-title",…}` line again, and carried over,
/// the line would rename the other ("… (from pod)" on the laptop's own session).
/// Between such a pair, title lines do not cross: the lines that move lose them.
/// (The sides' bytes then differ by more than ids: the pod reports its own hash for
/// these files, option `hashed` of the agent.)
struct SiblingTitles {
    private var carry = Data()

    /// Whether one line (without its newline) is a custom-title line.
    static func isTitleLine<Bytes: Collection>(_ line: Bytes) -> Bool where Bytes.Element == UInt8 {
        let marker = Array("\"custom-title\"".utf8)
        guard line.count < 65_536, line.first == UInt8(ascii: "{") else { return false }
        let bytes = Array(line)
        guard bytes.firstRange(of: marker) != nil,
              let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return false }
        return object["type"] as? String == "custom-title"
    }

    /// Complete lines without their custom-title lines.
    static func removing(from data: Data) -> Data {
        var filter = SiblingTitles()
        var out = Data()
        filter.feed(data) { out.append($0) }
        filter.finish { out.append($0) }
        return out
    }

    /// Feeds a stream in pieces; whole lines that are not titles go to `write`.
    mutating func feed(_ chunk: Data, _ write: (Data) throws -> Void) rethrows {
        carry.append(chunk)
        guard let last = carry.lastIndex(of: 0x0A) else { return }
        var kept = Data()
        var start = carry.startIndex
        while start <= last, let nl = carry[start...last].firstIndex(of: 0x0A) {
            let line = carry[start..<nl]
            if !Self.isTitleLine(line) { kept.append(carry[start...nl]) }
            start = nl + 1
        }
        carry = Data(carry[(last + 1)...])
        if !kept.isEmpty { try write(kept) }
    }

    /// The end of the stream: a last piece without a newline goes as it is.
    mutating func finish(_ write: (Data) throws -> Void) rethrows {
        if !carry.isEmpty { try write(carry) }
        carry = Data()
    }
}
