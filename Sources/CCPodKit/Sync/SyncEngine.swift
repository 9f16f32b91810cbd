import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Carries sessions between the local Claude dir and a pod in one agent exchange
/// (a second one only when a fork must put a sibling on the pod).
///
/// It only sequences the parts: `LocalScan` (what is here), the request
/// (`SyncRun.plan`), one exchange, `SyncDecision` per file (the README's semantics
/// table, pure), `SyncApplier` (its effects, every local write through `LocalWriter`
/// inside the command's `WriteScope`) and `SessionFork` (siblings).
public struct SyncEngine: Sendable {
    public let claudeDir: String
    public let connection: any PodConnection
    public let stateDir: URL
    /// Compress the streams (not worth it for `local:` pods).
    public var compress: Bool
    /// Told about the bytes of every exchange as they cross the stream (progress on a terminal).
    public var progress: TransferProgress?
    /// Where the packed agent script is kept between runs (packing it forks gzip, 7 ms
    /// of every exchange's start): ccpod's own cache (`CCPodLocations.cacheDir`), the
    /// same for every pod; nil: this pod's state folder.
    public var scriptCacheDir: URL?

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

    /// Starts the pod's agent for a run with `options` before anything else is known
    /// (the command's mapping, the local scan): the connection's round trips and the
    /// pod's start-up then overlap with that work. nil when it cannot start now (the run
    /// then starts its own, and says why it fails). Give it to `run`, or `cancel` it.
    public func startAgent(_ options: SyncOptions) -> AgentExchange.Started? {
        try? agentExchange(compression: requestCompression).start(mode: options.agentMode)
    }

    /// - Parameter agent: the agent `startAgent` started for this run, if any.
    public func run(scope: SyncScope, options: SyncOptions, agent: AgentExchange.Started? = nil) throws -> SyncReport {
        let started = Date()
        var agent = agent
        defer { agent?.cancel() }
        try CCPodLocations.makePrivateDirectory(stateDir)
        // Its scratch folders, where a pull's files are first written, each spread to a
        // block group of its own (see ScratchSpread).
        ScratchSpread.mark(stateDir)
        try LocalJournal(dir: journalDir, claudeDir: claudeDir).recover()
        let store = try AncestorStore(file: ancestorsFile)
        let scratch = stateDir.appendingPathComponent("scratch-\(getpid())-\(UUID().uuidString.prefix(8))")
        try CCPodLocations.makePrivateDirectory(scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }

        // The agent starts now unless it did already: the connection and the pod's
        // start-up overlap with the scan.
        let early = agent ?? startAgent(options)
        agent = nil
        var run = SyncRun(engine: self, scope: scope, options: options, store: store, scratch: scratch)
        let request: AgentRequest
        do {
            try run.plan(LocalScan.run(claudeDir: claudeDir, scope: scope, options: options, store: store))
            try run.planHistory()
            request = run.request(mode: options.agentMode)
        } catch {
            early?.cancel()
            throw error
        }
        var calls = 0
        let answer = try exchange(request, scratch: scratch, calls: &calls, started: early)
        try run.apply(answer)
        if let followUp = run.followUpRequest() {
            let second = try exchange(followUp, scratch: scratch, calls: &calls)
            try run.applyFollowUp(second)
        }
        if !options.dryRun && options.direction != .status {
            // Nothing agreed anew (the common "nothing changed" sync): nothing to write.
            if run.store.pairs != store.pairs || store.droppedLines { try run.store.save() }
            try run.saveConflicts(to: conflictsFile)
        }
        return SyncReport(
            mode: options.direction.rawValue, pod: connection.displayName, dryRun: options.dryRun,
            items: run.items.sorted { $0.path < $1.path },
            exchanges: calls,
            seconds: Date().timeIntervalSince(started), warnings: run.warnings + run.store.warnings,
            sessionNotes: options.overview ? answer.records.compactMap { if case .session(let note) = $0 { note } else { nil } } : nil)
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

    /// The exchange as this pod takes it: the request compressed as it is known to
    /// decompress, the script packed unless it lacks gzip.
    func agentExchange(compression: Compression) -> AgentExchange {
        AgentExchange(connection: connection, requestCompression: compression,
                      compressedScript: !FileManager.default.fileExists(atPath: plainScriptFile.path), progress: progress,
                      scriptCache: DerivedValueCache(directory: scriptCacheDir ?? stateDir.appendingPathComponent("cache")))
    }

    /// One agent call (two when the pod cannot decompress what it was sent), counted in
    /// `calls`; `started` is an agent already running for it (see `AgentExchange.start`).
    func exchange(_ request: AgentRequest, scratch: URL, calls: inout Int,
                  started: AgentExchange.Started? = nil) throws -> AgentExchange.Answer {
        let compression = requestCompression
        let answer: AgentExchange.Answer
        calls += 1
        do {
            if let started {
                answer = try started.run(request, scratch: scratch)
            } else {
                answer = try agentExchange(compression: compression).run(request, scratch: scratch)
            }
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
