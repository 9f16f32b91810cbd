import Foundation

/// A local session that could be archived: its files and when it was last active.
public struct ArchiveCandidate: Sendable, Equatable {
    public var id: String
    public var slug: String
    public var project: String
    public var title: String?
    /// The latest modification of its transcript and subagent logs.
    public var lastActivity: Date
    /// The transcript's modification time: what Claude's cleanup sweep judges by.
    public var transcriptModified: Date
    /// Every file of the session, relative to the Claude dir: the transcript, its
    /// `<id>/` folder (subagents, tool results), legacy agent logs, `file-history/<id>/`,
    /// `tasks/<id>/`, `todos/<id>-…json`.
    public var files: [String]

    public init(id: String, slug: String, project: String, title: String? = nil, lastActivity: Date,
                transcriptModified: Date, files: [String]) {
        self.id = id
        self.slug = slug
        self.project = project
        self.title = title
        self.lastActivity = lastActivity
        self.transcriptModified = transcriptModified
        self.files = files
    }

    /// The sessions of one project (`slug`) or of all, with their files, from the Claude dir.
    public static func gather(claudeDir: URL, slug: String?, cache: SessionMetadataCache) throws -> (sessions: [ArchiveCandidate], unreadable: [String]) {
        var catalog = SessionCatalog(store: ClaudeStore(root: claudeDir), cache: cache)
        let listing = try catalog.list(slug: slug)
        let root = claudeDir.path
        var result: [ArchiveCandidate] = []
        for info in listing.sessions {
            let ref = info.ref
            var files = ["projects/\(ref.slug)/\(ref.id).jsonl"]
            for folder in ["projects/\(ref.slug)/\(ref.id)", "file-history/\(ref.id)", "tasks/\(ref.id)"] {
                guard FileStat.of(root + "/" + folder, followSymlinks: false)?.isDirectory == true else { continue }
                DirectoryEntries.walk(root: root, relative: folder) { path, _, stat in
                    if stat.isRegularFile { files.append(path) }
                    return stat.isDirectory
                }
            }
            files += ref.legacyAgents.map { "projects/\(ref.slug)/\($0.lastPathComponent)" }
            files += ref.todos.map { "todos/\($0.lastPathComponent)" }
            let logs = ref.jsonlFiles.compactMap { FileStat.of($0.path)?.mtimeNanoseconds }
            let latest = logs.max() ?? info.stat.mtimeNanoseconds
            result.append(ArchiveCandidate(
                id: ref.id, slug: ref.slug, project: info.projectPath, title: info.summary.title,
                lastActivity: Date(timeIntervalSince1970: Double(latest) / 1e9),
                transcriptModified: info.stat.modificationDate, files: files))
        }
        return (result, listing.unreadable.map(\.reason))
    }
}

/// Which sessions one `ccpod archive` takes (pure: candidates × the clock × what runs).
public enum ArchivePlan {
    public struct Decision: Sendable, Equatable {
        public var candidate: ArchiveCandidate
        /// nil: archived; else why it stays.
        public var skipped: String?
    }

    /// The sessions last active before `now - olderThan`, each with why it stays when it
    /// does: open in a running claude, changed in the last `busySeconds`, archived already.
    public static func select(_ candidates: [ArchiveCandidate], olderThan: TimeInterval, now: Date, live: Set<String>,
                              busySeconds: TimeInterval = 5, archived: Set<String> = []) -> [Decision] {
        candidates.filter { now.timeIntervalSince($0.lastActivity) >= olderThan }.map { c in
            if live.contains(c.id) { return Decision(candidate: c, skipped: "open in a running claude") }
            if now.timeIntervalSince(c.lastActivity) < busySeconds { return Decision(candidate: c, skipped: "changed in the last seconds") }
            if archived.contains(c.id) { return Decision(candidate: c, skipped: "archived already (an earlier run was interrupted)") }
            return Decision(candidate: c, skipped: nil)
        }
    }

    /// "30d", "12h", "90m", "45s", "2w": a duration in seconds.
    public static func parseAge(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        guard let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()), value >= 0, value.isFinite else {
            return nil
        }
        return value * scale
    }
}
