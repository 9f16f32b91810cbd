import Crypto
import Foundation

/// The prompt log read and merged line by line with bounded memory: what is kept of
/// a file is a 16-byte key hash per line (and, for the pod's lines being added, where
/// they lie in the received file), never the lines themselves. The result is the
/// same as `HistoryLog.merge` on the whole files. A line over `lineLimit` is kept as
/// it is but not parsed: its key is the whole line, it has no timestamp and it is
/// never translated.
enum HistoryStream {
    static let lineLimit = 1 << 20

    /// A line's identity for merging: the first 16 bytes of the SHA-256 of its key.
    struct Key: Hashable {
        var a: UInt64
        var b: UInt64

        init(digest: SHA256.Digest) {
            var a: UInt64 = 0
            var b: UInt64 = 0
            for (i, byte) in digest.prefix(16).enumerated() {
                if i < 8 { a = a << 8 | UInt64(byte) } else { b = b << 8 | UInt64(byte) }
            }
            self.a = a
            self.b = b
        }

        init(key: Data) { self.init(digest: SHA256.hash(data: key)) }
    }

    /// One complete, non-empty line of a file.
    struct Line {
        var offset: Int64
        /// Without its newline.
        var length: Int64
        /// Its bytes; nil for a line over `lineLimit`.
        var bytes: Data?
        /// The hash of the whole raw line (only for a line over the limit).
        var rawKey: Key?
    }

    /// Calls `body` for each complete non-empty line of the first `length` bytes of `file`
    /// (a last line without its newline is left out, as `HistoryLog.lines` does).
    static func forEachLine(_ file: String, length: Int64, _ body: (Line) throws -> Void) throws {
        var current = Data()
        var start: Int64 = 0
        var oversize: SHA256?
        var position: Int64 = 0
        try FileRanges.forEachChunk(file, length: length) { chunk in
            var from = 0
            while from < chunk.count {
                let rest = UnsafeRawBufferPointer(rebasing: chunk[from...])
                let newline = rest.firstIndex(of: 0x0A)
                let segment = UnsafeRawBufferPointer(rebasing: rest[..<(newline ?? rest.count)])
                if oversize == nil, current.count + segment.count > lineLimit {
                    var hasher = SHA256()
                    hasher.update(data: current)
                    current = Data()
                    oversize = hasher
                }
                if oversize != nil { oversize!.update(bufferPointer: segment) } else { current.append(contentsOf: segment) }
                position += Int64(segment.count)
                guard newline != nil else { break }
                let lineLength = position - start
                if lineLength > 0 {
                    if let hasher = oversize {
                        try body(Line(offset: start, length: lineLength, bytes: nil, rawKey: Key(digest: hasher.finalize())))
                    } else {
                        try body(Line(offset: start, length: lineLength, bytes: current))
                    }
                }
                position += 1
                start = position
                current = Data()
                oversize = nil
                from += segment.count + 1
            }
        }
    }

    /// The key of a line (after translation, for a parsed one).
    static func key(_ line: Line, translated: Data?) -> Key {
        if let raw = line.rawKey { return raw }
        return Key(key: HistoryLog.key(translated ?? line.bytes ?? Data()))
    }

    /// What one read of the local log tells: its complete length, their hash, the
    /// keys of its lines and its latest timestamp.
    struct LocalState {
        var stat: LocalStat
        var complete: Int64
        var sha: String
        var keys: Set<Key> = []
        /// The latest timestamp of its lines (`Int64.min` without any).
        var latest = Int64.min
    }

    static func readLocal(_ file: String) throws -> LocalState? {
        guard let stat = LocalStat.of(file) else { return nil }
        let complete = try LocalTree.completeLength(file, size: stat.size)
        var state = LocalState(stat: stat, complete: complete, sha: try FileRanges.hash(file, length: complete))
        try forEachLine(file, length: complete) { line in
            state.keys.insert(key(line, translated: nil))
            if let bytes = line.bytes, let ts = HistoryLog.timestamp(bytes) { state.latest = max(state.latest, ts) }
        }
        return state
    }

    /// A line of the pod's to be added here: where it lies in the received file, and its place.
    struct Incoming {
        var timestamp: Int64
        var order: Int
        var line: Line
    }

    /// The pod's lines (first `length` bytes of `file`) whose key `keys` lacks, once per
    /// key, in the order they are placed (by timestamp, stable; none: last).
    static func missing(in file: String, length: Int64, from keys: inout Set<Key>, translation: HistoryTranslation) throws -> [Incoming] {
        var adding: [Incoming] = []
        try forEachLine(file, length: length) { line in
            let translated = line.bytes.map(translation.toLocal)
            guard keys.insert(key(line, translated: translated)).inserted else { return }
            // Kept without its bytes: read again when written.
            var kept = line
            kept.bytes = nil
            adding.append(Incoming(timestamp: translated.flatMap(HistoryLog.timestamp) ?? Int64.max, order: adding.count, line: kept))
        }
        return adding.sorted { ($0.timestamp, $0.order) < ($1.timestamp, $1.order) }
    }

    /// Writes an incoming line (translated to local form) and its newline through `put`.
    static func write(_ incoming: Incoming, from file: String, translation: HistoryTranslation, _ put: (Data) throws -> Void) throws {
        let line = incoming.line
        if line.length > Int64(lineLimit) {
            try FileRanges.read(file, offset: line.offset, length: line.length, put)
        } else {
            try put(translation.toLocal(try FileRanges.data(file, offset: line.offset, length: line.length)))
        }
        try put(Data([0x0A]))
    }

    /// Writes the local log's lines with the incoming ones placed among them, as
    /// `HistoryLog.merge` orders them: an incoming line goes before the first own line
    /// whose timestamp (or its predecessor's, for one without) is later.
    static func merge(own file: String, length: Int64, incoming: [Incoming], from podFile: String,
                      translation: HistoryTranslation, _ put: (Data) throws -> Void) throws {
        var next = 0
        var ownTimestamp = Int64.min
        try forEachLine(file, length: length) { line in
            let ts = line.bytes.flatMap(HistoryLog.timestamp) ?? ownTimestamp
            while next < incoming.count, incoming[next].timestamp < ts {
                try write(incoming[next], from: podFile, translation: translation, put)
                next += 1
            }
            if let bytes = line.bytes {
                try put(bytes)
            } else {
                try FileRanges.read(file, offset: line.offset, length: line.length, put)
            }
            try put(Data([0x0A]))
            ownTimestamp = ts
        }
        while next < incoming.count {
            try write(incoming[next], from: podFile, translation: translation, put)
            next += 1
        }
    }
}
