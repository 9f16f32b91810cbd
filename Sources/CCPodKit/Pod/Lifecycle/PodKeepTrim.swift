import Foundation

/// `pod_keep = "active"`: after a push, the sessions of the pushed projects not active
/// here within the window leave the pod, each only when every one of its files there
/// is verified identical at home (`PodInventory` + `PodHomeVerification`, as `ccpod
/// clean` does) and still has that hash when it is removed (`PodSessionWipe`). Nothing
/// here is touched. Their agreements are forgotten, so a later pull sees them as being
/// here only (never a deletion) and a later push without `--only-recent` copies them again.
public enum PodKeepTrim {
    public struct Outcome: Sendable {
        /// Sessions whose files all left the pod.
        public var sessions = 0
        public var removed: [String] = []
        /// Files the pod kept (changed since they were verified).
        public var kept: [(path: String, why: String)] = []
        /// Old sessions left on the pod because a file of theirs is not verified at home.
        public var unverified = 0
    }

    /// The pod files to remove (pure): the files of pod sessions whose every file is
    /// verified, paired with a local session in `stale`, and has a session id.
    static func plan(inventory: [PodInventory.File], verified: [PodInventory.File], store: AncestorStore,
                     stale: Set<String>) -> (remove: [PodInventory.File], unverified: Int) {
        let verifiedPaths = Set(verified.map(\.path))
        var bySession: [String: [PodInventory.File]] = [:]
        var candidate: [String: Bool] = [:]
        for file in inventory {
            guard let podId = SyncScope.sessionId(of: file.path) else { continue }
            let localId = store.pair(pod: file.path).flatMap { SyncScope.sessionId(of: $0.localPath) }
            let old = localId.map(stale.contains) ?? false
            bySession[podId, default: []].append(file)
            candidate[podId] = (candidate[podId] ?? true) && old
        }
        var remove: [PodInventory.File] = []
        var unverified = 0
        for (podId, files) in bySession where candidate[podId] == true {
            // Only sessions with their transcript verified, and all of it.
            if files.allSatisfy({ verifiedPaths.contains($0.path) }) && files.contains(where: { SyncScope.isTranscript($0.path) }) {
                remove += files
            } else {
                unverified += 1
            }
        }
        return (remove.sorted { $0.path < $1.path }, unverified)
    }

    /// Trims the pod after a push of `scope` (two execs: the inventory, the removal).
    public static func run(connection: any PodConnection, podStateDir: URL, claudeDir: String, scope: SyncScope,
                           window: TimeInterval, now: Date = Date()) throws -> Outcome {
        var skipped: [String] = []
        var local: [String: LocalStat] = [:]
        for folder in scope.localFolders {
            for (path, stat) in LocalTree.files(root: claudeDir, under: folder, skipped: &skipped) { local[path] = stat }
        }
        let ids = Set(local.keys.filter(SyncScope.isTranscript).compactMap(SyncScope.sessionId(of:)))
        let stale = LocalScan.inactive(local, sessionIds: ids, window: window, now: now)
        guard !stale.isEmpty else { return Outcome() }
        let inventory = try PodInventory.read(connection: connection, history: false, runDirectories: [])
        var store = try AncestorStore(file: podStateDir.appendingPathComponent("ancestors.tsv"))
        var verification = PodHomeVerification()
        verification.checkSessions(inventory, store: store, localClaudeDir: claudeDir, localHistory: nil)
        let (remove, unverified) = plan(inventory: inventory.sessionFiles, verified: verification.verifiedSessionFiles,
                                        store: store, stale: stale)
        var outcome = Outcome(unverified: unverified)
        guard !remove.isEmpty else { return outcome }
        let wiped = try PodSessionWipe(connection: connection).run(files: remove, historySHA256: nil)
        for path in wiped.removed {
            if let pair = store.pair(pod: path) { store.remove(local: pair.localPath) }
        }
        try store.save()
        outcome.removed = wiped.removed
        outcome.kept = wiped.kept
        outcome.sessions = Set(wiped.removed.filter(SyncScope.isTranscript)).count
        return outcome
    }
}
