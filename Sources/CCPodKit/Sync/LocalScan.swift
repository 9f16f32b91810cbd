import Foundation

/// What is here: the local files in a sync's scope, their stats, and how each
/// changed since the last agreement (changed files read once, on all cores, by
/// `ChangedFileScan`). I/O only; nothing is decided or written.
struct LocalScan {
    /// One local file (or the trace of one: an agreement whose file is gone).
    struct File {
        var path: String
        var stat: LocalStat?
        var change: LocalChange
        var busy: Bool
        /// The read of a changed file: hashes and newline counts (nil when not read).
        var scan: SHA256Hex.Scan?
    }

    /// In path order.
    var files: [File] = []
    /// The sessions in scope: the local transcripts, and the sessions already paired.
    var sessionIds: Set<String> = []
    var warnings: [String] = []
    /// Agreements of archived sessions in scope: only checked, never changed.
    var archivedPairs: [AncestorPair] = []
    /// How many archived sessions in scope were left alone.
    var archivedSkipped = 0
    /// How many sessions `--only-recent` left out.
    var staleSkipped = 0
    /// The sessions left alone (archived, or not recent).
    var leftAlone: Set<String> = []

    static func run(claudeDir: String, scope: SyncScope, options: SyncOptions, store: AncestorStore) throws -> LocalScan {
        var result = LocalScan()
        let liveIds = LiveSessions.ids(configDir: URL(fileURLWithPath: claudeDir))
        let registry = LocalScan.keepsRegistry(claudeDir: claudeDir)
        var skipped: [String] = []
        var local: [String: LocalStat] = [:]
        for folder in scope.localFolders {
            for (path, stat) in LocalTree.files(root: claudeDir, under: folder, skipped: &skipped) { local[path] = stat }
        }
        var sessionIds: Set<String> = []
        for path in local.keys where SyncScope.isTranscript(path) {
            if let id = SyncScope.sessionId(of: path) { sessionIds.insert(id) }
        }
        for pair in store.pairs.values where SyncScope.isTranscript(pair.localPath) && inLocalFolders(pair.localPath, scope) {
            if let id = SyncScope.sessionId(of: pair.localPath) { sessionIds.insert(id) }
            if let id = SyncScope.sessionId(of: pair.podPath) { sessionIds.insert(id) }
        }
        if let only = scope.sessionId { sessionIds = sessionIds.filter { $0 == only } }
        // Archived sessions are left alone: their agreements are only checked (so the pod
        // stays quiet about them), their files here are not looked at. So are, with
        // `--only-recent`, sessions not active here within the window.
        let stale = options.onlyRecent.map { Self.inactive(local, sessionIds: sessionIds, window: $0) } ?? []
        let archived = sessionIds.intersection(options.archivedSessions).union(stale)
        if !archived.isEmpty {
            sessionIds.subtract(archived)
            result.leftAlone = archived
            result.archivedSkipped = archived.subtracting(stale).count
            result.staleSkipped = stale.subtracting(options.archivedSessions).count
            result.archivedPairs = store.pairs.values.filter { pair in
                guard let id = SyncScope.sessionId(of: pair.localPath), archived.contains(id) else { return false }
                return inLocalFolders(pair.localPath, scope) || SyncScope.perSessionId(of: pair.localPath) != nil
            }.sorted { $0.localPath < $1.localPath }
            local = local.filter { path, _ in SyncScope.sessionId(of: path).map { !archived.contains($0) } ?? true }
        }
        for folder in ["file-history", "tasks"] {
            for id in sessionIds where FileManager.default.fileExists(atPath: "\(claudeDir)/\(folder)/\(id)") {
                for (path, stat) in LocalTree.files(root: claudeDir, under: "\(folder)/\(id)", skipped: &skipped) { local[path] = stat }
            }
        }
        if let todos = try? FileManager.default.contentsOfDirectory(atPath: "\(claudeDir)/todos") {
            for name in todos where name.hasSuffix(".json") && sessionIds.contains(String(name.prefix(36))) {
                if let stat = LocalStat.of("\(claudeDir)/todos/\(name)") { local["todos/\(name)"] = stat }
            }
        }
        for item in scope.configItems(for: options.direction) {
            if let stat = LocalStat.of("\(claudeDir)/\(item)") {
                local[item] = stat
            } else {
                for (path, stat) in LocalTree.files(root: claudeDir, under: item, skipped: &skipped) { local[path] = stat }
            }
        }
        for path in skipped { result.warnings.append("skipped \(TerminalText.escape(path)): a name with a newline or tab cannot be synced") }
        result.sessionIds = sessionIds

        func inScope(_ localPath: String) -> Bool {
            if SyncScope.isUserConfig(localPath) { return !scope.configItems(for: options.direction).isEmpty }
            if !archived.isEmpty, let id = SyncScope.sessionId(of: localPath), archived.contains(id) { return false }
            return scope.contains(localPath, folders: scope.localFolders, sessionIds: sessionIds)
        }
        var paths = Set(local.keys.filter(inScope))
        for pair in store.pairs.values where inScope(pair.localPath) { paths.insert(pair.localPath) }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000_000)

        func isBusy(_ localPath: String, _ stat: LocalStat, _ pair: AncestorPair?) -> Bool {
            guard stat != pair?.localSeen else { return false }
            return Self.isBusy(sessionId: SyncScope.sessionId(of: localPath), live: liveIds, registry: registry,
                               age: now - stat.mtimeNs, busySeconds: options.busySeconds)
        }

        // Every changed file read once, on all cores, before the plan is made; a new
        // file about to be sent is hashed as it is sent instead.
        let ordered = paths.sorted()
        var jobs: [ChangedFileScan.Job] = []
        var jobOf: [String: Int] = [:]
        for localPath in ordered {
            guard let stat = local[localPath] else { continue }
            let pair = store.pair(local: localPath)
            if let pair, stat == pair.localSeen { continue }
            jobOf[localPath] = jobs.count
            let hashedWhenSent = pair == nil && options.sends && !isBusy(localPath, stat, pair) && !SyncRun.isRewrittenForPod(localPath)
            jobs.append(.init(file: claudeDir + "/" + localPath, size: stat.size, isLog: localPath.hasSuffix(".jsonl"),
                              prefix: pair?.local.size ?? 0, hash: !hashedWhenSent))
        }
        let scans = ChangedFileScan.run(jobs)

        for localPath in ordered {
            let pair = store.pair(local: localPath)
            let stat = local[localPath]
            let busy = stat.map { isBusy(localPath, $0, pair) } ?? false
            var file = File(path: localPath, stat: stat, change: .deleted, busy: busy)
            if stat != nil, let job = jobOf[localPath] {
                let scanned = try scans[job].get()
                file.scan = scanned.scan
                file.change = change(pair: pair, complete: scanned.complete, scan: scanned.scan)
            } else if stat != nil {
                file.change = .unchanged
            }
            result.files.append(file)
        }
        return result
    }

    /// The sessions whose files here (transcript, its folder) all last changed before
    /// `window` seconds ago (pure but for the clock).
    static func inactive(_ local: [String: LocalStat], sessionIds: Set<String>, window: TimeInterval,
                         now: Date = Date()) -> Set<String> {
        let cutoff = Int64((now.timeIntervalSince1970 - window) * 1_000_000_000)
        var latest: [String: Int64] = [:]
        for (path, stat) in local where path.hasPrefix("projects/") {
            guard let id = SyncScope.sessionId(of: path), sessionIds.contains(id) else { continue }
            latest[id] = max(latest[id] ?? .min, stat.mtimeNs)
        }
        return Set(latest.filter { $0.value < cutoff }.keys)
    }

    /// Whether a changed file is being written (pure). A session a running claude holds
    /// is; where Claude keeps its registry of running sessions (`sessions/<pid>.json`),
    /// a session none holds is not, however recent its last change (the claude that
    /// wrote it has exited: `launch` right after it must carry it). Anything else waits
    /// until it is `busySeconds` old.
    static func isBusy(sessionId: String?, live: Set<String>, registry: Bool, age ageNs: Int64, busySeconds: Int) -> Bool {
        if let sessionId {
            if live.contains(sessionId) { return true }
            if registry && UUID(uuidString: sessionId) != nil { return false }
        }
        return ageNs < Int64(busySeconds) * 1_000_000_000
    }

    /// Whether this Claude dir has the registry of running sessions (Claude Code 2.1
    /// and later write `sessions/<pid>.json` while they run and remove it on exit).
    static func keepsRegistry(claudeDir: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: claudeDir + "/sessions", isDirectory: &isDir) && isDir.boolValue
    }

    /// How a read local file compares with its agreement (pure).
    static func change(pair: AncestorPair?, complete: Int64, scan: SHA256Hex.Scan?) -> LocalChange {
        guard let pair, let scan else {
            // Without a scan, its hash comes from the exchange (`adoptSent`).
            return .new(complete: complete, sha: scan?.whole ?? "")
        }
        if scan.prefix == pair.local.sha256 && complete >= pair.local.size {
            return complete == pair.local.size ? .unchanged : .grew(complete: complete, sha: scan.whole)
        }
        return .rewritten(complete: complete, sha: scan.whole)
    }

    static func inLocalFolders(_ path: String, _ scope: SyncScope) -> Bool {
        scope.localFolders.contains { path.hasPrefix($0 + "/") }
    }
}
