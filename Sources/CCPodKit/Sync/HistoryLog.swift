import Foundation

/// Claude Code's prompt log, `<claude>/history.jsonl`: one JSON object per prompt
/// (`display`, `pastedContents`, `timestamp` in ms, `project`, …), appended as the
/// user types. Unlike a transcript it is shared by every project and written on
/// both sides, so it is merged by line instead of forked: each side keeps every
/// line it has, byte for byte, and gains the other side's lines it lacks, in
/// timestamp order.
///
/// Two lines are the same prompt when they are equal without their `project`
/// value (the *key*): a prompt carried to the pod under a translated project (see
/// `HistoryTranslation`) is never added back as a second line. The pod's agent
/// computes the same key with `sed 's/"project":"[^"]*"//'`, so both sides agree
/// on what a duplicate is.
public enum HistoryLog {
    /// The file, relative to the Claude dir, on both sides.
    public static let path = "history.jsonl"

    /// The complete lines of `data` (without their newline); a torn last line is left out.
    public static func lines(of data: Data) -> [Data] {
        var result: [Data] = []
        var start = data.startIndex
        while let nl = data[start...].firstIndex(of: 0x0A) {
            if nl > start { result.append(Data(data[start..<nl])) }
            start = nl + 1
        }
        return result
    }

    private static let projectKey = Array("\"project\":\"".utf8)
    private static let timestampKey = Array("\"timestamp\":".utf8)

    /// The line without its first `"project":"…"` member (up to the next quote, as
    /// the agent's sed does).
    public static func key(_ line: Data) -> Data {
        let bytes = [UInt8](line)
        guard let start = find(projectKey, in: bytes, from: 0) else { return line }
        let valueStart = start + projectKey.count
        guard let end = bytes[valueStart...].firstIndex(of: 0x22) else { return line }
        return Data(bytes[..<start] + bytes[(end + 1)...])
    }

    /// The line's `timestamp` in milliseconds (its last numeric `"timestamp":`, as the
    /// agent's greedy sed finds it); nil when it has none.
    public static func timestamp(_ line: Data) -> Int64? {
        let bytes = [UInt8](line)
        var found: Int64?
        var from = 0
        while let at = find(timestampKey, in: bytes, from: from) {
            var i = at + timestampKey.count
            var value: Int64 = 0
            var digits = 0
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39, digits < 18 {
                value = value * 10 + Int64(bytes[i] - 0x30)
                i += 1
                digits += 1
            }
            if digits > 0 { found = value }
            from = at + 1
        }
        return found
    }

    /// The result of merging another side's lines into one side's file.
    public struct Merge: Sendable, Equatable {
        /// Every line of the side, in its order, with the added lines among them.
        public var lines: [Data]
        /// The other side's lines this side lacked (in the order they were placed).
        public var added: [Data]
        /// True when every added line comes after the side's own lines (an append).
        public var isAppend: Bool

        public var content: Data { HistoryLog.content(lines) }
    }

    /// Merges `incoming` into `own`: `own` keeps every line and its order; each
    /// incoming line whose key `own` lacks (once per key) is placed by timestamp,
    /// after own lines of the same timestamp. A line without a timestamp stays right
    /// after its predecessor in its own file; an incoming one without any goes last.
    public static func merge(own: [Data], incoming: [Data]) -> Merge {
        var keys = Set(own.map(key))
        var adding: [(ts: Int64, line: Data)] = []
        for line in incoming {
            let k = key(line)
            guard !keys.contains(k) else { continue }
            keys.insert(k)
            adding.append((timestamp(line) ?? Int64.max, line))
        }
        guard !adding.isEmpty else { return Merge(lines: own, added: [], isAppend: true) }
        // Stable: equal timestamps keep the incoming order.
        let sorted = adding.enumerated().sorted { ($0.element.ts, $0.offset) < ($1.element.ts, $1.offset) }.map(\.element)
        var result: [Data] = []
        result.reserveCapacity(own.count + sorted.count)
        var next = 0
        var ownTs: Int64 = Int64.min
        var firstAddedAt: Int?
        // Like `sort -m -s -n`: take the incoming line when it is strictly earlier than the own line.
        for line in own {
            let ts = timestamp(line) ?? ownTs
            while next < sorted.count, sorted[next].ts < ts {
                if firstAddedAt == nil { firstAddedAt = result.count }
                result.append(sorted[next].line)
                next += 1
            }
            result.append(line)
            ownTs = ts
        }
        if firstAddedAt == nil { firstAddedAt = result.count }
        while next < sorted.count {
            result.append(sorted[next].line)
            next += 1
        }
        return Merge(lines: result, added: sorted.map(\.line), isAppend: firstAddedAt == own.count)
    }

    /// Lines of `lines` whose key is not in `known`, once per key, in order.
    public static func missing(_ lines: [Data], from known: Set<Data>) -> [Data] {
        var seen = known
        var result: [Data] = []
        for line in lines {
            let k = key(line)
            if seen.insert(k).inserted { result.append(line) }
        }
        return result
    }

    /// Lines joined with a newline after each.
    public static func content(_ lines: [Data]) -> Data {
        var out = Data()
        out.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            out.append(line)
            out.append(0x0A)
        }
        return out
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard needle.count <= bytes.count, from <= bytes.count - needle.count else { return nil }
        let first = needle[0]
        var i = from
        let last = bytes.count - needle.count
        while i <= last {
            if bytes[i] == first, bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}

/// Rewrites the `project` of history lines between a mapped project's local path
/// and its pod path (`.ccpod.toml` `pod_path`, `--pod-path`, the latest run).
///
/// Decision: lines of a mapped project ARE translated. Claude Code's up-arrow
/// offers the prompts whose `project` is the current project, and ccpod files the
/// project's sessions under the pod path's slug so they resume there; a prompt
/// typed in `/Users/me/app` therefore arrives on the pod as typed in
/// `/workspace/runs/app/code` (and back), and up-arrow works on both sides. Only
/// the `project` value changes (the path itself or a folder below it); every other
/// byte stays. Duplicates are told by the key without `project`, so a translated
/// line, or one translated under an older mapping, never comes back twice.
/// Unmapped projects (same path on both sides) are left alone.
public struct HistoryTranslation: Sendable {
    /// (local path, pod path) as JSON string bytes without quotes.
    let pairs: [(local: [UInt8], pod: [UInt8])]

    public init(mappings: [ProjectMapping]) {
        var seen = Set<String>()
        var pairs: [(local: [UInt8], pod: [UInt8])] = []
        for m in mappings {
            guard let l = m.localPath, let p = m.podPath, l != p, l.hasPrefix("/"), p.hasPrefix("/"),
                  seen.insert(l).inserted else { continue }
            pairs.append((Self.jsonBody(l), Self.jsonBody(p)))
        }
        self.pairs = pairs
    }

    public var isEmpty: Bool { pairs.isEmpty }

    /// The string as it appears between the quotes of a JSON value (as `JSON.stringify` writes it).
    static func jsonBody(_ s: String) -> [UInt8] {
        let data = (try? JSONEncoder.withoutEscapingSlashes.encode(s)) ?? Data(s.utf8)
        return Array(data.dropFirst().dropLast())
    }

    public func toPod(_ line: Data) -> Data { swap(line, local: true) }
    public func toLocal(_ line: Data) -> Data { swap(line, local: false) }

    private static let member = Array("\"project\":\"".utf8)

    private func swap(_ line: Data, local fromLocal: Bool) -> Data {
        guard !pairs.isEmpty else { return line }
        let bytes = [UInt8](line)
        guard let at = HistoryLog.find(Self.member, in: bytes, from: 0) else { return line }
        let start = at + Self.member.count
        for pair in pairs {
            let (from, to) = fromLocal ? (pair.local, pair.pod) : (pair.pod, pair.local)
            let end = start + from.count
            guard end < bytes.count, bytes[start..<end].elementsEqual(from) else { continue }
            // The path itself, or a folder below it.
            guard bytes[end] == 0x22 || bytes[end] == 0x2F else { continue }
            return Data(bytes[..<start] + to + bytes[end...])
        }
        return line
    }
}

extension JSONEncoder {
    static var withoutEscapingSlashes: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }
}
