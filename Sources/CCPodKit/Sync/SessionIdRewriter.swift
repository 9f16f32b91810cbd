import Foundation

/// Gives a session's lines a new session id, and nothing else: every
/// `"sessionId":"<old>"` becomes `"sessionId":"<new>"`. Session ids are UUIDs of
/// equal length, so sizes and line offsets stay the same.
public struct SessionIdRewriter: Sendable {
    public let from: [UInt8]
    public let to: [UInt8]

    public init(from oldId: String, to newId: String) {
        self.from = Array("\"sessionId\":\"\(oldId)\"".utf8)
        self.to = Array("\"sessionId\":\"\(newId)\"".utf8)
    }

    public func rewrite(_ data: Data) -> Data {
        if from == to { return data }
        let bytes = [UInt8](data)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        let first = from[0]
        while i < bytes.count {
            if bytes[i] == first, i + from.count <= bytes.count, bytes[i..<(i + from.count)].elementsEqual(from) {
                out.append(contentsOf: to)
                i += from.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return Data(out)
    }

    /// Streams `length` bytes of `source` from `offset` through the rewrite into `write`,
    /// line by line with a bounded buffer.
    public func stream(file source: String, offset: Int64, length: Int64, _ write: (Data) throws -> Void) throws {
        var remaining = length
        var carry = Data()
        try FileRanges.read(source, offset: offset, length: length) { chunk in
            remaining -= Int64(chunk.count)
            carry.append(chunk)
            // Keep a partial line back so a pattern split across reads is still found.
            if let nl = carry.lastIndex(of: 0x0A), remaining > 0 {
                let ready = carry[carry.startIndex...nl]
                try write(rewrite(Data(ready)))
                carry = Data(carry[(nl + 1)...])
            }
        }
        if !carry.isEmpty { try write(rewrite(carry)) }
    }
}
