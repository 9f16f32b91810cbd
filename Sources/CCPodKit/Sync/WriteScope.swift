import Foundation

/// Which local paths (relative to the Claude dir) one push, pull or sync may create
/// or change, and which paths the pod's answer may mention at all. Pure: computed
/// from the scope, the options and the session ids in scope.
///
/// Writable: the sessions of the projects in scope (`projects/<slug>/<id>.jsonl`,
/// their `<id>/` folders, the project's `memory/`), `file-history/<id>/…`,
/// `tasks/<id>/…` and `todos/<id>…json` of the session ids in scope,
/// `history.jsonl`, and the user's config items only when config travels to this
/// side (`--config both`). With `--session ID` only that session's files. Nothing
/// else, whatever the pod says: not `.credentials.json`, `.claude.json`,
/// `settings.local.json`, `plugins/`, `ide/`, `sessions/`, `statsig/`,
/// `shell-snapshots/`, caches or `debug/`.
struct WriteScope: Sendable, Equatable {
    /// Local project folders in scope (`projects/<slug>`; `projects` for every project).
    var projectFolders: [String]
    /// With `--session`: paths of another session are out of scope.
    var onlySession: String?
    /// Sessions whose per-session files (`file-history/`, `tasks/`, `todos/`) are in scope.
    var sessionIds: Set<String>
    /// Sessions this run creates itself (a fork's sibling, a pod session arriving under a
    /// new id): in scope even with `--session`.
    var siblings: Set<String> = []
    /// The user config items (settings.json, CLAUDE.md, commands/, …).
    var config: Bool
    /// `history.jsonl`.
    var history: Bool

    /// What this command may write here.
    init(writesOf scope: SyncScope, options: SyncOptions, sessionIds: Set<String>) {
        projectFolders = scope.localFolders
        onlySession = scope.sessionId
        self.sessionIds = scope.sessionId.map { only in sessionIds.filter { $0 == only } } ?? sessionIds
        config = scope.sessionId == nil && scope.userConfig == .both && !scope.configItems(for: options.direction).isEmpty
        history = scope.sessionId == nil
    }

    /// What the pod's answer to this command's request may mention: the folders and
    /// ids the request named (every session of them, even one not written under
    /// `--session`), the config items asked about, the prompt log when it was asked.
    init(answersTo scope: SyncScope, options: SyncOptions, sessionIds: Set<String>, history: Bool) {
        projectFolders = scope.localFolders
        onlySession = nil
        self.sessionIds = sessionIds
        config = !scope.configItems(for: options.direction).isEmpty
        self.history = history
    }

    init(projectFolders: [String], onlySession: String? = nil, sessionIds: Set<String>, config: Bool, history: Bool) {
        self.projectFolders = projectFolders
        self.onlySession = onlySession
        self.sessionIds = sessionIds
        self.config = config
        self.history = history
    }

    /// Whether `path` is inside this scope.
    func allows(_ path: String) -> Bool {
        guard PodPathCheck.isSafeRelative(path) else { return false }
        if path == HistoryLog.path { return history }
        let (first, second, rest) = SyncScope.components(path)
        switch first {
        case "projects":
            guard second != nil, rest != nil, projectFolders.contains(where: { path.hasPrefix($0 + "/") }) else { return false }
            // A project's own files (memory/, older agent-*.jsonl) have no session id.
            guard let only = onlySession, let id = SyncScope.sessionId(of: path) else { return true }
            return id == only || siblings.contains(id)
        case "file-history", "tasks", "todos":
            guard let id = SyncScope.perSessionId(of: path) else { return false }
            if let only = onlySession, id != only, !siblings.contains(id) { return false }
            return sessionIds.contains(id)
        default:
            guard config else { return false }
            return SyncScope.userConfigItems.contains { item in
                item.contains(".") ? path == item : path.hasPrefix(item + "/")
            }
        }
    }

    /// Adds the session whose transcript `path` is (a pod session new here, a fork's
    /// sibling) so its per-session files are in scope too.
    mutating func admitSession(of path: String) {
        guard SyncScope.isTranscript(path), allows(path), let id = SyncScope.sessionId(of: path) else { return }
        sessionIds.insert(id)
    }

    /// Admits a session this run creates under a new id (`path`: its transcript, in a
    /// project folder in scope).
    mutating func admitSibling(of path: String) {
        guard SyncScope.isTranscript(path), projectFolders.contains(where: { path.hasPrefix($0 + "/") }),
              let id = SyncScope.sessionId(of: path) else { return }
        siblings.insert(id)
        sessionIds.insert(id)
    }

    /// The refusal of an answer that names `path` outside the scope.
    static func refusal(pod: String, path: String) -> CCPodError {
        .badData("the pod \(TerminalText.escape(pod)) answered about \(TerminalText.escape(path)), which this command may not write; "
                 + "nothing was written (a pod should never send this: check what runs there)")
    }
}
