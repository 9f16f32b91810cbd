import Foundation

/// What both sides last agreed on, per file and per side, for one pod.
///
/// A pair joins a local file and a pod file. Usually both have the same path
/// (modulo the project's slug) and identical bytes; after a fork a local session
/// is paired with its sibling on the pod (and the other way round), whose lines
/// carry another session id, so each side keeps its own size and hash.
public struct AncestorPair: Sendable, Equatable, Codable {
    /// Path relative to the local Claude dir.
    public var localPath: String
    /// Path relative to the pod's Claude dir.
    public var podPath: String
    /// Session ids when the two sides' lines differ by session id (a fork's sibling).
    public var localSessionId: String?
    public var podSessionId: String?
    /// The agreed bytes, as each side has them.
    public var local: FileVersion
    public var pod: FileVersion
    /// Stats seen at the last sync: equal stats mean unchanged without reading the file.
    public var localSeen: LocalStat?
    public var podSeen: PodStat?

    public init(localPath: String, podPath: String, localSessionId: String? = nil, podSessionId: String? = nil,
                local: FileVersion, pod: FileVersion, localSeen: LocalStat?, podSeen: PodStat?) {
        self.localPath = localPath
        self.podPath = podPath
        self.localSessionId = localSessionId
        self.podSessionId = podSessionId
        self.local = local
        self.pod = pod
        self.localSeen = localSeen
        self.podSeen = podSeen
    }

    /// The rewriter for lines going from local to pod, when ids differ.
    var toPod: SessionIdRewriter? {
        guard let l = localSessionId, let p = podSessionId, l != p else { return nil }
        return SessionIdRewriter(from: l, to: p)
    }

    var toLocal: SessionIdRewriter? {
        guard let l = localSessionId, let p = podSessionId, l != p else { return nil }
        return SessionIdRewriter(from: p, to: l)
    }
}

/// The ancestor store of one pod: a text file under the state dir, written
/// atomically, one pair a line (read on every sync, so parsing it must cost next to
/// nothing: JSON took 30 ms for 500 sessions). Tab-separated fields:
///
///     localPath podPath localSessionId podSessionId localSize localSha256
///     podSize podSha256 localSeen(size,mtimeNs,inode) podSeenSize podSeenMtime
///
/// after a first line `ccpod-ancestors 2`; `-` for an absent value; `%`, tab and
/// newline in paths written as `%25`, `%09`, `%0A`. A store of an earlier ccpod
/// (`ancestors.json` beside it) is read once and replaced by the next save.
public struct AncestorStore: Sendable {
    public let file: URL
    /// Pairs by local path.
    public private(set) var pairs: [String: AncestorPair]
    private var byPodPath: [String: String]

    static let header = "ccpod-ancestors 2"

    /// The JSON store of ccpod before format 2, beside `file`.
    var legacyFile: URL { file.deletingLastPathComponent().appendingPathComponent("ancestors.json") }

    /// What loading or recording found wrong (a damaged line dropped, a record refused):
    /// sentences for the user; the files concerned are compared by content next time.
    public private(set) var warnings: [String] = []
    /// Lines were dropped on load: the next save rewrites the file without them.
    public private(set) var droppedLines = false

    /// Loads the store (an empty one when the file does not exist yet). A damaged line
    /// is dropped with a warning and the rest loads; only a file that is not a store
    /// of this format at all is refused.
    public init(file: URL) throws {
        self.file = file
        self.pairs = [:]
        self.byPodPath = [:]
        if let data = FileManager.default.contents(atPath: file.path) {
            guard let decoded = Self.decode(data) else {
                throw CCPodError.badData("the ancestor store \(file.path) is not a ccpod ancestor store of this version; move it aside to start over (every file will then be compared by content)")
            }
            droppedLines = !decoded.damaged.isEmpty
            for (line, problem) in decoded.damaged {
                warnings.append("the ancestor store \(file.path), line \(line): \(problem); the record was dropped (that file is compared by content next time)")
            }
            // `decode` checked every pair already.
            for pair in decoded.pairs { insert(pair) }
        } else if let data = FileManager.default.contents(atPath: legacyFile.path) {
            do {
                let decoded = try JSONDecoder().decode(Stored.self, from: data)
                guard decoded.version == 1 else {
                    throw CCPodError.badData("\(legacyFile.path) was written by another ccpod version (format \(decoded.version))")
                }
                for pair in decoded.pairs { set(pair) }
            } catch let error as CCPodError {
                throw error
            } catch {
                throw CCPodError.badData("the ancestor store \(legacyFile.path) is damaged (\(error)); move it aside to start over (every file will then be compared by content)")
            }
        }
    }

    private struct Stored: Codable {
        var version: Int
        var pairs: [AncestorPair]
    }

    public func pair(local path: String) -> AncestorPair? { pairs[path] }

    public func pair(pod path: String) -> AncestorPair? {
        byPodPath[path].flatMap { pairs[$0] }
    }

    /// Records a pair; a pair that is not well formed (`problem(with:)`) is not recorded
    /// (the file keeps its earlier agreement, or none) and says why in `warnings`.
    @discardableResult
    public mutating func set(_ pair: AncestorPair) -> Bool {
        var pair = pair
        // A seen stat only spares a read: one the pod did not give in full (a merge's
        // `-` mtime) is left out rather than stored.
        if let seen = pair.podSeen, seen.size < 0 || !PodStat.isWellFormed(mtime: seen.mtime) { pair.podSeen = nil }
        if let seen = pair.localSeen, seen.size < 0 { pair.localSeen = nil }
        if let problem = Self.problem(with: pair) {
            warnings.append("not recording an agreement for \(TerminalText.escape(pair.localPath)): \(problem); it is compared by content next time")
            return false
        }
        insert(pair)
        return true
    }

    /// Records a pair already checked, replacing what either of its paths had.
    private mutating func insert(_ pair: AncestorPair) {
        if let old = pairs[pair.localPath], old.podPath != pair.podPath { byPodPath[old.podPath] = nil }
        if let otherLocal = byPodPath[pair.podPath], otherLocal != pair.localPath { pairs[otherLocal] = nil }
        pairs[pair.localPath] = pair
        byPodPath[pair.podPath] = pair.localPath
    }

    /// Why a pair cannot be stored, or nil: sizes not negative, hashes 64 lowercase hex
    /// digits, relative paths without `..`, session ids of plain characters, seen stats
    /// well formed (a pod mtime as `find` prints it: digits, one optional fraction).
    public static func problem(with p: AncestorPair) -> String? {
        for path in [p.localPath, p.podPath] where !isStorablePath(path) { return "the path \(TerminalText.escape(path.debugDescription)) is not a safe relative path" }
        for v in [p.local, p.pod] {
            if v.size < 0 { return "a negative size" }
            if !isHex64(v.sha256) { return "a hash that is not 64 lowercase hex digits" }
        }
        for id in [p.localSessionId, p.podSessionId].compactMap({ $0 }) where !isPlainId(id) { return "a malformed session id" }
        if let seen = p.localSeen, seen.size < 0 { return "a negative local size" }
        if let seen = p.podSeen {
            if seen.size < 0 { return "a negative pod size" }
            if !PodStat.isWellFormed(mtime: seen.mtime) { return "a malformed pod modification time" }
        }
        return nil
    }

    /// `PodPathCheck.isSafeRelative`, except that tab and newline are allowed (escaped in the file).
    static func isStorablePath(_ path: String) -> Bool {
        PodPathCheck.isSafeRelative(path, allowingTabAndNewline: true)
    }

    static func isHex64(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    static func isPlainId(_ s: String) -> Bool {
        !s.isEmpty && s != "-" && s.utf8.count <= 128
            && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
    }

    public mutating func remove(local path: String) {
        if let old = pairs.removeValue(forKey: path) { byPodPath[old.podPath] = nil }
    }

    public func save() throws {
        try CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        try AtomicFile.write(Self.encode(pairs.values.sorted { $0.localPath < $1.localPath }), to: file)
        try? FileManager.default.removeItem(at: legacyFile)
    }

    // MARK: - The text format

    static func encode(_ pairs: [AncestorPair]) -> Data {
        var out = header + "\n"
        for p in pairs {
            let localSeen = p.localSeen.map { "\($0.size),\($0.mtimeNs),\($0.inode)" } ?? "-"
            let fields = [
                escape(p.localPath), escape(p.podPath), p.localSessionId ?? "-", p.podSessionId ?? "-",
                String(p.local.size), p.local.sha256, String(p.pod.size), p.pod.sha256,
                localSeen, p.podSeen.map { String($0.size) } ?? "-", p.podSeen?.mtime ?? "-",
            ]
            out += fields.joined(separator: "\t")
            out += "\n"
        }
        return Data(out.utf8)
    }

    /// The pairs of a format-2 store, and its damaged lines (number, what is wrong),
    /// which are left out; nil when the file does not start with the format's header.
    static func decode(_ data: Data) -> (pairs: [AncestorPair], damaged: [(line: Int, problem: String)])? {
        // Byte offsets into one contiguous buffer: `Data.split` costs ~20 ms on the
        // 200 KB store of 500 sessions, this ~2 ms.
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> (pairs: [AncestorPair], damaged: [(line: Int, problem: String)])? in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let headerEnd = bytes.firstIndex(of: 0x0A),
                  String(decoding: UnsafeBufferPointer(rebasing: bytes[..<headerEnd]), as: UTF8.self) == header else { return nil }
            var pairs: [AncestorPair] = []
            var damaged: [(line: Int, problem: String)] = []
            var fields: [String] = []
            fields.reserveCapacity(11)
            var lineStart = headerEnd + 1
            var number = 1
            while lineStart < bytes.count {
                number += 1
                fields.removeAll(keepingCapacity: true)
                var fieldStart = lineStart
                var i = lineStart
                while i < bytes.count, bytes[i] != 0x0A {
                    if bytes[i] == 0x09 {
                        fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[fieldStart..<i]), as: UTF8.self))
                        fieldStart = i + 1
                    }
                    i += 1
                }
                let torn = i == bytes.count
                fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[fieldStart..<i]), as: UTF8.self))
                lineStart = i + 1
                if torn {
                    damaged.append((number, "the line was cut short"))
                } else if let pair = Self.pair(fields) {
                    if let problem = problem(with: pair) {
                        damaged.append((number, problem))
                    } else {
                        pairs.append(pair)
                    }
                } else {
                    damaged.append((number, "the line is not as ccpod writes it"))
                }
            }
            return (pairs, damaged)
        }
    }

    /// One line's eleven fields as a pair; nil when they are not as `encode` writes them.
    private static func pair(_ f: [String]) -> AncestorPair? {
        guard f.count == 11, let localPath = unescape(f[0]), let podPath = unescape(f[1]),
              let localSize = Int64(f[4]), let podSize = Int64(f[6]) else { return nil }
        var localSeen: LocalStat?
        if f[8] != "-" {
            let s = f[8].split(separator: ",")
            guard s.count == 3, let size = Int64(s[0]), let mtime = Int64(s[1]), let inode = UInt64(s[2]) else { return nil }
            localSeen = LocalStat(size: size, mtimeNs: mtime, inode: inode)
        }
        var podSeen: PodStat?
        if f[9] != "-" {
            guard let size = Int64(f[9]), f[10] != "-" else { return nil }
            podSeen = PodStat(size: size, mtime: f[10])
        }
        return AncestorPair(
            localPath: localPath, podPath: podPath, localSessionId: f[2] == "-" ? nil : f[2], podSessionId: f[3] == "-" ? nil : f[3],
            local: FileVersion(size: localSize, sha256: f[5]), pod: FileVersion(size: podSize, sha256: f[7]),
            localSeen: localSeen, podSeen: podSeen)
    }

    static func escape(_ path: String) -> String {
        guard path.utf8.contains(where: { $0 == 0x25 || $0 == 0x09 || $0 == 0x0A }) else { return path }
        var out = ""
        for c in path.unicodeScalars {
            switch c {
            case "%": out += "%25"
            case "\t": out += "%09"
            case "\n": out += "%0A"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func unescape(_ field: String) -> String? {
        guard field.utf8.contains(0x25) else { return field }
        var out = ""
        var it = field.unicodeScalars.makeIterator()
        while let c = it.next() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            guard let a = it.next(), let b = it.next() else { return nil }
            switch "\(a)\(b)" {
            case "25": out += "%"
            case "09": out += "\t"
            case "0A": out += "\n"
            default: return nil
            }
        }
        return out
    }
}

extension PodStat {
    /// A modification time as the agent's `find -printf %T@` prints it: digits with
    /// one optional fraction (a minus sign first before 1970).
    static func isWellFormed(mtime: String) -> Bool {
        var utf8 = Substring(mtime).utf8
        if utf8.first == 0x2D { utf8 = utf8.dropFirst() }
        guard mtime.utf8.count <= 40, let first = utf8.first, (0x30...0x39).contains(first) else { return false }
        var dots = 0
        for b in utf8 {
            if b == 0x2E { dots += 1; continue }
            guard (0x30...0x39).contains(b) else { return false }
        }
        return dots <= 1 && utf8.last != 0x2E
    }
}
