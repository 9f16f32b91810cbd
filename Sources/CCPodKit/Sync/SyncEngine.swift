import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options of one push, pull, sync or status.
public struct SyncOptions: Sendable {
    public enum Direction: String, Sendable { case push, pull, sync, status }

    public var direction: Direction
    /// Plan only: nothing is written on either side.
    public var dryRun: Bool
    /// Propagate deletions (never by default).
    public var delete: Bool
    /// A file modified less than this many seconds ago is busy and skipped.
    public var busySeconds: Int

    public init(direction: Direction, dryRun: Bool = false, delete: Bool = false, busySeconds: Int = 5) {
        self.direction = direction
        self.dryRun = dryRun
        self.delete = delete
        self.busySeconds = busySeconds
    }

    var sends: Bool { !dryRun && (direction == .push || direction == .sync) }
    var receives: Bool { !dryRun && (direction == .pull || direction == .sync) }
}

/// Carries sessions between the local Claude dir and a pod in one agent exchange
/// (a second one only when a fork must put a sibling on the pod).
///
/// Semantics (DESIGN.md, "Sync semantics"): a side that only grew sends its new
/// complete lines; both grew → fork (each side keeps its session, the other's
/// history arrives as a sibling session); rewritten → both versions kept; new →
/// copied; deleted → kept unless `delete`; no ancestor and different → conflict.
public struct SyncEngine: Sendable {
    public let claudeDir: String
    public let connection: any PodConnection
    public let stateDir: URL
    /// Compress the streams (not worth it for `local:` pods).
    public var compress: Bool
    /// Told about the bytes of every exchange as they cross the stream (progress on a terminal).
    public var progress: TransferProgress?

    /// - Parameters:
    ///   - claudeDir: the local Claude config dir.
    ///   - stateDir: this pod's folder under ccpod's state dir (ancestors, journal, scratch).
    public init(claudeDir: String, connection: any PodConnection, stateDir: URL, compress: Bool? = nil) {
        self.claudeDir = claudeDir
        self.connection = connection
        self.stateDir = stateDir
        self.compress = compress ?? !(connection is LocalConnection)
    }

    /// Present when the pod has no gzip: the agent script then travels uncompressed.
    var plainScriptFile: URL { stateDir.appendingPathComponent("plain-script") }

    /// What the pod answered with last time tells what it can decompress.
    var capsFile: URL { stateDir.appendingPathComponent("compression") }

    var accepted: [Compression] { compress ? Compression.locallyAvailable : [] }

    /// What the pod answered with last time; before the first answer, the best this
    /// machine has (a pod without it says so at once and gets the request plainly).
    var requestCompression: Compression {
        guard compress else { return .none }
        guard let text = try? String(contentsOf: capsFile, encoding: .utf8) else { return accepted.first ?? .none }
        guard let known = Compression(rawValue: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              accepted.contains(known) else { return .none }
        return known
    }

    public var ancestorsFile: URL { stateDir.appendingPathComponent("ancestors.tsv") }
    var journalDir: URL { stateDir.appendingPathComponent("journal") }
    public var conflictsFile: URL { stateDir.appendingPathComponent("conflicts.json") }

    public func run(scope: SyncScope, options: SyncOptions) throws -> SyncReport {
        let started = Date()
        try CCPodLocations.makePrivateDirectory(stateDir)
        try LocalJournal(dir: journalDir, claudeDir: claudeDir).recover()
        let store = try AncestorStore(file: ancestorsFile)
        let scratch = stateDir.appendingPathComponent("scratch-\(getpid())-\(UUID().uuidString.prefix(8))")
        try CCPodLocations.makePrivateDirectory(scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }

        var run = SyncRun(engine: self, scope: scope, options: options, store: store, scratch: scratch)
        try run.planRound1()
        try run.planHistory()
        var calls = 0
        let answer = try exchange(run.request(mode: options.dryRun ? .status : AgentRequest.Mode(rawValue: options.direction.rawValue)!), scratch: scratch, calls: &calls)
        try run.apply(answer)
        if let followUp = run.followUpRequest() {
            let second = try exchange(followUp, scratch: scratch, calls: &calls)
            try run.applyFollowUp(second)
        }
        if !options.dryRun && options.direction != .status {
            // Nothing agreed anew (the common "nothing changed" sync): nothing to write.
            if run.store.pairs != store.pairs { try run.store.save() }
            try run.saveConflicts(to: conflictsFile)
        }
        return SyncReport(
            mode: options.direction.rawValue, pod: connection.displayName, dryRun: options.dryRun,
            items: run.items.sorted { $0.path < $1.path },
            exchanges: calls,
            seconds: Date().timeIntervalSince(started), warnings: run.warnings)
    }

    /// A request about named files only (no scope folders): forks, resolve.
    func filesRequest(_ mode: AgentRequest.Mode, _ files: [AgentFileRequest], busySeconds: Int = 0) -> AgentRequest {
        AgentRequest(mode: mode, rootPrefix: connection.rootPrefix, paths: connection.paths, scope: [], sessionIds: [],
                     files: files, busySeconds: busySeconds, accept: accepted)
    }

    func exchange(_ request: AgentRequest, scratch: URL) throws -> AgentExchange.Answer {
        var calls = 0
        return try exchange(request, scratch: scratch, calls: &calls)
    }

    /// One agent call (two when the pod cannot decompress what it was sent), counted in `calls`.
    func exchange(_ request: AgentRequest, scratch: URL, calls: inout Int) throws -> AgentExchange.Answer {
        let compression = requestCompression
        let answer: AgentExchange.Answer
        calls += 1
        do {
            answer = try AgentExchange(connection: connection, requestCompression: compression,
                                       compressedScript: !FileManager.default.fileExists(atPath: plainScriptFile.path), progress: progress,
                                       scriptCache: DerivedValueCache(directory: stateDir.appendingPathComponent("cache")))
                .run(request, scratch: scratch)
        } catch let refused as AgentExchange.RequestCompressionRefused {
            // The pod lacks the tool (zstd for the request, gzip for the script): again, plainly.
            calls += 1
            if refused.compression == "gzip-script" { try? AtomicFile.write(Data("plain\n".utf8), to: plainScriptFile) }
            answer = try AgentExchange(connection: connection, requestCompression: .none,
                                       compressedScript: refused.compression != "gzip-script", progress: progress).run(request, scratch: scratch)
            try? AtomicFile.write(Data(answer.responseCompression.rawValue.utf8), to: capsFile)
            return answer
        }
        let known = try? String(contentsOf: capsFile, encoding: .utf8)
        if compress && known != answer.responseCompression.rawValue {
            try? AtomicFile.write(Data(answer.responseCompression.rawValue.utf8), to: capsFile)
        }
        return answer
    }
}

/// The state of one run: the plan per file, the request, what came back.
struct SyncRun {
    let engine: SyncEngine
    let scope: SyncScope
    let options: SyncOptions
    var store: AncestorStore
    let scratch: URL
    var items: [SyncItem] = []
    var warnings: [String] = []
    var conflicts: [String] = []
    /// Received data files already flushed (`apply`), and the folders that gained a
    /// file by rename and wait to be flushed.
    var flushedData: Set<String> = []
    var renamedInto: Set<String> = []

    /// How the local side of a file compares with its ancestor.
    enum LocalChange {
        case new(complete: Int64, sha: String)
        case unchanged
        case grew(complete: Int64, sha: String)
        case rewritten(complete: Int64, sha: String)
        case deleted
    }

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
    var liveIds: Set<String> = []
    var followUps: [FollowUp] = []
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
    }

    var claudeDir: String { engine.claudeDir }

    // MARK: - Round 1: compare the local side with the ancestors and build the request

    mutating func planRound1() throws {
        liveIds = LiveSessions.ids(configDir: URL(fileURLWithPath: claudeDir))
        var skipped: [String] = []
        var local: [String: LocalStat] = [:]
        for folder in scope.localFolders {
            for (path, stat) in LocalTree.files(root: claudeDir, under: folder, skipped: &skipped) { local[path] = stat }
        }
        // Session ids in scope: the local transcripts, and the sessions already paired.
        for path in local.keys where SyncScope.isTranscript(path) {
            if let id = SyncScope.sessionId(of: path) { sessionIds.insert(id) }
        }
        for pair in store.pairs.values where SyncScope.isTranscript(pair.localPath) && inLocalFolders(pair.localPath) {
            if let id = SyncScope.sessionId(of: pair.localPath) { sessionIds.insert(id) }
            if let id = SyncScope.sessionId(of: pair.podPath) { sessionIds.insert(id) }
        }
        if let only = scope.sessionId { sessionIds = sessionIds.filter { $0 == only } }
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
        for path in skipped { warnings.append("skipped \(path): a name with a newline or tab cannot be synced") }

        var paths = Set(local.keys.filter { inScope($0) })
        for pair in store.pairs.values where inScope(pair.localPath) { paths.insert(pair.localPath) }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000_000)

        func isBusy(_ localPath: String, _ stat: LocalStat, _ pair: AncestorPair?) -> Bool {
            guard stat != pair?.localSeen else { return false }
            if let id = SyncScope.sessionId(of: localPath), liveIds.contains(id) { return true }
            return now - stat.mtimeNs < Int64(options.busySeconds) * 1_000_000_000
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
            let hashedWhenSent = pair == nil && options.sends && !isBusy(localPath, stat, pair) && !Self.isRewrittenForPod(localPath)
            jobs.append(.init(file: claudeDir + "/" + localPath, size: stat.size, isLog: localPath.hasSuffix(".jsonl"),
                              prefix: pair?.local.size ?? 0, hash: !hashedWhenSent))
        }
        let scans = ChangedFileScan.run(jobs)

        for localPath in ordered {
            let pair = store.pair(local: localPath)
            let stat = local[localPath]
            var podPath = pair?.podPath ?? scope.podPath(forLocal: localPath)
            if pair == nil, let taken = store.pair(pod: podPath), taken.localPath != localPath {
                // The pod path already belongs to another pair (a fork): arrive there as a sibling.
                podPath = Self.siblingPath(of: podPath)
            }
            let full = claudeDir + "/" + localPath
            let busy = stat.map { isBusy(localPath, $0, pair) } ?? false
            let change: LocalChange
            // One read of a changed file: its hashes and newline counts (what a payload needs too).
            var scanned: SHA256Hex.Scan?
            if let stat {
                if let pair, stat == pair.localSeen {
                    change = .unchanged
                } else {
                    let result = try scans[jobOf[localPath]!].get()
                    let complete = result.complete
                    scanned = result.scan
                    if let pair, let scan = result.scan {
                        if scan.prefix == pair.local.sha256 && complete >= pair.local.size {
                            change = complete == pair.local.size ? .unchanged : .grew(complete: complete, sha: scan.whole)
                        } else {
                            change = .rewritten(complete: complete, sha: scan.whole)
                        }
                    } else {
                        // Without a scan, its hash comes from the exchange (`adoptSent`).
                        change = .new(complete: complete, sha: result.scan?.whole ?? "")
                    }
                }
            } else {
                change = .deleted
            }
            var entry = Entry(localPath: localPath, podPath: podPath, pair: pair, stat: stat, change: change, busy: busy, sent: .check)
            var request = AgentFileRequest(path: podPath, seen: pair?.podSeen, ancestor: pair?.pod, operation: .check)
            if options.sends && !busy {
                switch change {
                case .new(let complete, let sha):
                    request.operation = .put
                    request.payload = try Self.wholeFile(localPath, file: full, length: complete, sha256: sha)
                    entry.payloadBytes = complete
                case .grew(let complete, _):
                    guard let pair else { break }
                    request.operation = .append
                    let length = complete - pair.local.size
                    if let rewriter = pair.toPod {
                        var data = Data()
                        try rewriter.stream(file: full, offset: pair.local.size, length: length) { data.append($0) }
                        request.payload = .init(data: data)
                    } else {
                        request.payload = .init(file: full, offset: pair.local.size, length: length,
                                                sha256: try scanned?.tail ?? Self.rangeHash(full, offset: pair.local.size, length: length))
                    }
                    entry.payloadBytes = length
                case .rewritten(let complete, let sha) where !SyncScope.isTranscript(localPath),
                     .grew(let complete, let sha) where SyncScope.isUserConfig(localPath):
                    // Whole files (config, todos, file history, tool results, memory) are replaced.
                    request.operation = .replace
                    request.payload = try Self.wholeFile(localPath, file: full, length: complete, sha256: sha)
                    entry.payloadBytes = complete
                case .deleted where options.delete:
                    request.operation = .delete
                default:
                    break
                }
            }
            entry.sent = request.operation
            // A payload without a hash is hashed and counted as it is sent (adoptSent).
            if let payload = request.payload, !payload.sha256.isEmpty {
                if payload.data == nil, let scanned, payload.offset == 0 || payload.offset == entry.pair?.local.size {
                    entry.payloadLines = payload.offset == 0 ? scanned.lines : scanned.tailLines
                } else {
                    entry.payloadLines = Self.newlines(in: payload)
                }
                entry.podVersion = FileVersion(size: payload.length, sha256: payload.sha256)
            }
            entries[podPath] = entry
            files.append(request)
        }
    }

    func inLocalFolders(_ path: String) -> Bool {
        scope.localFolders.contains { path.hasPrefix($0 + "/") }
    }

    func inScope(_ localPath: String) -> Bool {
        if SyncScope.isUserConfig(localPath) { return !scope.configItems(for: options.direction).isEmpty }
        return scope.contains(localPath, folders: scope.localFolders, sessionIds: sessionIds)
    }

    /// Config travels both ways only with `--config both`; otherwise the pod's changes stay there.
    func receivesConfig(_ path: String) -> Bool {
        !SyncScope.isUserConfig(path) || scope.userConfig == .both
    }

    /// What the pod gets for a local file: its bytes, except `settings.json`, whose
    /// `cleanupPeriodDays` is raised so Claude on the pod never sweeps synced sessions.
    /// A whole local file as a payload: the pod's version of it (`podBytes`) when it
    /// differs there, else the file's first `length` bytes streamed from disk.
    static func wholeFile(_ path: String, file: String, length: Int64, sha256: String) throws -> AgentFileRequest.Payload {
        if let bytes = try podBytes(of: path, file: file, length: length) { return .init(data: bytes) }
        return .init(file: file, offset: 0, length: length, sha256: sha256)
    }

    /// A file the pod gets rewritten (settings.json, with a safe cleanupPeriodDays): its
    /// bytes travel in the request, hashed as they are.
    static func isRewrittenForPod(_ path: String) -> Bool { path == "settings.json" }

    static func podBytes(of path: String, file: String, length: Int64) throws -> Data? {
        guard isRewrittenForPod(path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: file)).prefix(Int(length))
        return try SettingsGuard.apply(to: Data(data))
    }

    func request(mode: AgentRequest.Mode) -> AgentRequest {
        AgentRequest(
            mode: mode, rootPrefix: engine.connection.rootPrefix, paths: engine.connection.paths,
            scope: scope.podFolders + scope.configItems(for: options.direction), sessionIds: sessionIds.sorted(), files: files,
            busySeconds: options.busySeconds, accept: engine.accepted)
    }

    // MARK: - Applying the answer

    mutating func apply(_ answer: AgentExchange.Answer) throws {
        try adoptSent(answer.sent)
        let (states, data, said) = answer.index
        warnings += said
        // The pod's new files, received whole, are flushed all at once before they
        // are renamed into place (one by one, each would wait for the disk).
        flushedData = ParallelFlush.paths(data.compactMap { podPath, file in
            entries[podPath] == nil && states[podPath]?.kind == .new ? file.file : nil
        })
        for podPath in entries.keys.sorted() {
            try settle(podPath: podPath, state: states[podPath], data: data[podPath])
        }
        try applyHistory(state: states[HistoryLog.path], data: data[HistoryLog.path])
        // Files only the pod has.
        for (podPath, state) in states.sorted(by: { $0.key < $1.key }) where entries[podPath] == nil && podPath != HistoryLog.path {
            try settlePodOnly(podPath: podPath, state: state, data: data[podPath])
        }
        flushRenamedFolders()
    }

    /// The folders that gained files by rename, flushed once each (all at once) so the
    /// renames survive a crash before anything records them as agreed.
    private mutating func flushRenamedFolders() {
        _ = ParallelFlush.paths(renamedInto.sorted())
        renamedInto = []
    }

    /// The hashes and newline counts of new files that were hashed as they were sent.
    private mutating func adoptSent(_ sent: [String: AgentExchange.Answer.Sent]) throws {
        for (podPath, entry) in entries {
            guard case .new(let complete, let sha) = entry.change, sha.isEmpty, entry.sent == .put else { continue }
            guard let s = sent[podPath] else {
                throw CCPodError.failure("\(entry.localPath) was not sent whole; run the command again")
            }
            var e = entry
            e.change = .new(complete: complete, sha: s.sha256)
            e.podVersion = FileVersion(size: complete, sha256: s.sha256)
            e.payloadLines = s.lines
            entries[podPath] = e
        }
    }

    private mutating func settle(podPath: String, state: AgentRecord.FileState?, data: AgentExchange.Answer.DataFile?) throws {
        guard let entry = entries[podPath] else { return }
        let path = entry.localPath
        if entry.busy {
            items.append(.init(path: path, action: .busy, detail: "changed in the last few seconds or open in a running claude; it moves next time"))
            return
        }
        if state?.kind == .busy {
            items.append(.init(path: path, action: .busy, detail: "changed on the pod in the last few seconds or open in a running claude; it moves next time"))
            return
        }
        if !receivesConfig(path), let kind = state?.kind, kind == .grew || kind == .rewritten {
            if case .unchanged = entry.change {
                items.append(.init(path: path, action: .podAhead, detail: "changed on the pod; user config is pushed only (--config both brings it home)"))
                return
            }
        }
        switch (entry.change, state?.kind) {
        // Local new file.
        case (.new(let complete, let sha), .written?):
            record(entry, local: FileVersion(size: complete, sha256: sha), pod: entry.podVersion ?? FileVersion(size: complete, sha256: sha), podSeen: state?.stat)
            items.append(.init(path: path, action: .copiedToPod, lines: entry.payloadLines, bytes: complete))
        case (.new(let complete, let sha), .identical?):
            record(entry, local: FileVersion(size: complete, sha256: sha), pod: entry.podVersion ?? FileVersion(size: complete, sha256: sha), podSeen: state?.stat)
            items.append(.init(path: path, action: .inSync))
        case (.new(let complete, let sha), .rewritten?) where state?.sha256 == sha || (state?.stat?.size ?? -1) >= complete && data.map({ (try? SHA256Hex.ofFile($0.file, length: complete)) == sha }) == true:
            // Same content both sides (the pod's may have more lines).
            let podVersion = FileVersion(size: complete, sha256: sha)
            record(entry, local: podVersion, pod: podVersion, podSeen: state?.sha256 == sha ? state?.stat : nil)
            items.append(.init(path: path, action: .inSync))
        case (.new, .conflict?), (.new, .rewritten?):
            conflicts.append(path)
            items.append(.init(path: path, action: .conflict, detail: "both sides have this file with different contents and no common history; run `ccpod resolve`"))
        case (.new(let complete, _), .gone?), (.new(let complete, _), nil):
            items.append(.init(path: path, action: options.dryRun && options.direction != .pull ? .copiedToPod : .localOnly,
                               lines: entry.payloadLines, bytes: complete))

        // Known file, pod unchanged.
        case (.unchanged, nil):
            items.append(.init(path: path, action: .inSync))
        case (.unchanged, .same?):
            if var pair = entry.pair { pair.podSeen = state?.stat; pair.localSeen = entry.stat; store.set(pair) }
            items.append(.init(path: path, action: .inSync))
        case (.grew(let complete, let sha), .appended?):
            guard var pair = entry.pair else { return }
            let podSha = try podHash(of: entry, localComplete: complete, localSha: sha)
            pair.local = FileVersion(size: complete, sha256: sha)
            pair.pod = FileVersion(size: pair.pod.size + entry.payloadBytes, sha256: podSha)
            pair.localSeen = entry.stat
            pair.podSeen = state?.stat
            store.set(pair)
            items.append(.init(path: path, action: .pushed, lines: entry.payloadLines, bytes: entry.payloadBytes))
        case (.grew(let complete, _), nil), (.grew(let complete, _), .same?):
            let pending = complete - (entry.pair?.local.size ?? 0)
            items.append(.init(path: path, action: options.dryRun && options.direction != .pull ? .pushed : .localAhead,
                               lines: try lineCount(entry.localPath, from: entry.pair?.local.size ?? 0, to: complete), bytes: pending))
        case (.rewritten(let complete, let sha), .written?), (.grew(let complete, let sha), .written?):
            guard var pair = entry.pair else { return }
            pair.local = FileVersion(size: complete, sha256: sha)
            pair.pod = entry.podVersion ?? pair.local
            pair.localSeen = entry.stat
            pair.podSeen = state?.stat
            store.set(pair)
            items.append(.init(path: path, action: .replacedOnPod, bytes: complete))
        case (.rewritten, nil), (.rewritten, .same?):
            if SyncScope.isTranscript(entry.localPath) && options.direction == .sync && !options.dryRun {
                followUps.append(.fetchForFork(podPath: podPath, localPath: path))
                try queuePodSibling(for: entry)
            } else {
                items.append(.init(path: path, action: .diverged,
                                   detail: "changed here other than by appending; `ccpod sync` keeps both versions"))
            }
        case (.deleted, nil), (.deleted, .same?):
            items.append(.init(path: path, action: .deletedLocally, detail: "kept on the pod; --delete removes it there"))
        case (.deleted, .deleted?):
            store.remove(local: path)
            items.append(.init(path: path, action: .deletedFromPod))
        case (_, .gone?):
            if case .deleted = entry.change {
                store.remove(local: path)
                items.append(.init(path: path, action: .inSync, detail: "deleted on both sides"))
            } else if options.delete && options.receives {
                try backupLocal(path)
                store.remove(local: path)
                items.append(.init(path: path, action: .deletedHere, detail: "deleted on the pod; the local copy was moved to the backups folder"))
            } else {
                items.append(.init(path: path, action: .deletedOnPod, detail: "kept here; --delete removes it here too"))
            }

        // The pod moved on.
        case (.unchanged, .grew?):
            guard let state else { return }
            if options.receives, let data {
                try pullAppend(entry, state: state, data: data)
            } else {
                items.append(.init(path: path, action: options.dryRun && options.direction != .push ? .pulled : .podAhead, lines: state.lines,
                                   bytes: (state.stat?.size ?? 0) - (entry.pair?.pod.size ?? 0)))
            }
        case (.unchanged, .rewritten?):
            guard let state else { return }
            if SyncScope.isTranscript(path) {
                if options.direction == .sync && !options.dryRun, let data {
                    try forkLocally(entry, podState: state, data: data, podDeltaOnly: false)
                    try queuePodSibling(for: entry)
                } else {
                    items.append(.init(path: path, action: .diverged, detail: "rewritten on the pod; `ccpod sync` keeps both versions"))
                }
            } else if options.receives, let data {
                try replaceLocal(entry, state: state, data: data)
            } else {
                items.append(.init(path: path, action: .podAhead, bytes: state.stat?.size ?? 0))
            }
        case (.deleted, .grew?), (.deleted, .rewritten?):
            items.append(.init(path: path, action: .deletedLocally, detail: "deleted here but changed on the pod; kept on the pod"))
        case (.grew(let complete, let sha), .grew?) where data != nil && (try? sameGrowth(entry, complete: complete, data: data!)) == true:
            // Both sides grew by the same lines (an earlier run was cut off before it recorded them).
            guard var pair = entry.pair, let data else { return }
            pair.pod = FileVersion(size: pair.pod.size + (complete - pair.local.size),
                                   sha256: try Self.extendHash(ofPodVersion: pair, localPath: claudeDir + "/" + path, podDelta: data.file, length: complete - pair.local.size))
            pair.local = FileVersion(size: complete, sha256: sha)
            pair.localSeen = entry.stat
            pair.podSeen = state?.stat?.size == pair.pod.size ? state?.stat : nil
            store.set(pair)
            items.append(.init(path: path, action: .inSync))
        case (.grew, .grew?), (.grew, .rewritten?), (.rewritten, .grew?), (.rewritten, .rewritten?):
            guard let state else { return }
            if SyncScope.isTranscript(path) && options.direction == .sync && !options.dryRun, let data {
                try forkLocally(entry, podState: state, data: data, podDeltaOnly: state.kind == .grew)
                try queuePodSibling(for: entry)
            } else if SyncScope.isTranscript(path) {
                items.append(.init(path: path, action: .diverged, detail: "both sides moved on; `ccpod sync` keeps both as sibling sessions"))
            } else {
                conflicts.append(path)
                items.append(.init(path: path, action: .conflict, detail: "changed on both sides; run `ccpod resolve`"))
            }
        case (_, .failed?):
            items.append(.init(path: path, action: .failed, detail: "the pod could not verify the append; the next run repairs it"))
        default:
            items.append(.init(path: path, action: .failed, detail: "unexpected answer \(state?.kind.rawValue ?? "none") from the pod"))
        }
    }

    /// Whether the pod's new lines are exactly this side's new lines (ids mapped).
    private func sameGrowth(_ entry: Entry, complete: Int64, data: AgentExchange.Answer.DataFile) throws -> Bool {
        guard let pair = entry.pair, data.offset == pair.pod.size else { return false }
        let localDelta = complete - pair.local.size
        let podDelta = try LocalTree.completeLength(data.file, size: data.length)
        guard localDelta == podDelta, localDelta > 0 else { return false }
        var mine = Data()
        if let rewriter = pair.toPod {
            try rewriter.stream(file: claudeDir + "/" + entry.localPath, offset: pair.local.size, length: localDelta) { mine.append($0) }
        } else {
            var hasher = SHA256()
            try Self.feed(&hasher, file: claudeDir + "/" + entry.localPath, offset: pair.local.size, length: localDelta)
            return SHA256Hex.hex(hasher.finalize()) == (try SyncRun.rangeHash(data.file, offset: 0, length: podDelta))
        }
        return SHA256Hex.of(mine) == (try SyncRun.rangeHash(data.file, offset: 0, length: podDelta))
    }

    /// Records a new agreement between the two sides of an entry.
    private mutating func record(_ entry: Entry, local: FileVersion, pod: FileVersion, podSeen: PodStat?) {
        store.set(AncestorPair(localPath: entry.localPath, podPath: entry.podPath,
                               localSessionId: entry.pair?.localSessionId, podSessionId: entry.pair?.podSessionId,
                               local: local, pod: pod, localSeen: entry.stat, podSeen: podSeen))
    }

    private mutating func settlePodOnly(podPath: String, state: AgentRecord.FileState, data: AgentExchange.Answer.DataFile?) throws {
        var localPath = scope.localPath(forPod: podPath)
        guard state.kind == .new, receivesConfig(localPath) else { return }
        if !options.receives || data == nil {
            items.append(.init(path: localPath, action: options.dryRun && options.direction != .push ? .copiedFromPod : .podOnly,
                               bytes: state.stat?.size ?? 0))
            return
        }
        guard let data, let podStat = state.stat else { return }
        if let sid = SyncScope.sessionId(of: localPath), scope.sessionId != nil, sid != scope.sessionId { return }
        var rewriter: SessionIdRewriter?
        var localId: String?
        var podId: String?
        if FileManager.default.fileExists(atPath: claudeDir + "/" + localPath) || store.pair(local: localPath) != nil {
            // The local path is taken by another session: arrive as a sibling.
            guard SyncScope.isTranscript(localPath), let id = SyncScope.sessionId(of: localPath) else {
                conflicts.append(localPath)
                items.append(.init(path: localPath, action: .conflict, detail: "the pod has a different file at this path; run `ccpod resolve`"))
                return
            }
            let newId = UUID().uuidString.lowercased()
            localPath = Self.replaceId(in: localPath, with: newId)
            rewriter = SessionIdRewriter(from: id, to: newId)
            localId = newId
            podId = id
        }
        let isLog = podPath.hasSuffix(".jsonl")
        let complete = isLog ? try LocalTree.completeLength(data.file, size: data.length) : data.length
        var (written, lines) = (FileVersion(size: complete, sha256: data.sha256), data.lines)
        // The verified data as it is (no ids to rewrite, no partial line) is renamed into place.
        let adopted = try rewriter == nil && complete == data.length && adoptLocal(localPath, from: data.file)
        if !adopted {
            (written, lines) = try writeLocalCounting(localPath, from: data.file, length: complete, rewriter: rewriter, extraLine: nil)
        }
        // Without a rewriter the bytes written are the pod's.
        let podVersion = rewriter == nil ? written : FileVersion(size: complete, sha256: try SHA256Hex.ofFile(data.file, length: complete))
        store.set(AncestorPair(localPath: localPath, podPath: podPath, localSessionId: localId, podSessionId: podId,
                               local: written, pod: podVersion, localSeen: LocalStat.of(claudeDir + "/" + localPath),
                               podSeen: complete == podStat.size ? podStat : nil))
        items.append(.init(path: localPath, action: .copiedFromPod, lines: lines, bytes: complete))
    }

    // MARK: - Local writes

    private mutating func pullAppend(_ entry: Entry, state: AgentRecord.FileState, data: AgentExchange.Answer.DataFile) throws {
        guard var pair = entry.pair, data.offset == pair.pod.size else {
            items.append(.init(path: entry.localPath, action: .failed, detail: "the pod sent data at an unexpected offset"))
            return
        }
        let isLog = entry.localPath.hasSuffix(".jsonl")
        let usable = isLog ? try LocalTree.completeLength(data.file, size: data.length) : data.length
        if usable == 0 {
            items.append(.init(path: entry.localPath, action: .inSync, detail: "the pod's new line is not complete yet"))
            return
        }
        let payloadFile: String
        if let rewriter = pair.toLocal {
            payloadFile = scratch.appendingPathComponent("rewritten-\(UUID().uuidString.prefix(8))").path
            try AtomicFile.write(to: URL(fileURLWithPath: payloadFile)) { fd in
                try rewriter.stream(file: data.file, offset: 0, length: usable) { try FileDescriptorIO.writeAll(fd, $0, path: payloadFile) }
            }
        } else {
            payloadFile = data.file
        }
        let appended = try LocalJournal(dir: engine.journalDir, claudeDir: claudeDir)
            .append(path: entry.localPath, expectedSize: pair.local.size, expectedSha: pair.local.sha256,
                    payloadFile: payloadFile, length: usable)
        pair.local = appended
        let podPrefixHash = try Self.extendHash(ofPodVersion: pair, localPath: claudeDir + "/" + entry.localPath, podDelta: data.file, length: usable)
        pair.pod = FileVersion(size: pair.pod.size + usable, sha256: podPrefixHash)
        pair.localSeen = LocalStat.of(claudeDir + "/" + entry.localPath)
        pair.podSeen = (pair.pod.size == state.stat?.size) ? state.stat : nil
        store.set(pair)
        items.append(.init(path: entry.localPath, action: .pulled, lines: try Self.newlines(inFile: data.file, length: usable), bytes: usable))
    }

    private mutating func replaceLocal(_ entry: Entry, state: AgentRecord.FileState, data: AgentExchange.Answer.DataFile) throws {
        guard var pair = entry.pair, data.offset == 0 else { return }
        let written = try writeLocal(entry.localPath, from: data.file, length: data.length, rewriter: nil, extraLine: nil)
        pair.local = written
        pair.pod = written
        pair.localSeen = LocalStat.of(claudeDir + "/" + entry.localPath)
        pair.podSeen = state.stat
        store.set(pair)
        items.append(.init(path: entry.localPath, action: .replacedLocally, bytes: data.length))
    }

    /// Both continuations kept: the pod's version of this session arrives here as a new
    /// sibling session (new id, its lines' sessionId rewritten, a custom title appended).
    private mutating func forkLocally(_ entry: Entry, podState: AgentRecord.FileState, data: AgentExchange.Answer.DataFile, podDeltaOnly: Bool) throws {
        guard let podId = SyncScope.sessionId(of: entry.podPath), let localId = SyncScope.sessionId(of: entry.localPath) else { return }
        let pair = entry.pair
        let siblingId = UUID().uuidString.lowercased()
        let siblingPath = Self.replaceId(in: entry.localPath, with: siblingId)
        let podRewriter = SessionIdRewriter(from: pair?.podSessionId ?? podId, to: siblingId)
        let deltaComplete = try LocalTree.completeLength(data.file, size: data.length)
        // The pod's version: the agreed prefix (as the local side has it) plus the pod's lines.
        let content = scratch.appendingPathComponent("fork-\(siblingId)").path
        var podVersionHasher = SHA256()
        var podSize: Int64 = 0
        try AtomicFile.write(to: URL(fileURLWithPath: content)) { fd in
            if podDeltaOnly, let pair {
                let prefixRewriter = SessionIdRewriter(from: pair.localSessionId ?? localId, to: siblingId)
                let toPodIds = pair.toPod
                try prefixRewriter.stream(file: claudeDir + "/" + entry.localPath, offset: 0, length: pair.local.size) { chunk in
                    try FileDescriptorIO.writeAll(fd, chunk, path: content)
                }
                if let toPodIds {
                    try toPodIds.stream(file: claudeDir + "/" + entry.localPath, offset: 0, length: pair.local.size) { podVersionHasher.update(data: $0) }
                } else {
                    try SyncRun.feed(&podVersionHasher, file: claudeDir + "/" + entry.localPath, offset: 0, length: pair.local.size)
                }
                podSize += pair.local.size
            }
            try podRewriter.stream(file: data.file, offset: 0, length: deltaComplete) { try FileDescriptorIO.writeAll(fd, $0, path: content) }
            try SyncRun.feed(&podVersionHasher, file: data.file, offset: 0, length: deltaComplete)
            podSize += deltaComplete
        }
        // Named apart in Claude's picker: the session's own title, "(from pod)".
        try Self.appendTitle(to: content, sessionId: siblingId, suffix: "from pod", fallback: "session \(localId.prefix(8))")
        let written = try writeLocal(siblingPath, from: content, length: nil, rewriter: nil, extraLine: nil)
        store.set(AncestorPair(localPath: siblingPath, podPath: entry.podPath, localSessionId: siblingId, podSessionId: pair?.podSessionId ?? podId,
                               local: written, pod: FileVersion(size: podSize, sha256: SHA256Hex.hex(podVersionHasher.finalize())),
                               localSeen: LocalStat.of(claudeDir + "/" + siblingPath),
                               podSeen: podSize == podState.stat?.size ? podState.stat : nil))
        items.append(.init(path: entry.localPath, action: .forked, lines: podState.lines, bytes: deltaComplete,
                           detail: "both sides moved on: the pod's continuation is now session \(siblingId) here"))
    }

    /// The local version of a forked session goes to the pod as a sibling (second exchange).
    private mutating func queuePodSibling(for entry: Entry) throws {
        guard let localId = SyncScope.sessionId(of: entry.localPath), let stat = entry.stat else { return }
        let full = claudeDir + "/" + entry.localPath
        let complete = try LocalTree.completeLength(full, size: stat.size)
        let siblingId = UUID().uuidString.lowercased()
        let podPath = Self.replaceId(in: entry.podPath, with: siblingId)
        let rewriter = SessionIdRewriter(from: entry.pair?.localSessionId ?? localId, to: siblingId)
        let content = scratch.appendingPathComponent("sibling-\(siblingId)").path
        var hasher = SHA256()
        var size: Int64 = 0
        try AtomicFile.write(to: URL(fileURLWithPath: content)) { fd in
            try rewriter.stream(file: full, offset: 0, length: complete) { chunk in
                hasher.update(data: chunk)
                size += Int64(chunk.count)
                try FileDescriptorIO.writeAll(fd, chunk, path: content)
            }
        }
        let localSha = try SHA256Hex.ofFile(full, length: complete)
        let titleLine = try Self.appendTitle(to: content, sessionId: siblingId, suffix: "from laptop", fallback: "session \(localId.prefix(8))")
        hasher.update(data: titleLine)
        size += Int64(titleLine.count)
        let version = FileVersion(size: size, sha256: SHA256Hex.hex(hasher.finalize()))
        let pair = AncestorPair(localPath: entry.localPath, podPath: podPath, localSessionId: entry.pair?.localSessionId ?? localId,
                                podSessionId: siblingId, local: FileVersion(size: complete, sha256: localSha), pod: version,
                                localSeen: stat, podSeen: nil)
        followUps.append(.putSibling(podPath: podPath, file: content, version: version, pair: pair, forkOf: entry.localPath))
    }

    func followUpRequest() -> AgentRequest? {
        guard !followUps.isEmpty else { return nil }
        var files: [AgentFileRequest] = []
        for followUp in followUps {
            switch followUp {
            case .putSibling(let podPath, let file, let version, _, _):
                files.append(AgentFileRequest(path: podPath, seen: nil, ancestor: nil, operation: .put,
                                              payload: .init(file: file, offset: 0, length: version.size, sha256: version.sha256)))
            case .fetchForFork(let podPath, _):
                files.append(AgentFileRequest(path: podPath, seen: nil, ancestor: nil, operation: .check))
            }
        }
        return engine.filesRequest(.sync, files, busySeconds: options.busySeconds)
    }

    mutating func applyFollowUp(_ answer: AgentExchange.Answer) throws {
        let (states, data, said) = answer.index
        warnings += said
        for followUp in followUps {
            switch followUp {
            case .putSibling(let podPath, _, _, var pair, let forkOf):
                guard let state = states[podPath], state.kind == .written else {
                    warnings.append("the pod did not accept the sibling \(podPath); the next sync tries again")
                    continue
                }
                pair.podSeen = state.stat
                store.set(pair)
                if let i = items.firstIndex(where: { $0.path == forkOf && $0.action == .forked }) {
                    items[i].detail = (items[i].detail ?? "") + "; this side's continuation is session \(SyncScope.sessionId(of: podPath) ?? "?") on the pod"
                } else {
                    items.append(.init(path: forkOf, action: .forked, detail: "rewritten here: this version is session \(SyncScope.sessionId(of: podPath) ?? "?") on the pod"))
                }
            case .fetchForFork(let podPath, _):
                guard let state = states[podPath], let d = data[podPath], let entry = entries[podPath] else { continue }
                var detached = entry
                detached.pair = nil
                try forkLocally(detached, podState: state, data: d, podDeltaOnly: false)
            }
        }
    }

    /// Writes a new local file atomically (0600, folders 0700), refusing any path that
    /// leaves the Claude dir through `..` or a symlink.
    private func writeLocal(_ path: String, from source: String, length: Int64?, rewriter: SessionIdRewriter?, extraLine: Data?) throws -> FileVersion {
        try writeLocalCounting(path, from: source, length: length, rewriter: rewriter, extraLine: extraLine).version
    }

    /// `writeLocal`, also counting the newlines written.
    private func writeLocalCounting(_ path: String, from source: String, length: Int64?, rewriter: SessionIdRewriter?,
                                    extraLine: Data?) throws -> (version: FileVersion, lines: Int) {
        guard PodPathCheck.isSafeRelative(path) else { throw CCPodError.badData("refusing to write \(path.debugDescription) outside the Claude dir") }
        let target = URL(fileURLWithPath: claudeDir + "/" + path)
        try SafeFolders.make(relative: (path as NSString).deletingLastPathComponent, under: claudeDir)
        let total = try length ?? Int64(FileManager.default.attributesOfItem(atPath: source)[.size] as? Int ?? 0)
        var hasher = SHA256()
        var size: Int64 = 0
        var lines = 0
        try AtomicFile.write(to: target) { fd in
            func put(_ chunk: Data) throws {
                hasher.update(data: chunk)
                size += Int64(chunk.count)
                lines += SHA256Hex.newlines(in: chunk)
                try FileDescriptorIO.writeAll(fd, chunk, path: target.path)
            }
            if let rewriter {
                try rewriter.stream(file: source, offset: 0, length: total, put)
            } else {
                try SyncRun.copy(file: source, length: total, put)
            }
            if let extraLine { try put(extraLine) }
        }
        return (FileVersion(size: size, sha256: SHA256Hex.hex(hasher.finalize())), lines)
    }

    /// Moves a received, verified data file into place as a new local file: flushed,
    /// renamed (atomic), its folder flushed. False when it lies on another file system.
    /// Its folder is flushed with the others' after all renames (`flushRenamedFolders`).
    private mutating func adoptLocal(_ path: String, from source: String) throws -> Bool {
        guard PodPathCheck.isSafeRelative(path) else { throw CCPodError.badData("refusing to write \(path.debugDescription) outside the Claude dir") }
        let target = URL(fileURLWithPath: claudeDir + "/" + path)
        try SafeFolders.make(relative: (path as NSString).deletingLastPathComponent, under: claudeDir)
        if !flushedData.contains(source) {
            let fd = open(source, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CCPodError.io("cannot read \(source): \(String(cString: strerror(errno)))") }
            let flushed = fsync(fd) == 0
            close(fd)
            guard flushed else { throw CCPodError.io("cannot flush \(source)") }
        }
        guard rename(source, target.path) == 0 else {
            if errno == EXDEV { return false }
            throw CCPodError.io("cannot move \(source) to \(target.path): \(String(cString: strerror(errno)))")
        }
        renamedInto.insert(target.deletingLastPathComponent().path)
        return true
    }

    private func backupLocal(_ path: String) throws {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let backup = engine.stateDir.appendingPathComponent("backups/\(stamp)/\(path)")
        try CCPodLocations.makePrivateDirectory(backup.deletingLastPathComponent())
        try FileManager.default.moveItem(atPath: claudeDir + "/" + path, toPath: backup.path)
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

    // MARK: - Small pure helpers

    /// The pod's hash after an append: the pod's agreed bytes plus the appended payload.
    private func podHash(of entry: Entry, localComplete: Int64, localSha: String) throws -> String {
        guard let pair = entry.pair, let rewriter = pair.toPod else { return localSha }
        var hasher = SHA256()
        try rewriter.stream(file: claudeDir + "/" + entry.localPath, offset: 0, length: localComplete) { hasher.update(data: $0) }
        return SHA256Hex.hex(hasher.finalize())
    }

    /// The hash of the pod's file after `length` bytes of `podDelta` were appended to its agreed version.
    static func extendHash(ofPodVersion pair: AncestorPair, localPath: String, podDelta: String, length: Int64) throws -> String {
        var hasher = SHA256()
        if let rewriter = pair.toPod {
            try rewriter.stream(file: localPath, offset: 0, length: pair.local.size) { hasher.update(data: $0) }
        } else {
            try feed(&hasher, file: localPath, offset: 0, length: pair.pod.size)
        }
        try feed(&hasher, file: podDelta, offset: 0, length: length)
        return SHA256Hex.hex(hasher.finalize())
    }

    static func feed(_ hasher: inout SHA256, file: String, offset: Int64, length: Int64) throws {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw CCPodError.io("cannot read \(file)") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        var remaining = length
        while remaining > 0 {
            let chunk = try handle.read(upToCount: Int(min(remaining, 1 << 20))) ?? Data()
            if chunk.isEmpty { throw CCPodError.io("\(file) became shorter while it was read") }
            hasher.update(data: chunk)
            remaining -= Int64(chunk.count)
        }
    }

    static func copy(file: String, length: Int64, _ body: (Data) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw CCPodError.io("cannot read \(file)") }
        defer { try? handle.close() }
        var remaining = length
        while remaining > 0 {
            let chunk = try handle.read(upToCount: Int(min(remaining, 1 << 20))) ?? Data()
            if chunk.isEmpty { throw CCPodError.io("\(file) became shorter while it was read") }
            try body(chunk)
            remaining -= Int64(chunk.count)
        }
    }

    /// SHA-256 of the first `prefix` bytes and of the first `whole` bytes, in one read.
    static func hashes(_ path: String, prefix: Int64, whole: Int64) throws -> (prefix: String?, whole: String) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CCPodError.io("cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        var prefixDigest: String? = prefix == 0 ? SHA256Hex.empty : nil
        var done: Int64 = 0
        let end = max(prefix, whole)
        while done < end {
            var want = min(end - done, 1 << 20)
            if prefixDigest == nil && done < prefix { want = min(want, prefix - done) }
            let chunk = try handle.read(upToCount: Int(want)) ?? Data()
            if chunk.isEmpty { break }
            if done < whole { hasher.update(data: chunk.prefix(Int(min(Int64(chunk.count), whole - done)))) }
            done += Int64(chunk.count)
            if done == prefix && prefix <= whole { prefixDigest = SHA256Hex.hex(hasher.finalize()) }
        }
        if prefix > whole { prefixDigest = nil }
        return (prefixDigest, SHA256Hex.hex(hasher.finalize()))
    }

    static func rangeHash(_ path: String, offset: Int64, length: Int64) throws -> String {
        var hasher = SHA256()
        try feed(&hasher, file: path, offset: offset, length: length)
        return SHA256Hex.hex(hasher.finalize())
    }

    func lineCount(_ localPath: String, from: Int64, to: Int64) throws -> Int {
        var count = 0
        let handle = FileHandle(forReadingAtPath: claudeDir + "/" + localPath)
        defer { try? handle?.close() }
        try handle?.seek(toOffset: UInt64(from))
        var remaining = to - from
        while remaining > 0, let chunk = try handle?.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty {
            count += SHA256Hex.newlines(in: chunk)
            remaining -= Int64(chunk.count)
        }
        return count
    }

    static func newlines(in payload: AgentFileRequest.Payload) -> Int {
        if let data = payload.data { return SHA256Hex.newlines(in: data) }
        guard let file = payload.file else { return 0 }
        var count = 0
        guard let handle = FileHandle(forReadingAtPath: file) else { return 0 }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(payload.offset))
        var remaining = payload.length
        while remaining > 0, let chunk = try? handle.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty {
            count += SHA256Hex.newlines(in: chunk)
            remaining -= Int64(chunk.count)
        }
        return count
    }

    static func newlines(inFile file: String, length: Int64) throws -> Int {
        newlines(in: .init(file: file, offset: 0, length: length, sha256: ""))
    }

    static func replaceId(in path: String, with id: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts[parts.count - 1] = "\(id).jsonl"
        return parts.joined(separator: "/")
    }

    static func siblingPath(of path: String) -> String {
        replaceId(in: path, with: UUID().uuidString.lowercased())
    }

    /// Appends `{"type":"custom-title",…}` naming a fork's sibling after the session's
    /// title (custom title, else summary, else first prompt) and returns the line.
    @discardableResult
    static func appendTitle(to file: String, sessionId: String, suffix: String, fallback: String) throws -> Data {
        let title = (try? SessionSummary.read(URL(fileURLWithPath: file)).title).flatMap { $0 } ?? fallback
        let short = String(title.split(separator: "\n").first ?? "").prefix(80).trimmingCharacters(in: .whitespaces)
        let line = customTitleLine(title: "\(short.isEmpty ? fallback : short) (\(suffix))", sessionId: sessionId)
        guard let handle = FileHandle(forWritingAtPath: file) else { throw CCPodError.io("cannot write \(file)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
        return line
    }

    static func customTitleLine(title: String, sessionId: String) -> Data {
        let object: [String: String] = ["type": "custom-title", "customTitle": title, "sessionId": sessionId]
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        data.append(0x0A)
        return data
    }
}

/// Creates folders below a root with mode 0700, refusing symlinks on the way.
enum SafeFolders {
    static func make(relative: String, under root: String) throws {
        var current = root
        for component in relative.split(separator: "/") {
            guard component != "..", component != "." else { throw CCPodError.badData("refusing the path \(relative)") }
            current += "/" + component
            var st = stat()
            if lstat(current, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw CCPodError.badData("refusing to write through \(current): it is not a plain folder (a symlink?)")
                }
            } else {
                guard mkdir(current, 0o700) == 0 || errno == EEXIST else {
                    throw CCPodError.io("cannot create \(current): \(String(cString: strerror(errno)))")
                }
            }
        }
    }
}
