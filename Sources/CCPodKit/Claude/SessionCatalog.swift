import Dispatch
import Foundation

/// A session with what its transcript says.
public struct SessionInfo: Sendable {
    public var ref: SessionRef
    public var summary: SessionSummary
    public var stat: FileStat

    /// The project path from the lines' `cwd`, else the folder's slug.
    public var projectPath: String { summary.projectPath ?? ref.slug }
    /// The latest timestamp in the lines, else the file's mtime.
    public var lastActivity: Date { summary.lastTimestamp ?? stat.modificationDate }
}

/// A session file that could not be read.
public struct UnreadableFile: Sendable, Equatable {
    public var url: URL
    public var reason: String
}

/// Lists sessions with their summaries, reading only files that changed since the cache saw them.
public struct SessionCatalog: Sendable {
    public var store: ClaudeStore
    public var cache: SessionMetadataCache

    public init(store: ClaudeStore, cache: SessionMetadataCache) {
        self.store = store
        self.cache = cache
    }

    /// The result of a listing.
    public struct Listing: Sendable {
        /// Sorted by last activity, newest first.
        public var sessions: [SessionInfo]
        public var unreadable: [UnreadableFile]
    }

    /// Lists the sessions of one project folder (`slug`), or of all projects when `slug` is nil,
    /// then saves the cache.
    public mutating func list(slug: String?) throws -> Listing {
        let projects: [ClaudeProject]
        if let slug {
            projects = store.project(slug: slug).map { [$0] } ?? []
        } else {
            projects = store.projects()
        }
        // Summaries of every JSONL file at the top of each project folder (transcripts and legacy agent files).
        var files = [URL]()
        for p in projects {
            for name in DirectoryEntries.names(p.url.path) where name.hasSuffix(".jsonl") && !name.hasPrefix(".") {
                files.append(p.url.appendingPathComponent(name, isDirectory: false))
            }
        }
        let (summaries, unreadable) = summarize(files)
        var sessions = [SessionInfo]()
        for p in projects {
            let refs = store.sessions(in: p) { url in summaries[url.path]?.1.sessionIds.first }
            for ref in refs {
                guard let (stat, summary) = summaries[ref.transcript.path] else { continue }
                sessions.append(SessionInfo(ref: ref, summary: summary, stat: stat))
            }
        }
        sessions.sort { ($0.lastActivity, $0.ref.id) > ($1.lastActivity, $1.ref.id) }
        try? cache.save(pruneUnused: slug == nil)
        return Listing(sessions: sessions, unreadable: unreadable.sorted { $0.url.path < $1.url.path })
    }

    /// Summaries for `files`: cached ones directly, the others read in parallel.
    mutating func summarize(_ files: [URL]) -> ([String: (FileStat, SessionSummary)], [UnreadableFile]) {
        var result = [String: (FileStat, SessionSummary)]()
        var unreadable = [UnreadableFile]()
        var toRead = [(URL, FileStat)]()
        for url in files {
            guard let st = FileStat.of(url.path), st.isRegularFile else { continue }
            if let s = cache.cachedSummary(for: url, stat: st) {
                result[url.path] = (st, s)
            } else {
                toRead.append((url, st))
            }
        }
        let results = ParallelResults<Result<SessionSummary, CCPodError>>(count: toRead.count)
        let work = toRead
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            do {
                results.set(i, .success(try SessionSummary.read(work[i].0)))
            } catch let error as CCPodError {
                results.set(i, .failure(error))
            } catch {
                results.set(i, .failure(CCPodError.badData("cannot read \(work[i].0.path): \(error)")))
            }
        }
        for (i, (url, before)) in work.enumerated() {
            switch results.get(i) {
            case .success(let summary):
                result[url.path] = (before, summary)
                if FileStat.of(url.path) == before { cache.store(summary, for: url, stat: before) }
            case .failure(let error):
                unreadable.append(UnreadableFile(url: url, reason: error.message))
            case nil:
                break
            }
        }
        return (result, unreadable)
    }
}

/// Slots filled from `DispatchQueue.concurrentPerform` workers.
final class ParallelResults<T: Sendable>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: T) {
        lock.lock(); defer { lock.unlock() }
        slots[i] = value
    }

    func get(_ i: Int) -> T? {
        lock.lock(); defer { lock.unlock() }
        return slots[i]
    }
}
