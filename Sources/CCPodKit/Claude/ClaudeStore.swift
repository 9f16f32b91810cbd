import Foundation

/// One project folder under `<config>/projects/`.
public struct ClaudeProject: Sendable, Equatable {
    /// The folder name (see `ProjectSlug`).
    public var slug: String
    public var url: URL
    /// `<slug>/memory/`, when it exists.
    public var memoryDir: URL?
}

/// A session and every file that belongs to it.
public struct SessionRef: Sendable, Equatable {
    /// The session id: the transcript's name without `.jsonl`.
    public var id: String
    /// The project folder it is in.
    public var slug: String
    /// `<slug>/<id>.jsonl`.
    public var transcript: URL
    /// `<slug>/<id>/subagents/*.jsonl`.
    public var subagents: [URL] = []
    /// `<slug>/<id>/tool-results/*`.
    public var toolResults: [URL] = []
    /// Legacy 2.0.x `<slug>/agent-*.jsonl` whose lines name this session.
    public var legacyAgents: [URL] = []
    /// `<config>/file-history/<id>/`, when it exists.
    public var fileHistoryDir: URL?
    /// `<config>/tasks/<id>/`, when it exists.
    public var tasksDir: URL?
    /// `<config>/todos/<id>-*.json`.
    public var todos: [URL] = []

    /// The session's JSONL files: transcript, subagents, legacy agent files.
    public var jsonlFiles: [URL] { [transcript] + subagents + legacyAgents }

    /// Every file and folder that belongs to the session.
    public var allItems: [URL] {
        jsonlFiles + toolResults + [fileHistoryDir, tasksDir].compactMap { $0 } + todos
    }
}

/// A read-only view of a Claude Code config dir: which projects and sessions exist, and
/// which files belong to each session. It never follows a symlink deeper than one folder
/// level and never recurses, so symlink loops cannot hang it.
public struct ClaudeStore: Sendable {
    public var root: URL

    public init(root: URL) {
        self.root = root
    }

    public var projectsDir: URL { root.appendingPathComponent("projects", isDirectory: true) }

    /// The project folders, sorted by slug. A slug folder reached twice (a symlink to another
    /// one, or a loop) is listed once.
    public func projects() -> [ClaudeProject] {
        var seen = Set<[UInt64]>()
        var result = [ClaudeProject]()
        for name in DirectoryEntries.names(projectsDir.path) where !name.hasPrefix(".") {
            let url = projectsDir.appendingPathComponent(name, isDirectory: true)
            // stat follows a symlink once; a loop fails with ELOOP and is skipped.
            guard let st = FileStat.of(url.path), st.isDirectory, seen.insert([st.device, st.inode]).inserted else { continue }
            let memory = url.appendingPathComponent("memory", isDirectory: true)
            result.append(ClaudeProject(
                slug: name, url: url,
                memoryDir: FileStat.of(memory.path)?.isDirectory == true ? memory : nil))
        }
        return result
    }

    /// The project with this slug, if its folder exists.
    public func project(slug: String) -> ClaudeProject? {
        let url = projectsDir.appendingPathComponent(slug, isDirectory: true)
        guard FileStat.of(url.path)?.isDirectory == true else { return nil }
        let memory = url.appendingPathComponent("memory", isDirectory: true)
        return ClaudeProject(slug: slug, url: url, memoryDir: FileStat.of(memory.path)?.isDirectory == true ? memory : nil)
    }

    /// The sessions of one project, sorted by id.
    /// - Parameter legacyAgentSession: tells which session a legacy `agent-*.jsonl` belongs to; by default
    ///   the first `sessionId` in its lines.
    public func sessions(in project: ClaudeProject, legacyAgentSession: ((URL) -> String?)? = nil) -> [SessionRef] {
        let todos = todoFilesBySession()
        return sessions(in: project, todos: todos, legacyAgentSession: legacyAgentSession ?? Self.firstSessionId)
    }

    /// Every session of every project.
    public func allSessions(legacyAgentSession: ((URL) -> String?)? = nil) -> [SessionRef] {
        let todos = todoFilesBySession()
        return projects().flatMap {
            sessions(in: $0, todos: todos, legacyAgentSession: legacyAgentSession ?? Self.firstSessionId)
        }
    }

    private func sessions(in project: ClaudeProject, todos: [String: [URL]], legacyAgentSession: (URL) -> String?) -> [SessionRef] {
        var sessions = [SessionRef]()
        var legacy = [URL]()
        for name in DirectoryEntries.names(project.url.path) where name.hasSuffix(".jsonl") && !name.hasPrefix(".") {
            let url = project.url.appendingPathComponent(name, isDirectory: false)
            guard FileStat.of(url.path)?.isRegularFile == true else { continue }
            if name.hasPrefix("agent-") { legacy.append(url); continue }
            let id = String(name.dropLast(".jsonl".count))
            var ref = SessionRef(id: id, slug: project.slug, transcript: url)
            let folder = project.url.appendingPathComponent(id, isDirectory: true)
            if FileStat.of(folder.path, followSymlinks: false)?.isDirectory == true {
                ref.subagents = files(in: folder.appendingPathComponent("subagents", isDirectory: true)) { $0.hasSuffix(".jsonl") }
                ref.toolResults = files(in: folder.appendingPathComponent("tool-results", isDirectory: true)) { _ in true }
            }
            ref.fileHistoryDir = existingDir(root.appendingPathComponent("file-history/\(id)", isDirectory: true))
            ref.tasksDir = existingDir(root.appendingPathComponent("tasks/\(id)", isDirectory: true))
            ref.todos = todos[id] ?? []
            sessions.append(ref)
        }
        if !legacy.isEmpty {
            var index = [String: Int]()
            for (i, s) in sessions.enumerated() { index[s.id] = i }
            for url in legacy {
                if let sid = legacyAgentSession(url), let i = index[sid] { sessions[i].legacyAgents.append(url) }
            }
        }
        return sessions
    }

    /// Legacy agent files whose session is not in their folder (orphans), per project.
    public func orphanLegacyAgents(in project: ClaudeProject, sessions: [SessionRef]) -> [URL] {
        let attached = Set(sessions.flatMap { $0.legacyAgents })
        return DirectoryEntries.names(project.url.path)
            .filter { $0.hasPrefix("agent-") && $0.hasSuffix(".jsonl") }
            .map { project.url.appendingPathComponent($0, isDirectory: false) }
            .filter { !attached.contains($0) }
    }

    private func files(in dir: URL, _ keep: (String) -> Bool) -> [URL] {
        guard FileStat.of(dir.path, followSymlinks: false)?.isDirectory == true else { return [] }
        return DirectoryEntries.names(dir.path).filter { !$0.hasPrefix(".") && keep($0) }
            .map { dir.appendingPathComponent($0, isDirectory: false) }
            .filter { FileStat.of($0.path, followSymlinks: false)?.isRegularFile == true }
    }

    private func existingDir(_ url: URL) -> URL? {
        FileStat.of(url.path, followSymlinks: false)?.isDirectory == true ? url : nil
    }

    /// `todos/<sessionId>-agent-<agentId>.json`, grouped by session id.
    private func todoFilesBySession() -> [String: [URL]] {
        let dir = root.appendingPathComponent("todos", isDirectory: true)
        var result = [String: [URL]]()
        for name in DirectoryEntries.names(dir.path) where name.hasSuffix(".json") {
            let id: Substring
            if let r = name.range(of: "-agent-") {
                id = name[..<r.lowerBound]
            } else if name.count > 37, name[name.index(name.startIndex, offsetBy: 36)] == "-" {
                id = name.prefix(36)
            } else {
                continue
            }
            result[String(id), default: []].append(dir.appendingPathComponent(name, isDirectory: false))
        }
        return result
    }

    /// The first `sessionId` in a file's lines (reading at most its first 64 lines).
    public static func firstSessionId(_ url: URL) -> String? {
        var found: String?
        var seen = 0
        _ = try? JSONLReader(url: url, bufferSize: 256 * 1024).read { line in
            seen += 1
            found = line.sessionId
            return found == nil && seen < 64
        }
        return found
    }
}
