import Foundation

/// Summaries of session files kept between runs, so that listing thousands of sessions
/// costs a `stat` per file. An entry is used only while the file's size, mtime (ns) and
/// inode are unchanged, like git's index. Stored as one JSON file, written atomically, 0600.
public struct SessionMetadataCache: Sendable {
    struct Entry: Codable, Sendable {
        var size: Int64
        var mtime: Int64
        var inode: UInt64
        var summary: SessionSummary
    }

    struct Stored: Codable {
        var version: Int
        var entries: [String: Entry]
    }

    /// Bumped whenever `SessionSummary` or the reading rules change.
    static let formatVersion = 1

    /// Where the cache lives.
    public let url: URL
    private var entries: [String: Entry]
    private var used = Set<String>()
    private var changed = false

    /// `<state>/cache/sessions.json`.
    public static func defaultURL(stateDir: URL) -> URL {
        stateDir.appendingPathComponent("cache/sessions.json", isDirectory: false)
    }

    /// Loads the cache at `url`; a missing, unreadable or outdated cache is an empty one.
    public init(url: URL) {
        self.url = url
        if let data = try? Data(contentsOf: url),
            let stored = try? JSONDecoder().decode(Stored.self, from: data),
            stored.version == Self.formatVersion
        {
            entries = stored.entries
        } else {
            entries = [:]
        }
    }

    /// An in-memory cache that is never saved.
    public static func none() -> SessionMetadataCache {
        SessionMetadataCache(url: URL(fileURLWithPath: "/nonexistent/ccpod-no-cache"))
    }

    public var count: Int { entries.count }

    /// The cached summary of `url` when the file has not changed since.
    public mutating func cachedSummary(for url: URL, stat: FileStat) -> SessionSummary? {
        let key = url.path
        guard let e = entries[key], e.size == stat.size, e.mtime == stat.mtimeNanoseconds, e.inode == stat.inode else {
            return nil
        }
        used.insert(key)
        return e.summary
    }

    /// Records the summary of `url` read while the file had `stat`.
    public mutating func store(_ summary: SessionSummary, for url: URL, stat: FileStat) {
        entries[url.path] = Entry(size: stat.size, mtime: stat.mtimeNanoseconds, inode: stat.inode, summary: summary)
        used.insert(url.path)
        changed = true
    }

    /// The summary of `url`, from the cache or by reading the file (then cached).
    /// - Throws: `CCPodError` (exit 65) naming the file when it cannot be read.
    public mutating func summary(for url: URL) throws -> SessionSummary {
        guard let before = FileStat.of(url.path) else {
            throw CCPodError.badData("cannot read \(url.path): \(errnoText())")
        }
        if let s = cachedSummary(for: url, stat: before) { return s }
        let summary = try SessionSummary.read(url)
        if let after = FileStat.of(url.path), after == before { store(summary, for: url, stat: before) }
        return summary
    }

    /// Writes the cache if anything changed. With `pruneUnused`, entries not looked at in this
    /// run are dropped (use it after a run that looked at every file).
    public mutating func save(pruneUnused: Bool) throws {
        if pruneUnused, entries.count != used.count {
            entries = entries.filter { used.contains($0.key) }
            changed = true
        }
        guard changed, !url.path.hasPrefix("/nonexistent/") else { return }
        try CCPodLocations.makePrivateDirectory(url.deletingLastPathComponent())
        let data = try JSONEncoder().encode(Stored(version: Self.formatVersion, entries: entries))
        try AtomicFile.write(data, to: url, mode: 0o600)
        changed = false
    }
}
