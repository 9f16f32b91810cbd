import Foundation

/// The state of one run: the plan per file, the request, what came back. Its parts
/// live beside it: planning here, `SyncApplier.swift` (the answer's effects),
/// `SessionFork.swift` (siblings), `HistorySync.swift` (the prompt log).
struct SyncRun {
    let engine: SyncEngine
    let scope: SyncScope
    let options: SyncOptions
    var store: AncestorStore
    let scratch: URL
    var items: [SyncItem] = []
    var warnings: [String] = []
    var conflicts: [String] = []
    /// Every local write of this run, inside the command's scope (set when planned).
    var writer: LocalWriter

    struct Entry {
        var localPath: String
        var podPath: String
        var pair: AncestorPair?
        var stat: LocalStat?
        var change: LocalChange
        var busy: Bool
        var sent: AgentFileRequest.Operation
        var payloadLines: Int = 0
        var payloadBytes: Int64 = 0
        /// What the pod holds once a put or replace lands (the payload's size and hash).
        var podVersion: FileVersion?
    }

    var entries: [String: Entry] = [:]  // by pod path
    var files: [AgentFileRequest] = []
    var sessionIds: Set<String> = []
    /// Sessions this run leaves alone (archived, or not recent with `--only-recent`).
    var leftAlone: Set<String> = []
    var followUps: [FollowUp] = []
    /// Pod paths of sessions paired with a sibling: the pod reports their hashes.
    var hashed: [String] = []
    /// The prompt log's part of this run (see HistorySync.swift).
    var history: HistoryPlan?

    /// Work for a second exchange: a sibling to put on the pod, or a pod file to fetch.
    enum FollowUp {
        case putSibling(podPath: String, file: String, version: FileVersion, pair: AncestorPair, forkOf: String)
        case fetchForFork(podPath: String, localPath: String)
    }

    init(engine: SyncEngine, scope: SyncScope, options: SyncOptions, store: AncestorStore, scratch: URL) {
        self.engine = engine
        self.scope = scope
        self.options = options
        self.store = store
        self.scratch = scratch
        writer = LocalWriter(claudeDir: engine.claudeDir, stateDir: engine.stateDir,
                             scope: WriteScope(writesOf: scope, options: options, sessionIds: []))
    }

    var claudeDir: String { engine.claudeDir }

    // MARK: - The request

    /// Builds the request's part for every local file: what it carries to the pod.
    mutating func plan(_ local: LocalScan) throws {
        warnings += local.warnings
        sessionIds = local.sessionIds
        leftAlone = local.leftAlone
        writer.scope = WriteScope(writesOf: scope, options: options, sessionIds: sessionIds)
        for file in local.files {
            let localPath = file.path
            let pair = store.pair(local: localPath)
            var podPath = pair?.podPath ?? scope.podPath(forLocal: localPath)
            if pair == nil, let taken = store.pair(pod: podPath), taken.localPath != localPath {
                // The pod path already belongs to another pair (a fork): arrive there as a sibling.
                podPath = Self.siblingPath(of: podPath)
            }
            let full = claudeDir + "/" + localPath
            var entry = Entry(localPath: localPath, podPath: podPath, pair: pair, stat: file.stat, change: file.change,
                              busy: file.busy, sent: .check)
            var request = AgentFileRequest(path: podPath, seen: pair?.podSeen, ancestor: pair?.pod, operation: .check)
            if options.sends && !file.busy {
                switch file.change {
                case .new(let complete, let sha):
                    request.operation = .put
                    request.payload = try Self.wholeFile(localPath, file: full, length: complete, sha256: sha, podHook: podHook)
                    entry.payloadBytes = complete
                case .grew(let complete, let sha):
                    guard let pair else { break }
                    request.operation = .append
                    let length = complete - pair.local.size
                    if let rewriter = pair.toPod {
                        // A sibling's pair: ids rewritten, title lines kept here (SiblingTitles).
                        var data = Data()
                        var titles = SiblingTitles()
                        try rewriter.stream(file: full, offset: pair.local.size, length: length) { chunk in
                            titles.feed(chunk) { data.append($0) }
                        }
                        titles.finish { data.append($0) }
                        if data.isEmpty {
                            // Only title lines: they stay here, and this side's version moves on alone.
                            var moved = pair
                            moved.local = FileVersion(size: complete, sha256: sha)
                            moved.localSeen = file.stat
                            store.set(moved)
                            entry.pair = moved
                            entry.change = .unchanged
                            request.operation = .check
                            break
                        }
                        request.payload = .init(data: data)
                    } else {
                        request.payload = .init(file: full, offset: pair.local.size, length: length,
                                                sha256: try file.scan?.tail ?? FileRanges.hash(full, offset: pair.local.size, length: length))
                    }
                    entry.payloadBytes = request.payload?.length ?? length
                case .rewritten(let complete, let sha) where !SyncScope.isTranscript(localPath),
                     .grew(let complete, let sha) where SyncScope.isUserConfig(localPath):
                    // Whole files (config, todos, file history, tool results, memory) are replaced.
                    request.operation = .replace
                    request.payload = try Self.wholeFile(localPath, file: full, length: complete, sha256: sha, podHook: podHook)
                    entry.payloadBytes = complete
                case .deleted where options.delete:
                    request.operation = .delete
                default:
                    break
                }
            }
            // First contact with a session log, only checked (pull, status, dry runs): this
            // side's complete lines stand in for the ancestor, so the pod says whether its
            // copy is the same (same), this one and more lines (grew) or else (rewritten).
            if pair == nil, request.operation == .check, localPath.hasSuffix(".jsonl"),
               case .new(let complete, let sha) = file.change, !sha.isEmpty {
                request.ancestor = FileVersion(size: complete, sha256: sha)
            }
            if entry.pair?.toPod != nil { hashed.append(podPath) }
            entry.sent = request.operation
            // A payload without a hash is hashed and counted as it is sent (adoptSent).
            if let payload = request.payload, !payload.sha256.isEmpty {
                if payload.data == nil, let scanned = file.scan, payload.offset == 0 || payload.offset == entry.pair?.local.size {
                    entry.payloadLines = payload.offset == 0 ? scanned.lines : scanned.tailLines
                } else {
                    entry.payloadLines = Self.newlines(in: payload)
                }
                entry.podVersion = FileVersion(size: payload.length, sha256: payload.sha256)
            }
            entries[podPath] = entry
            files.append(request)
        }
        // Archived sessions: only checked, so the pod says nothing about an unchanged copy;
        // whatever it says is left alone (SyncApplier.settlePodOnly).
        for pair in local.archivedPairs {
            files.append(AgentFileRequest(path: pair.podPath, seen: pair.podSeen, ancestor: pair.pod, operation: .check))
        }
        if local.staleSkipped > 0, let window = options.onlyRecent {
            let span = window >= 86400 ? "\(Int(window / 86400)) day(s)" : "\(Int(window / 3600)) hour(s)"
            warnings.append("\(local.staleSkipped) session\(local.staleSkipped == 1 ? "" : "s") not active here in the last \(span) left out (--only-recent)")
        }
        if local.archivedSkipped > 0 {
            warnings.append("\(local.archivedSkipped) archived session\(local.archivedSkipped == 1 ? "" : "s") skipped "
                            + "(`ccpod archive restore ID` brings one back)")
        }
    }

    /// Config travels both ways only with `--config both`; otherwise the pod's changes stay there.
    func receivesConfig(_ path: String) -> Bool {
        !SyncScope.isUserConfig(path) || scope.userConfig == .both
    }

    /// A whole local file as a payload: the pod's version of it (`podBytes`) when it
    /// differs there, else the file's first `length` bytes streamed from disk.
    static func wholeFile(_ path: String, file: String, length: Int64, sha256: String,
                          podHook: String? = nil) throws -> AgentFileRequest.Payload {
        if let bytes = try podBytes(of: path, file: file, length: length, podHook: podHook) { return .init(data: bytes) }
        return .init(file: file, offset: 0, length: length, sha256: sha256)
    }

    /// A file the pod gets rewritten (settings.json, with a safe cleanupPeriodDays): its
    /// bytes travel in the request, hashed as they are.
    static func isRewrittenForPod(_ path: String) -> Bool { path == "settings.json" }

    /// What the pod gets for a local file: its bytes, except `settings.json`, whose
    /// `cleanupPeriodDays` is raised so Claude on the pod never sweeps synced sessions,
    /// and whose ccpod hooks are this machine's: they stay here, and the pod's own
    /// (`podHook`, when `ccpod hooks install --where pod` put one there) takes their place.
    static func podBytes(of path: String, file: String, length: Int64, podHook: String? = nil) throws -> Data? {
        guard isRewrittenForPod(path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: file)).prefix(Int(length))
        return try SettingsGuard.apply(to: HookSettingsPlan.forPod(Data(data), podCommand: podHook))
    }

    /// The pod's own SessionEnd hook, when one was installed there.
    var podHook: String? { PodHooks.recordedCommand(podStateDir: engine.stateDir) }

    static func newlines(in payload: AgentFileRequest.Payload) -> Int {
        if let data = payload.data { return SHA256Hex.newlines(in: data) }
        guard let file = payload.file else { return 0 }
        return (try? FileRanges.newlines(file, offset: payload.offset, length: payload.length)) ?? 0
    }

    func request(mode: AgentRequest.Mode) -> AgentRequest {
        var request = AgentRequest(
            mode: mode, rootPrefix: engine.connection.rootPrefix, paths: engine.connection.paths,
            scope: scope.podFolders + scope.configItems(for: options.direction), sessionIds: sessionIds.sorted(), files: files,
            busySeconds: options.busySeconds, accept: engine.accepted)
        request.hashed = hashed
        request.overview = options.overview && mode == .status
        return request
    }

    func saveConflicts(to file: URL) throws {
        var existing = Set((try? JSONDecoder().decode([String].self, from: Data(contentsOf: file))) ?? [])
        for item in items where item.action != .conflict { existing.remove(item.path) }
        existing.formUnion(conflicts)
        if existing.isEmpty {
            try? FileManager.default.removeItem(at: file)
        } else {
            try AtomicFile.write(try JSONEncoder().encode(existing.sorted()), to: file)
        }
    }
}
