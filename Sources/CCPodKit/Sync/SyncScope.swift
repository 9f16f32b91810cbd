import Foundation

/// A project's sessions folder at home and on the pod: bytes identical, only the
/// slug folder differs (`projects/<localSlug>` ↔ `projects/<podSlug>`).
public struct ProjectMapping: Sendable, Equatable, Codable {
    public var localSlug: String
    public var podSlug: String
    /// The project's directory on each side, when known (for messages).
    public var localPath: String?
    public var podPath: String?

    public init(localSlug: String, podSlug: String, localPath: String? = nil, podPath: String? = nil) {
        self.localSlug = localSlug
        self.podSlug = podSlug
        self.localPath = localPath
        self.podPath = podPath
    }
}

/// Which files a sync looks at, and how local paths map to pod paths.
public struct SyncScope: Sendable {
    /// The projects in scope; empty with `all` means every project.
    public var projects: [ProjectMapping]
    /// Every project on both sides (mapped ones through `projects`, others by their own slug).
    public var all: Bool
    /// Only this session (and its folders).
    public var sessionId: String?

    /// How the user's Claude config (`settings.json`, `CLAUDE.md`, `commands/`, …) travels.
    public enum UserConfig: String, Sendable, CaseIterable {
        /// Sent to the pod, never brought home (the default).
        case push
        /// Both ways, like sessions.
        case both
        /// Left alone.
        case none
    }

    public var userConfig: UserConfig

    public init(projects: [ProjectMapping], all: Bool = false, sessionId: String? = nil, userConfig: UserConfig = .push) {
        self.projects = projects
        self.all = all
        self.sessionId = sessionId
        self.userConfig = userConfig
    }

    /// The user-level config worth carrying (never credentials, `.claude.json` or `settings.local.json`).
    public static let userConfigItems = ["settings.json", "CLAUDE.md", "commands", "agents", "skills", "output-styles"]

    static func isUserConfig(_ path: String) -> Bool {
        let first = path.split(separator: "/", maxSplits: 1).first.map(String.init) ?? path
        return userConfigItems.contains(first)
    }

    /// Config items in scope for a direction (whole session only: none).
    func configItems(for direction: SyncOptions.Direction) -> [String] {
        if sessionId != nil || userConfig == .none { return [] }
        if userConfig == .push && direction == .pull { return [] }
        return Self.userConfigItems
    }

    /// Folders scanned on the local side (relative to the Claude dir).
    var localFolders: [String] {
        all ? ["projects"] : projects.map { "projects/\($0.localSlug)" }
    }

    /// Folders scanned on the pod (relative to the pod's Claude dir).
    var podFolders: [String] {
        all ? ["projects"] : projects.map { "projects/\($0.podSlug)" }
    }

    /// The pod path of a local path.
    public func podPath(forLocal path: String) -> String {
        swapSlug(path) { slug in projects.first { $0.localSlug == slug }?.podSlug }
    }

    /// The local path of a pod path.
    public func localPath(forPod path: String) -> String {
        swapSlug(path) { slug in projects.first { $0.podSlug == slug }?.localSlug }
    }

    private func swapSlug(_ path: String, _ lookup: (String) -> String?) -> String {
        let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "projects", let other = lookup(String(parts[1])) else { return path }
        return (["projects", other] + parts.dropFirst(2).map(String.init)).joined(separator: "/")
    }

    /// Whether a path (relative to its side's Claude dir) is in scope, given the
    /// session ids in scope for per-session folders.
    func contains(_ path: String, folders: [String], sessionIds: Set<String>) -> Bool {
        if let only = sessionId, let id = SyncScope.sessionId(of: path), id != only { return false }
        for folder in folders where path.hasPrefix(folder + "/") { return true }
        if let id = SyncScope.perSessionId(of: path) { return sessionIds.contains(id) }
        return false
    }

    /// The session a per-session state file belongs to (`file-history/<id>/…`, `tasks/<id>/…`, `todos/<id>-…json`).
    static func perSessionId(of path: String) -> String? {
        let (first, second, rest) = components(path)
        switch first {
        case "file-history", "tasks": return rest != nil ? second.map(String.init) : nil
        case "todos":
            guard let name = second, name.hasSuffix(".json"), name.count > 36 else { return nil }
            return String(name.prefix(36))
        default: return nil
        }
    }

    /// The session a path belongs to, when it can be told from the path alone.
    static func sessionId(of path: String) -> String? {
        if let id = perSessionId(of: path) { return id }
        let (first, second, rest) = components(path)
        guard first == "projects", second != nil, let rest else { return nil }
        // <slug>/<name>: the name ends the path (a transcript) or is a folder (its session's).
        guard let slash = rest.utf8.firstIndex(of: UInt8(ascii: "/")) else {
            guard rest.hasSuffix(".jsonl"), !rest.hasPrefix("agent-") else { return nil }
            return String(rest.dropLast(6))
        }
        let name = rest[..<slash]
        return name == "memory" ? nil : String(name)
    }

    /// A path's first two components and what follows them (nil where the path ends
    /// first), without splitting all of it: these run for every file of every sync.
    static func components(_ path: String) -> (first: Substring, second: Substring?, rest: Substring?) {
        let slash = UInt8(ascii: "/")
        guard let a = path.utf8.firstIndex(of: slash) else { return (path[...], nil, nil) }
        let afterA = path.utf8.index(after: a)
        guard let b = path.utf8[afterA...].firstIndex(of: slash) else { return (path[..<a], path[afterA...], nil) }
        return (path[..<a], path[afterA..<b], path[path.utf8.index(after: b)...])
    }

    /// A top-level session transcript (`projects/<slug>/<id>.jsonl`): the files that fork.
    static func isTranscript(_ path: String) -> Bool {
        let (first, second, rest) = components(path)
        guard first == "projects", second != nil, let rest, !rest.utf8.contains(UInt8(ascii: "/")) else { return false }
        return rest.hasSuffix(".jsonl") && !rest.hasPrefix("agent-")
    }
}
