import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What to transfer: a run directory on the pod and a local folder, in one direction.
public struct ArtifactRequest: Sendable {
    public enum Direction: String, Sendable, Codable { case pull, push }

    public var direction: Direction
    /// The run directory on the pod (pod-absolute).
    public var podDirectory: String
    /// The local folder (absolute).
    public var localDirectory: String
    public var selection: ArtifactSelection
    public var dryRun: Bool
    /// Replace files that differ on the receiving side without an agreed version.
    public var force: Bool
    /// How file data that compresses is compressed on the wire; nil picks zstd when both
    /// ends have it. Files that do not compress (random checkpoints) always travel as they are.
    public var compression: Compression?

    public init(direction: Direction, podDirectory: String, localDirectory: String, selection: ArtifactSelection,
                dryRun: Bool = false, force: Bool = false, compression: Compression? = nil) {
        self.direction = direction
        self.podDirectory = podDirectory
        self.localDirectory = localDirectory
        self.selection = selection
        self.dryRun = dryRun
        self.force = force
        self.compression = compression
    }
}

/// What happened (or, in a dry run, would happen) to one file.
public struct ArtifactAction: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Copied: the receiving side had no such file.
        case new
        /// Only the new end of a file that grew travelled.
        case grown
        /// Replaced by the sending side's newer version.
        case replaced
        /// An interrupted transfer finished: only the rest travelled.
        case resumed
        /// Both sides already had the same bytes (now recorded as agreed).
        case same
        /// Changed on both sides, or different with nothing agreed: left as it is.
        case conflict
        /// Changed on the receiving side only: kept, nothing travels.
        case kept
        /// A symbolic link: reported, never followed.
        case link
        /// The transfer of this file failed; the next run tries again.
        case failed
        /// Same size on both sides and nothing agreed yet: compared by SHA-256.
        case compare
        /// Planned but not transferred (stopped, or the connection was lost before it).
        case pending
    }

    public var path: String
    public var kind: Kind
    /// Bytes of file data that travel for it.
    public var bytes: Int64
    public var note: String?

    public init(path: String, kind: Kind, bytes: Int64 = 0, note: String? = nil) {
        self.path = path
        self.kind = kind
        self.bytes = bytes
        self.note = note
    }
}

/// The result of `ccpod artifacts pull|push`.
public struct ArtifactReport: Sendable, Codable {
    public var direction: ArtifactRequest.Direction
    public var pod: String
    public var podDirectory: String
    public var localDirectory: String
    public var dryRun: Bool
    /// Every file that moved, or needs attention (unchanged files are only counted).
    public var actions: [ArtifactAction] = []
    public var unchanged = 0
    /// Bytes of file data that travelled.
    public var bytes: Int64 = 0
    public var seconds: Double = 0
    /// Stopped by Ctrl-C: what arrived is kept and the next run goes on from there.
    public var interrupted = false
    public var warnings: [String] = []
    /// Processes started on the pod (ssh execs), as the command counted them.
    public var execs: Int?

    public var conflicts: Int { actions.filter { $0.kind == .conflict }.count }
    public var failures: Int { actions.filter { $0.kind == .failed }.count }
    public var moved: Int { actions.filter { [.new, .grown, .replaced, .resumed].contains($0.kind) }.count }
}

/// Pulls a run's outputs home and pushes inputs into it: one exec, which lists the run
/// directory, then moves only new and changed files (only the new end of a file that
/// grew), each verified by SHA-256 and put in place atomically. What an interrupted
/// transfer received is kept; the next run checks it and sends only the rest.
///
/// This type only sequences: `ArtifactChannel` runs the pod's script and reads the
/// listing (`ArtifactWire` parses every record), `ArtifactPlan` decides per file,
/// `ArtifactPull` / `ArtifactPush` carry the plan out, `ArtifactFinisher` puts verified
/// files in place and records them as agreed.
public final class ArtifactTransfer: @unchecked Sendable {
    let finisher = ArtifactFinisher()
    let prefixQueue = DispatchQueue(label: "ccpod.artifacts.prefix-hash")
    public let connection: any PodConnection
    public let request: ArtifactRequest
    let store: ArtifactStateStore
    /// 0: running; 1: stop between files; 2: stop at once.
    private let stopLevel = Locked(0)
    private let channelBox = Locked<ArtifactChannel?>(nil)
    /// Counts files and bytes as they cross the stream (for a progress line).
    public var progress: TransferProgress?
    /// The warnings of the transfer's answer (capped).
    var answerWarnings = WarningList()

    public init(connection: any PodConnection, request: ArtifactRequest, podStateDir: URL) {
        self.connection = connection
        self.request = request
        self.store = ArtifactStateStore(podStateDir: podStateDir, podDirectory: request.podDirectory,
                                        localDirectory: request.localDirectory)
    }

    /// Stops a running transfer (Ctrl-C): the first call lets the file in flight finish
    /// and starts no other; a second closes the connection at once, and the part that
    /// arrived is kept for the next run to finish.
    public func cancel() {
        let level = stopLevel.withLock { $0 += 1; return $0 }
        if level >= 2 { channelBox.current?.abort() }
    }

    public var isCancelled: Bool { stopLevel.current > 0 }

    public func run() throws -> ArtifactReport {
        let started = Date()
        var report = ArtifactReport(direction: request.direction, pod: connection.displayName,
                                    podDirectory: request.podDirectory, localDirectory: request.localDirectory,
                                    dryRun: request.dryRun)
        var state = store.load()
        if request.direction == .pull && !request.dryRun { cutBackInterruptedAppends(&state) }
        let channel = try ArtifactChannel(connection: connection, runDir: request.podDirectory, tops: request.selection.listedTops,
                                        direction: request.direction)
        channelBox.withLock { $0 = channel }
        defer { channelBox.withLock { $0 = nil } }
        let listing = try channel.readListing()
        report.warnings += listing.warnings.map { "pod: \($0)" }
        guard listing.runExists else {
            channel.endWithoutTransfer()
            throw CCPodError.usage("\(request.podDirectory) does not exist on \(TerminalText.escape(connection.displayName)); check the run with `ccpod runs`")
        }
        do {
            switch request.direction {
            case .pull: try pull(channel, listing, &state, &report)
            case .push: try push(channel, listing, &state, &report)
            }
        } catch {
            channel.stop()
            if !request.dryRun { try? store.save(state) }
            if isCancelled {
                report.warnings += answerWarnings.all
                report.interrupted = true
                report.seconds = Date().timeIntervalSince(started)
                return report
            }
            throw ArtifactRejection.unwrap(error)
        }
        if !request.dryRun { try store.save(state) }
        report.warnings += answerWarnings.all
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    // MARK: - shared by pull and push

    /// The error for an answer that is not what was asked, naming the pod and what was wrong.
    func badAnswer(_ why: String, _ kept: String) -> CCPodError {
        CCPodError.badData("the pod \(TerminalText.escape(connection.displayName)) sent an invalid answer (\(why)); \(kept)")
    }

    /// `badAnswer` as a rejection: what the user reads even though ccpod then stops the pod's process.
    func rejecting(_ kept: String) -> (String) -> Error {
        { why in ArtifactRejection(error: self.badAnswer(why, kept)) }
    }

    /// Reads the answer's records until `END ok`: warnings are collected (capped), every
    /// other record goes to `handle`, which returns false to stop reading early. A `Y`
    /// record switches the rest of the answer to the response compression; `END failed`
    /// is the agent's own failure, its last warning the reason.
    func readAnswer(_ channel: ArtifactChannel, _ bad: (String) -> Error, ended: (String) -> CCPodError,
                    _ handle: (ArtifactWire.Answer, FDReader) throws -> Bool) throws {
        var warnings = 0
        var lastWarning: String?
        while true {
            guard let answer = channel.answer else { throw CCPodError.failure("no answer stream") }
            guard let line = try answer.readLine(limit: ArtifactWire.maxLine) else { throw ended("it ended early") }
            let record = try ArtifactWire.Answer.parse(line, bad: bad)
            switch record {
            case .end(let ok):
                guard ok else {
                    // The agent's own failure, as the sync agent's: the pod answered (65).
                    throw ArtifactRejection(error: CCPodError.badData(
                        "the artifacts agent on \(TerminalText.escape(connection.displayName)) stopped: \(lastWarning ?? "no reason given")"))
                }
                return
            case .warning(let text):
                warnings += 1
                guard warnings <= ArtifactWire.maxListingRecords else { throw bad("more than \(ArtifactWire.maxListingRecords) warnings (W)") }
                answerWarnings.add("pod: " + text)
                lastWarning = text
            case .compressedRest:
                guard try channel.decompressRest() else { throw bad("compression nobody asked for (Y)") }
            default:
                if try !handle(record, answer) { return }
            }
        }
    }

    /// The pod's hash of a file both sides have with nothing agreed (`H` for a `C`
    /// request): recorded as agreed when the local file has the same bytes, else a conflict.
    func compared(sha: String, size: Int64, mtime: String, path: String, local: (String) -> LocalStat?,
                  _ state: inout ArtifactState, differs: String) -> ArtifactAction {
        if let stamp = local(path), stamp.size == size, let here = try? SHA256Hex.ofFile(request.localDirectory + "/" + path), here == sha {
            state.files[path] = .init(pod: PodStat(size: size, mtime: mtime), local: stamp, sha256: here)
            return ArtifactAction(path: path, kind: .same)
        }
        return ArtifactAction(path: path, kind: .conflict, note: differs)
    }

    /// zstd when both ends have it (fast level), else gzip, else none. The pod applies it
    /// only to files whose sample shrinks; the others travel as they are.
    func chooseCompression(_ listing: RunListing) -> Compression {
        if let chosen = request.compression { return listing.tools.contains(chosen) || chosen == .none ? chosen : .none }
        let here = Compression.locallyAvailable
        return [Compression.zstd, .gzip].first { listing.tools.contains($0) && here.contains($0) } ?? .none
    }

    /// Planned actions with what actually happened put in their place.
    func merge(_ planned: [ArtifactAction], _ results: [String: ArtifactAction]) -> [ArtifactAction] {
        planned.map { action in
            guard let result = results[action.path], action.kind != .link else {
                if [.new, .grown, .replaced, .resumed, .compare].contains(action.kind) {
                    return ArtifactAction(path: action.path, kind: .pending, bytes: 0, note: "not transferred this time; the next run takes it")
                }
                return action
            }
            return result
        }
    }

    /// A grown file whose append was interrupted is cut back to what was agreed.
    private func cutBackInterruptedAppends(_ state: inout ArtifactState) {
        for (path, size) in state.appending {
            let full = request.localDirectory + "/" + path
            if let st = LocalStat.of(full), st.size > size { truncate(full, off_t(size)) }
            if let st = LocalStat.of(full) { state.files[path]?.local = st }
            state.appending[path] = nil
        }
    }
}
