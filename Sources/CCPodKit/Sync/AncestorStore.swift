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

    /// Loads the store (an empty one when the file does not exist yet).
    public init(file: URL) throws {
        self.file = file
        self.pairs = [:]
        self.byPodPath = [:]
        if let data = FileManager.default.contents(atPath: file.path) {
            guard let decoded = Self.decode(data) else {
                throw CCPodError.badData("the ancestor store \(file.path) is damaged; move it aside to start over (every file will then be compared by content)")
            }
            for pair in decoded { set(pair) }
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

    public mutating func set(_ pair: AncestorPair) {
        if let old = pairs[pair.localPath], old.podPath != pair.podPath { byPodPath[old.podPath] = nil }
        if let otherLocal = byPodPath[pair.podPath], otherLocal != pair.localPath { pairs[otherLocal] = nil }
        pairs[pair.localPath] = pair
        byPodPath[pair.podPath] = pair.localPath
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

    /// The pairs of a format-2 store; nil when anything in it is not as `encode` writes it.
    static func decode(_ data: Data) -> [AncestorPair]? {
        // Byte offsets into one contiguous buffer: `Data.split` costs ~20 ms on the
        // 200 KB store of 500 sessions, this ~2 ms.
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [AncestorPair]? in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let headerEnd = bytes.firstIndex(of: 0x0A),
                  String(decoding: UnsafeBufferPointer(rebasing: bytes[..<headerEnd]), as: UTF8.self) == header,
                  bytes.last == 0x0A else { return nil }
            var pairs: [AncestorPair] = []
            var fields: [String] = []
            fields.reserveCapacity(11)
            var lineStart = headerEnd + 1
            while lineStart < bytes.count {
                fields.removeAll(keepingCapacity: true)
                var fieldStart = lineStart
                var i = lineStart
                while bytes[i] != 0x0A {
                    if bytes[i] == 0x09 {
                        fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[fieldStart..<i]), as: UTF8.self))
                        fieldStart = i + 1
                    }
                    i += 1
                }
                fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[fieldStart..<i]), as: UTF8.self))
                lineStart = i + 1
                guard let pair = Self.pair(fields) else { return nil }
                pairs.append(pair)
            }
            return pairs
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
