import Foundation

/// Where each value of a JSON text lies, in bytes, so a settings file can be edited by
/// inserting and removing text without rewriting (and reformatting) the rest.
///
/// The text must already be known valid (`JSONSerialization` checked it); this scanner
/// only finds boundaries and throws on anything it does not expect.
struct JSONSpan: Sendable {
    enum Kind: Sendable { case object, array, string, scalar }

    var kind: Kind
    /// The value's first byte and one past its last.
    var start: Int
    var end: Int
    /// Objects: each member's key (decoded), where the key starts, and its value.
    var members: [Member] = []
    /// Arrays: the elements.
    var elements: [JSONSpan] = []

    struct Member: Sendable {
        var key: String
        var keyStart: Int
        var value: JSONSpan
    }

    func member(_ key: String) -> JSONSpan? { members.first { $0.key == key }?.value }

    struct Malformed: Error {}

    /// The spans of the whole text's value.
    static func parse(_ bytes: [UInt8]) throws -> JSONSpan {
        var scanner = Scanner(bytes: bytes)
        scanner.skipSpace()
        let value = try scanner.value(depth: 0)
        scanner.skipSpace()
        guard scanner.at == bytes.count else { throw Malformed() }
        return value
    }

    private struct Scanner {
        let bytes: [UInt8]
        var at = 0

        mutating func skipSpace() {
            while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
        }

        mutating func expect(_ byte: UInt8) throws {
            guard at < bytes.count, bytes[at] == byte else { throw Malformed() }
            at += 1
        }

        mutating func value(depth: Int) throws -> JSONSpan {
            guard at < bytes.count, depth < 512 else { throw Malformed() }
            let start = at
            switch bytes[at] {
            case UInt8(ascii: "{"):
                at += 1
                var span = JSONSpan(kind: .object, start: start, end: start)
                skipSpace()
                if at < bytes.count, bytes[at] == UInt8(ascii: "}") {
                    at += 1
                } else {
                    while true {
                        skipSpace()
                        let keyStart = at
                        let key = try string()
                        skipSpace()
                        try expect(UInt8(ascii: ":"))
                        skipSpace()
                        let member = try value(depth: depth + 1)
                        span.members.append(Member(key: decodeKey(keyStart, at: key), keyStart: keyStart, value: member))
                        skipSpace()
                        guard at < bytes.count else { throw Malformed() }
                        if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                        try expect(UInt8(ascii: "}"))
                        break
                    }
                }
                span.end = at
                return span
            case UInt8(ascii: "["):
                at += 1
                var span = JSONSpan(kind: .array, start: start, end: start)
                skipSpace()
                if at < bytes.count, bytes[at] == UInt8(ascii: "]") {
                    at += 1
                } else {
                    while true {
                        skipSpace()
                        span.elements.append(try value(depth: depth + 1))
                        skipSpace()
                        guard at < bytes.count else { throw Malformed() }
                        if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                        try expect(UInt8(ascii: "]"))
                        break
                    }
                }
                span.end = at
                return span
            case UInt8(ascii: "\""):
                let end = try string()
                return JSONSpan(kind: .string, start: start, end: end)
            default:
                while at < bytes.count, !",]} \t\r\n".utf8.contains(bytes[at]) { at += 1 }
                guard at > start else { throw Malformed() }
                return JSONSpan(kind: .scalar, start: start, end: at)
            }
        }

        /// Skips a string (at its opening quote); returns one past its closing quote.
        mutating func string() throws -> Int {
            try expect(UInt8(ascii: "\""))
            while at < bytes.count {
                switch bytes[at] {
                case UInt8(ascii: "\\"): at += 2
                case UInt8(ascii: "\""): at += 1; return at
                default: at += 1
                }
            }
            throw Malformed()
        }

        /// A key's text: its raw bytes, or decoded by Foundation when it has escapes.
        func decodeKey(_ start: Int, at end: Int) -> String {
            let raw = Array(bytes[start..<end])
            if !raw.contains(UInt8(ascii: "\\")) { return String(decoding: raw.dropFirst().dropLast(), as: UTF8.self) }
            return (try? JSONSerialization.jsonObject(with: Data(raw), options: [.fragmentsAllowed])) as? String ?? ""
        }
    }
}
