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

/// The ancestor store of one pod: a JSON file under the state dir, written atomically.
public struct AncestorStore: Sendable {
    public let file: URL
    /// Pairs by local path.
    public private(set) var pairs: [String: AncestorPair]
    private var byPodPath: [String: String]

    /// Loads the store (an empty one when the file does not exist yet).
    public init(file: URL) throws {
        self.file = file
        self.pairs = [:]
        self.byPodPath = [:]
        guard let data = FileManager.default.contents(atPath: file.path) else { return }
        do {
            let decoded = try JSONDecoder().decode(Stored.self, from: data)
            guard decoded.version == 1 else {
                throw CCPodError.badData("\(file.path) was written by another ccpod version (format \(decoded.version))")
            }
            for pair in decoded.pairs { set(pair) }
        } catch let error as CCPodError {
            throw error
        } catch {
            throw CCPodError.badData("the ancestor store \(file.path) is damaged (\(error)); move it aside to start over (every file will then be compared by content)")
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Stored(version: 1, pairs: pairs.values.sorted { $0.localPath < $1.localPath }))
        try AtomicFile.write(data, to: file)
    }
}
