import Foundation

/// What a pod process wrote on stderr, kept within bounds: its keepalive lines dropped
/// (they only say the pod is alive), the first and the last `limit / 2` bytes of the
/// rest kept, and what lies between counted ("… and N more bytes …").
struct PodStderr: Sendable {
    /// The line the pod scripts write on stderr every few seconds while they work.
    static let keepalive = Data("ccpod-alive".utf8)
    /// A line longer than this is kept in pieces (it cannot be a keepalive).
    static let lineLimit = 4096

    let limit: Int
    private var head = Data()
    private var tail = Data()
    private var line = Data()
    private var skipped = 0

    init(limit: Int = 64 * 1024) {
        self.limit = max(limit, 2)
    }

    /// Takes bytes as they come; keepalive lines are recognised across reads.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        while let newline = rest.firstIndex(of: 0x0A) {
            line.append(contentsOf: rest[rest.startIndex...newline])
            rest = rest[(newline + 1)...]
            if line.count != Self.keepalive.count + 1 || !line.starts(with: Self.keepalive) { keep(line) }
            line.removeAll(keepingCapacity: true)
        }
        line.append(contentsOf: rest)
        if line.count > Self.lineLimit {
            keep(line)
            line.removeAll(keepingCapacity: true)
        }
    }

    private mutating func keep(_ bytes: Data) {
        var bytes = bytes[...]
        let half = limit / 2
        if head.count < half {
            let take = min(half - head.count, bytes.count)
            head.append(contentsOf: bytes.prefix(take))
            bytes = bytes.dropFirst(take)
        }
        guard !bytes.isEmpty else { return }
        tail.append(contentsOf: bytes)
        // Trimmed in batches: the tail holds at most `limit` bytes, shown are its last `half`.
        if tail.count > limit {
            let excess = tail.count - half
            skipped += excess
            tail.removeFirst(excess)
        }
    }

    /// The text (invalid UTF-8 replaced), with a note where bytes were left out.
    var text: String {
        var end = tail
        end.append(line)
        let keep = limit - limit / 2
        let left = max(0, end.count - keep)
        let shown = end.suffix(keep)
        var out = String(decoding: head, as: UTF8.self)
        let more = skipped + left
        if more > 0 { out += "\n… and \(more) more bytes …\n" }
        out += String(decoding: shown, as: UTF8.self)
        return out
    }
}
