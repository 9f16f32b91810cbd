import CCPodSystemShims
import Crypto
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
public final class ArtifactTransfer: @unchecked Sendable {
    private let finisher = ArtifactFinisher()
    private let prefixQueue = DispatchQueue(label: "ccpod.artifacts.prefix-hash")
    public let connection: any PodConnection
    public let request: ArtifactRequest
    let store: ArtifactStateStore
    /// 0: running; 1: stop between files; 2: stop at once.
    private let stopLevel = Locked(0)
    private let channelBox = Locked<ArtifactChannel?>(nil)
    /// Counts files and bytes as they cross the stream (for a progress line).
    public var progress: TransferProgress?

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
        let channel = try ArtifactChannel(connection: connection, runDir: request.podDirectory, tops: request.selection.listedTops)
        channelBox.withLock { $0 = channel }
        defer { channelBox.withLock { $0 = nil } }
        let listing = try channel.readListing()
        report.warnings += listing.warnings.map { "pod: \($0)" }
        guard listing.runExists else {
            channel.endWithoutTransfer()
            throw CCPodError.usage("\(request.podDirectory) does not exist on \(connection.displayName); check the run with `ccpod runs`")
        }
        do {
            switch request.direction {
            case .pull: try pull(channel, listing, &state, &report)
            case .push: try push(channel, listing, &state, &report)
            }
        } catch {
            if !request.dryRun { try? store.save(state) }
            if isCancelled {
                report.interrupted = true
                report.seconds = Date().timeIntervalSince(started)
                return report
            }
            throw error
        }
        if !request.dryRun { try store.save(state) }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    // MARK: - pull

    /// A range of a pod file to fetch, and how it lands here.
    private struct Fetch {
        enum Landing { case part, append }
        var path: String
        var offset: Int64
        var length: Int64
        var prefixSha: String?
        var prefix: PrefixHash?
        var listed: PodStat
        var kind: ArtifactAction.Kind
        var landing: Landing
    }

    private func pull(_ channel: ArtifactChannel, _ listing: RunListing, _ state: inout ArtifactState, _ report: inout ArtifactReport) throws {
        let root = request.localDirectory
        let local = LocalFolder.list(root)
        var fetches: [String: Fetch] = [:]
        var order: [String] = []
        var compares: [String] = []
        // A listed folder (`logs`) that is itself a link is reported too.
        for link in listing.links where request.selection.includes(link.path) || request.selection.listedTops.contains(link.path) {
            report.actions.append(ArtifactAction(path: link.path, kind: .link,
                note: link.inside ? "a link on the pod; not followed" : "a link on the pod that points outside the run; not followed"))
        }
        for (path, file) in listing.files.sorted(by: { $0.key < $1.key })
        where LocalFolder.pathOfPart(path) == nil && request.selection.includes(path) {
            let pod = file.stat
            let agreed = state.files[path]
            var st = stat()
            let exists = lstat(root + "/" + path, &st) == 0
            if exists && (st.st_mode & S_IFMT) != S_IFREG {
                report.actions.append(ArtifactAction(path: path, kind: .conflict, note: "not a regular file here; left alone"))
                continue
            }
            func fetch(_ kind: ArtifactAction.Kind, offset: Int64 = 0, prefix: PrefixHash? = nil, prefixSha: String? = nil,
                       landing: Fetch.Landing = .part) {
                fetches[path] = Fetch(path: path, offset: offset, length: pod.size - offset, prefixSha: prefixSha,
                                      prefix: prefix, listed: pod, kind: kind, landing: landing)
                order.append(path)
            }
            guard exists, let stamp = LocalStat.of(root + "/" + path) else {
                // New here, or an interrupted pull of this very version to finish.
                if let part = local.parts[path], state.partial[path] == pod, part.size > 0, part.size < pod.size,
                   let hasher = try? Self.hasher(of: root + "/" + LocalFolder.partPath(path), length: part.size) {
                    fetch(.resumed, offset: part.size, prefix: PrefixHash(hasher), prefixSha: SHA256Hex.hex(hasher.finalize()))
                } else {
                    fetch(.new)
                }
                continue
            }
            if let agreed, agreed.local == stamp || (agreed.local.size == stamp.size && (try? SHA256Hex.ofFile(root + "/" + path)) == agreed.sha256) {
                if agreed.local != stamp { state.files[path]?.local = stamp }
                if agreed.pod == pod { report.unchanged += 1; continue }
                if pod.size > agreed.pod.size, agreed.pod.size == stamp.size {
                    // The pod checks its first bytes against the agreed hash while the same
                    // bytes here are hashed (to go on with the new end) in the background.
                    let prefix = request.dryRun ? nil : PrefixHash(of: root + "/" + path, length: stamp.size, on: prefixQueue)
                    fetch(.grown, offset: stamp.size, prefix: prefix, prefixSha: agreed.sha256, landing: .append)
                } else {
                    fetch(.replaced)
                }
                continue
            }
            if let agreed {
                // Changed here since the last agreement.
                if agreed.pod == pod {
                    report.actions.append(ArtifactAction(path: path, kind: .kept, note: "changed here; the pod's copy did not change"))
                } else if request.force {
                    fetch(.replaced)
                } else {
                    report.actions.append(ArtifactAction(path: path, kind: .conflict, note: "changed here and on the pod; use --force to take the pod's"))
                }
                continue
            }
            if request.force {
                fetch(.replaced)
            } else if stamp.size == pod.size {
                compares.append(path)
                report.actions.append(ArtifactAction(path: path, kind: .compare))
            } else {
                report.actions.append(ArtifactAction(path: path, kind: .conflict, note: "a different file is already here; use --force to take the pod's"))
            }
        }
        let planned = order.compactMap { fetches[$0] }
        let total = planned.reduce(Int64(0)) { $0 + $1.length }
        for f in planned { report.actions.append(ArtifactAction(path: f.path, kind: f.kind, bytes: f.length)) }
        if request.dryRun || (planned.isEmpty && compares.isEmpty) {
            report.bytes = request.dryRun ? total : 0
            channel.endWithoutTransfer()
            return
        }
        do {
            try CCPodLocations.makePrivateDirectory(URL(fileURLWithPath: root))
            try Self.checkFreeSpace(root, needed: total)
        } catch {
            channel.endWithoutTransfer()
            throw error
        }

        // Remember what the parts and appends are before any byte lands.
        for f in planned {
            switch f.landing {
            case .part: state.partial[f.path] = f.listed
            case .append: state.appending[f.path] = f.offset
            }
        }
        try store.save(state)

        let compression = chooseCompression(listing)
        var text = ""
        // Small whole files travel in batches (a few forks on the pod for all of them).
        var batchBytes: Int64 = 0
        for f in planned where Self.travelsInBatch(f) {
            if batchBytes + f.length > Self.batchLimit && batchBytes > 0 { text += "X\n"; batchBytes = 0 }
            text += "S\t\(f.path)\n"
            batchBytes += f.length
        }
        for f in planned where !Self.travelsInBatch(f) {
            text += "G\t\(f.offset)\t\(f.length)\t\(f.prefixSha ?? "-")\t\(f.path)\n"
        }
        for path in compares { text += "C\t-\t-\t-\t\(path)\n" }
        text += "END\n"
        let requestText = Data(text.utf8)
        try channel.sendRequest(requestCompression: .none, responseCompression: compression) { fd in
            try FileDescriptorIO.writeAll(fd, requestText, path: "the pod")
        }
        var results: [String: ArtifactAction] = [:]
        var moved: Int64 = 0
        var lastSave = Date()
        progress?.expect(files: planned.count, bytes: total)
        do {
            func bad(_ why: String) -> CCPodError {
                CCPodError.badData("the pod \(connection.displayName) sent an invalid answer (\(why)); files that arrived before are kept")
            }
            try readAnswer(channel, bad, warn: { report.warnings.append($0) }) { fields, answer in
                switch fields[0] {
                case "H":
                    let action = try compared(fields, compares: compares, local: { LocalStat.of(root + "/" + $0) }, &state, bad,
                                              differs: "a different file is already here; use --force to take the pod's")
                    results[action.path] = action
                case "D", "B":
                    var arrivals: [(fetch: Fetch, offset: Int64, length: Int64, sha: String?)] = []
                    if fields[0] == "D" {
                        guard fields.count == 4, let offset = Int64(fields[1]), let length = Int64(fields[2]), offset >= 0, length >= 0,
                              let fetch = fetches[fields[3]], results[fetch.path] == nil, offset == fetch.offset || offset == 0
                        else { throw bad("a data record nobody asked for") }
                        arrivals.append((fetch, offset, length, nil))
                    } else {
                        guard fields.count == 2, let count = Int(fields[1]), count > 0, count <= fetches.count else { throw bad("a malformed batch") }
                        for _ in 0..<count {
                            guard let line = try answer.readLine(limit: 64 * 1024) else { throw bad("it ended in a batch") }
                            let f = line.split(separator: 0x09, maxSplits: 3, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                            guard f.count == 4, f[0] == "F", let length = Int64(f[1]), length >= 0, AgentExchange.isHex64(f[2]),
                                  let fetch = fetches[f[3]], results[fetch.path] == nil, Self.travelsInBatch(fetch)
                            else { throw bad("a batch entry nobody asked for") }
                            arrivals.append((fetch, 0, length, f[2]))
                        }
                    }
                    var action = ArtifactAction(path: "", kind: .failed)
                    for arrival in arrivals {
                        action = try receive(arrival.fetch, offset: arrival.offset, length: arrival.length, sha: arrival.sha,
                                             from: answer, state: &state) { n in
                            moved += n
                            self.progress?.moved(Int(n))
                        }
                        progress?.fileDone()
                        results[arrival.fetch.path] = action
                    }
                    absorb(finisher.take(), &state, &results)
                    if Date().timeIntervalSince(lastSave) > 2 { try store.save(state); lastSave = Date() }
                    if isCancelled && results.count < planned.count + compares.count {
                        // Ctrl-C: this file is whole; the others wait for the next run.
                        channel.abort()
                        report.interrupted = true
                        return false
                    }
                default:
                    throw bad("an unknown record")
                }
                return true
            }
        } catch {
            absorb(finisher.drain(), &state, &results)
            report.actions = merge(report.actions, results)
            report.bytes = moved
            if isCancelled { channel.abort(); channel.finish(); throw error }
            channel.abort()
            throw channel.explained(error)
        }
        channel.finish()
        absorb(finisher.drain(), &state, &results)
        report.actions = merge(report.actions, results)
        report.bytes = moved
    }

    /// Receives one data record into its landing place, verifies it, and records the agreement.
    /// Small whole files go in batches.
    /// (A name with a tab goes on its own: the batch record keeps only one field for it.)
    private static func travelsInBatch(_ f: Fetch) -> Bool { f.offset == 0 && f.length <= smallFile && !f.path.contains("\t") }
    static let smallFile: Int64 = 1 << 20
    static let batchLimit: Int64 = 64 << 20

    /// Receives one file's bytes into its landing place and verifies them against `sha`
    /// (a batch says it first) or the `Z` record that follows them.
    private func receive(_ fetch: Fetch, offset: Int64, length: Int64, sha expected: String?, from answer: FDReader,
                         state: inout ArtifactState, progress: (Int64) -> Void) throws -> ArtifactAction {
        var prefix: SHA256?
        if offset > 0 {
            prefix = fetch.prefix?.wait()
            guard let prefix, SHA256Hex.hex(prefix.finalize()) == fetch.prefixSha else {
                // The bytes here are not the agreed ones after all (changed without a new
                // size or time): nothing is added to them, and they are no longer agreed.
                var remaining = length
                var ignored = SHA256()
                try answer.stream(&remaining, hasher: &ignored) { _ in }
                _ = try answer.readLine(limit: 64 * 1024)
                state.files[fetch.path] = nil
                state.partial[fetch.path] = nil
                state.appending[fetch.path] = nil
                return ArtifactAction(path: fetch.path, kind: .failed, note: "changed here while it was pulled; pull again")
            }
        }
        let root = request.localDirectory
        let finalPath = root + "/" + fetch.path
        let appending = fetch.landing == .append && offset == fetch.offset && offset > 0
        let target = appending ? finalPath : root + "/" + LocalFolder.partPath(fetch.path)
        try LocalFolder.makeParents(root: root, of: fetch.path)
        let fd = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CCPodError.io("cannot write \(target): \(String(cString: strerror(errno)))") }
        // The pod hashes the range it sends; the agreement is about the whole file, which
        // needs a second hasher only when the range does not start at 0.
        var chunk = SHA256()
        var whole = prefix
        var ok = false
        defer {
            close(fd)
            if !ok && appending { truncate(finalPath, off_t(offset)) }
        }
        if appending {
            var st = stat()
            guard fstat(fd, &st) == 0, Int64(st.st_size) == offset else {
                throw CCPodError.io("\(finalPath) changed while it was pulled; pull again")
            }
        }
        guard ftruncate(fd, off_t(offset)) == 0, lseek(fd, off_t(offset), SEEK_SET) >= 0 else {
            throw CCPodError.io("cannot write \(target): \(String(cString: strerror(errno)))")
        }
        var remaining = length
        var writeBehind = WriteBehind(fd: fd, offset: offset)
        try answer.stream(&remaining, hasher: &chunk) { raw in
            whole?.update(bufferPointer: raw)
            try FileDescriptorIO.writeAll(fd, raw, path: target)
            writeBehind.wrote(raw.count)
            progress(Int64(raw.count))
        }
        let podSha: String
        if let expected {
            podSha = expected
        } else {
            guard let z = try answer.readLine(limit: 64 * 1024) else {
                throw CCPodError.badData("the pod's answer ended in the middle of \(fetch.path)")
            }
            let zf = z.split(separator: 0x09, maxSplits: 2, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard zf.count == 3, zf[0] == "Z", zf[2] == fetch.path, AgentExchange.isHex64(zf[1]) else {
                throw CCPodError.badData("the pod sent an invalid answer (no hash after \(fetch.path))")
            }
            podSha = zf[1]
        }
        let rangeSha = SHA256Hex.hex(chunk.finalize())
        guard rangeSha == podSha else {
            if !appending { unlink(target) }
            state.partial[fetch.path] = nil
            state.appending[fetch.path] = nil
            return ArtifactAction(path: fetch.path, kind: .failed, bytes: length,
                                  note: "changed on the pod while it was read (or damaged on the way); pull again")
        }
        ok = true
        let size = offset + length
        let podStat = size == fetch.listed.size ? fetch.listed : PodStat(size: size, mtime: "-")
        let kind: ArtifactAction.Kind = offset == fetch.offset ? fetch.kind : (fetch.kind == .new || fetch.kind == .resumed ? .new : .replaced)
        finisher.submit(.init(fd: dup(fd), target: target, finalPath: finalPath, rename: !appending, path: fetch.path,
                              pod: podStat, sha256: whole.map { SHA256Hex.hex($0.finalize()) } ?? rangeSha),
                        small: size <= Self.smallFile)
        return ArtifactAction(path: fetch.path, kind: kind, bytes: length)
    }

    /// Folds files the finisher put in place into the state (and failures into the results).
    private func absorb(_ finished: [ArtifactFinisher.Done], _ state: inout ArtifactState, _ results: inout [String: ArtifactAction]) {
        for done in finished {
            switch done.outcome {
            case .success(let stamp):
                state.files[done.job.path] = .init(pod: done.job.pod, local: stamp, sha256: done.job.sha256)
                state.partial[done.job.path] = nil
                state.appending[done.job.path] = nil
            case .failure(let error):
                results[done.job.path] = ArtifactAction(path: done.job.path, kind: .failed, note: error.message)
            }
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

    // MARK: - push

    private struct Send: Sendable {
        var path: String
        var offset: Int64
        var length: Int64
        var stamp: LocalStat
        var kind: ArtifactAction.Kind
    }

    private func push(_ channel: ArtifactChannel, _ listing: RunListing, _ state: inout ArtifactState, _ report: inout ArtifactReport) throws {
        let root = request.localDirectory
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            channel.endWithoutTransfer()
            throw CCPodError.usage("\(root) is not a folder here; name the folder to push with --from DIR")
        }
        let local = LocalFolder.list(root)
        for link in local.links where request.selection.includes(link) {
            report.actions.append(ArtifactAction(path: link, kind: .link, note: "a link here; not followed"))
        }
        var podParts: [String: Int64] = [:]
        for (path, file) in listing.files { if let original = LocalFolder.pathOfPart(path) { podParts[original] = file.stat.size } }
        var sends: [Send] = []
        var compares: [String] = []
        for (path, stamp) in local.files.sorted(by: { $0.key < $1.key }) where request.selection.includes(path) {
            let agreed = state.files[path]
            let pod = listing.files[path]?.stat
            func sha() throws -> String {
                if let agreed, agreed.local == stamp { return agreed.sha256 }
                return try SHA256Hex.ofFile(root + "/" + path)
            }
            guard let pod else {
                // The pod's part, if any, belongs to this very version when the local file did not change since.
                if let part = podParts[path], part > 0, part < stamp.size, state.pushing[path] == stamp {
                    sends.append(Send(path: path, offset: part, length: stamp.size - part, stamp: stamp, kind: .resumed))
                } else {
                    sends.append(Send(path: path, offset: 0, length: stamp.size, stamp: stamp, kind: .new))
                }
                continue
            }
            if let agreed {
                let localSame = agreed.local == stamp || (agreed.local.size == stamp.size && (try? sha()) == agreed.sha256)
                if localSame, agreed.local != stamp { state.files[path]?.local = stamp }
                switch (localSame, agreed.pod == pod) {
                case (true, true): report.unchanged += 1
                case (true, false): report.actions.append(ArtifactAction(path: path, kind: .kept, note: "changed on the pod; this copy did not change"))
                case (false, true): sends.append(Send(path: path, offset: 0, length: stamp.size, stamp: stamp, kind: .replaced))
                case (false, false):
                    if request.force {
                        sends.append(Send(path: path, offset: 0, length: stamp.size, stamp: stamp, kind: .replaced))
                    } else {
                        report.actions.append(ArtifactAction(path: path, kind: .conflict, note: "changed here and on the pod; use --force to send this one"))
                    }
                }
                continue
            }
            if request.force {
                sends.append(Send(path: path, offset: 0, length: stamp.size, stamp: stamp, kind: .replaced))
            } else if pod.size == stamp.size {
                compares.append(path)
                report.actions.append(ArtifactAction(path: path, kind: .compare))
            } else {
                report.actions.append(ArtifactAction(path: path, kind: .conflict, note: "a different file is already on the pod; use --force to send this one"))
            }
        }
        let total = sends.reduce(Int64(0)) { $0 + $1.length }
        for s in sends { report.actions.append(ArtifactAction(path: s.path, kind: s.kind, bytes: s.length)) }
        if request.dryRun || (sends.isEmpty && compares.isEmpty) {
            report.bytes = request.dryRun ? total : 0
            channel.endWithoutTransfer()
            return
        }
        if let free = listing.freeBytes, free > 0, total > free {
            channel.endWithoutTransfer()
            throw CCPodError.io("the pod has \(Self.bytes(free)) free where \(request.podDirectory) is, the push needs \(Self.bytes(total)); nothing was sent")
        }
        for s in sends { state.pushing[s.path] = s.stamp }
        try store.save(state)

        let compression = chooseCompression(listing)
        let planned = sends
        let progress = self.progress
        progress?.expect(files: planned.count, bytes: total)
        let sent = Locked(Int64(0))
        let sentHashes = Locked([String: String]())
        var header = ""
        for path in compares { header += "C\t-\t-\t-\t\(path)\n" }
        let compareText = Data(header.utf8)
        try channel.sendRequest(requestCompression: compression, responseCompression: compression) { fd in
            try FileDescriptorIO.writeAll(fd, compareText, path: "the pod")
            for s in planned {
                // Ctrl-C: end the request between files; the pod answers for those it got.
                if self.isCancelled { break }
                let path = root + "/" + s.path
                // The whole file's SHA-256, hashed as it is read: the prefix the pod's part
                // already holds first, then what is sent.
                var hasher = s.offset > 0 ? try Self.hasher(of: path, length: s.offset) : SHA256()
                try FileDescriptorIO.writeAll(fd, Data("P\t\(s.offset)\t\(s.length)\t-\t\(s.path)\n".utf8), path: "the pod")
                try Self.copyRange(of: path, offset: s.offset, length: s.length, to: fd, hasher: &hasher) { n in
                    sent.withLock { $0 += n }
                    progress?.moved(Int(n))
                }
                let digest = SHA256Hex.hex(hasher.finalize())
                sentHashes.withLock { $0[s.path] = digest }
                try FileDescriptorIO.writeAll(fd, Data("Z\t\(digest)\n".utf8), path: "the pod")
                progress?.fileDone()
            }
            try FileDescriptorIO.writeAll(fd, Data("END\n".utf8), path: "the pod")
        }
        var results: [String: ArtifactAction] = [:]
        let byPath = Dictionary(planned.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        do {
            func bad(_ why: String) -> CCPodError {
                CCPodError.badData("the pod \(connection.displayName) sent an invalid answer (\(why)); what it confirmed is kept")
            }
            try readAnswer(channel, bad, warn: { report.warnings.append($0) }) { fields, _ in
                switch fields[0] {
                case "H":
                    let action = try compared(fields, compares: compares, local: { local.files[$0] }, &state, bad,
                                              differs: "a different file is already on the pod; use --force to send this one")
                    results[action.path] = action
                case "A":
                    guard fields.count == 5, let s = byPath[fields[4]] else { throw bad("an answer for a file nobody sent") }
                    switch fields[1] {
                    case "ok":
                        guard let size = Int64(fields[2]), size == s.offset + s.length else { throw bad("a wrong size for \(s.path)") }
                        guard let digest = sentHashes.current[s.path] else { throw bad("an answer for \(s.path) before it was sent") }
                        state.files[s.path] = .init(pod: PodStat(size: size, mtime: fields[3]), local: s.stamp, sha256: digest)
                        state.pushing[s.path] = nil
                        results[s.path] = ArtifactAction(path: s.path, kind: s.kind, bytes: s.length)
                    case "short":
                        results[s.path] = ArtifactAction(path: s.path, kind: .pending, note: "part of it is on the pod; the next push sends the rest")
                    case "restart":
                        state.pushing[s.path] = nil
                        results[s.path] = ArtifactAction(path: s.path, kind: .failed, bytes: s.length, note: "the pod's partial copy was not what was expected; push again to send it whole")
                    case "refused":
                        results[s.path] = ArtifactAction(path: s.path, kind: .failed, note: "the pod refused to write it (its folder is a link leaving the run, or cannot be created)")
                    default:
                        state.pushing[s.path] = nil
                        results[s.path] = ArtifactAction(path: s.path, kind: .failed, bytes: s.length, note: "changed here while it was sent (or damaged on the way); push again")
                    }
                default:
                    throw bad("an unknown record")
                }
                return true
            }
        } catch {
            report.actions = merge(report.actions, results)
            report.bytes = sent.current
            if isCancelled { channel.abort(); channel.finish(); throw error }
            channel.abort()
            throw channel.explained(error)
        }
        channel.finish()
        if let error = channel.writeError.current { throw error }
        if isCancelled && results.count < planned.count + compares.count { report.interrupted = true }
        report.actions = merge(report.actions, results)
        report.bytes = results.values.reduce(Int64(0)) { $0 + ($1.kind == .failed ? 0 : $1.bytes) }
    }

    // MARK: - helpers

    /// Reads the answer's records until `END ok`: warnings are collected, every other
    /// record goes to `handle` with its fields (the path last); `handle` returns false
    /// to stop reading early.
    /// A `Y` record switches the rest of the answer to the response compression.
    private func readAnswer(_ channel: ArtifactChannel, _ bad: (String) -> CCPodError, warn: (String) -> Void,
                            _ handle: ([String], FDReader) throws -> Bool) throws {
        while true {
            guard let answer = channel.answer else { throw CCPodError.failure("no answer stream") }
            guard let lineBytes = try answer.readLine(limit: 64 * 1024) else { throw bad("it ended early") }
            let fields = lineBytes.split(separator: 0x09, maxSplits: 4, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            switch fields[0] {
            case "END":
                guard fields.count == 2, fields[1] == "ok" else { throw bad("it stopped") }
                return
            case "W":
                warn("pod: " + fields.dropFirst().joined(separator: " "))
            case "Y":
                guard fields.count == 1, try channel.decompressRest() else { throw bad("compression nobody asked for") }
            default:
                if try !handle(fields, answer) { return }
            }
        }
    }

    /// The pod's hash of a file both sides have with nothing agreed (`H` for a `C`
    /// request): recorded as agreed when the local file has the same bytes, else a conflict.
    private func compared(_ fields: [String], compares: [String], local: (String) -> LocalStat?,
                          _ state: inout ArtifactState, _ bad: (String) -> CCPodError, differs: String) throws -> ArtifactAction {
        guard fields.count == 5, AgentExchange.isHex64(fields[1]), let size = Int64(fields[2]), compares.contains(fields[4]) else {
            throw bad("a malformed hash record")
        }
        let path = fields[4]
        if let stamp = local(path), stamp.size == size, let sha = try? SHA256Hex.ofFile(request.localDirectory + "/" + path), sha == fields[1] {
            state.files[path] = .init(pod: PodStat(size: size, mtime: fields[3]), local: stamp, sha256: sha)
            return ArtifactAction(path: path, kind: .same)
        }
        return ArtifactAction(path: path, kind: .conflict, note: differs)
    }

    /// zstd when both ends have it (fast level), else gzip, else none. The pod applies it
    /// only to files whose sample shrinks; the others travel as they are.
    private func chooseCompression(_ listing: RunListing) -> Compression {
        if let chosen = request.compression { return listing.tools.contains(chosen) || chosen == .none ? chosen : .none }
        let here = Compression.locallyAvailable
        return [Compression.zstd, .gzip].first { listing.tools.contains($0) && here.contains($0) } ?? .none
    }

    /// Planned actions with what actually happened put in their place.
    private func merge(_ planned: [ArtifactAction], _ results: [String: ArtifactAction]) -> [ArtifactAction] {
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

    /// A SHA-256 state over the first `length` bytes of a file (to continue with what arrives).
    static func hasher(of path: String, length: Int64) throws -> SHA256 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw CCPodError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = SHA256()
        var remaining = length
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while remaining > 0 {
            let n = try FileDescriptorIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))]), path: path)
            guard n > 0 else { throw CCPodError.io("\(path) is shorter than expected") }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= Int64(n)
        }
        return hasher
    }

    /// Writes `length` bytes of a file from `offset` to `fd`; zeros if the file became
    /// shorter meanwhile (the framing holds and the pod's hash check rejects it).
    static func copyRange(of path: String, offset: Int64, length: Int64, to fd: Int32, hasher: inout SHA256,
                          progress: (Int64) -> Void) throws {
        let input = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var position = offset
        var remaining = length
        while remaining > 0 {
            let want = Int(min(Int64(buffer.count), remaining))
            var n = pread(input, buffer.baseAddress!, want, off_t(position))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                memset(buffer.baseAddress!, 0, want)
                n = want
            }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: chunk)
            try FileDescriptorIO.writeAll(fd, chunk, path: "the pod")
            position += Int64(n)
            remaining -= Int64(n)
            progress(Int64(n))
        }
    }

    static func checkFreeSpace(_ path: String, needed: Int64) throws {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        if needed > free {
            throw CCPodError.io("\(path) has \(bytes(free)) free, the pull needs \(bytes(needed)); nothing was transferred")
        }
    }

    static func bytes(_ n: Int64) -> String {
        ByteCountFormatter.string(fromByteCount: n, countStyle: .binary)
    }
}

/// The SHA-256 state over a local file's first bytes, hashed on a background queue
/// (or known already) for a pull to go on with the bytes that follow.
final class PrefixHash: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var state: SHA256?

    init(_ state: SHA256) {
        self.state = state
        done.signal()
    }

    init(of path: String, length: Int64, on queue: DispatchQueue) {
        queue.async { [self] in
            state = try? ArtifactTransfer.hasher(of: path, length: length)
            done.signal()
        }
    }

    /// Waits for the hash; nil when the file could not be read that far.
    func wait() -> SHA256? {
        done.wait()
        done.signal()
        return state
    }
}

/// Flushes verified files to disk and renames them into place on a background queue,
/// so the disk writes of one file overlap the transfer of the next. A file counts as
/// agreed only once it is durable at its final path.
final class ArtifactFinisher: @unchecked Sendable {
    struct Job: Sendable {
        var fd: Int32
        var target: String
        var finalPath: String
        var rename: Bool
        var path: String
        var pod: PodStat
        var sha256: String
    }

    struct Done: Sendable {
        var job: Job
        var outcome: Result<LocalStat, CCPodError>
    }

    private let queue = DispatchQueue(label: "ccpod.artifacts.finisher")
    private let finished = Locked<[Done]>([])
    /// Small files waiting to be flushed together (one syncfs instead of one fsync each).
    private let small = Locked<[Job]>([])

    func submit(_ job: Job, small isSmall: Bool = false) {
        let box = finished
        if isSmall {
            let count = small.withLock { $0.append(job); return $0.count }
            if count >= 512 { flushSmall() }
            return
        }
        queue.async {
            let outcome = Self.finish(job, flushed: false)
            box.withLock { $0.append(Done(job: job, outcome: outcome)) }
        }
    }

    /// Flushes the waiting small files with one `syncfs` (each its own fsync where
    /// there is none), then renames them into place.
    private func flushSmall() {
        let jobs = small.withLock { j in defer { j.removeAll() }; return j }
        guard let first = jobs.first else { return }
        let box = finished
        queue.async {
            let flushed = ccpod_syncfs(first.fd) == 0
            var done = jobs.map { Done(job: $0, outcome: Self.finish($0, flushed: flushed)) }
            // The renames, made durable together.
            if flushed, let dir = jobs.first.map({ URL(fileURLWithPath: $0.finalPath).deletingLastPathComponent().path }) {
                let fd = open(dir, O_RDONLY | O_CLOEXEC)
                if fd < 0 || ccpod_syncfs(fd) != 0 {
                    done = done.map { Done(job: $0.job, outcome: .failure(CCPodError.io("cannot flush \(dir)"))) }
                }
                if fd >= 0 { close(fd) }
            }
            box.withLock { $0.append(contentsOf: done) }
        }
    }

    /// What finished so far.
    func take() -> [Done] { finished.withLock { d in defer { d.removeAll() }; return d } }

    /// Waits for every submitted file, then returns what finished.
    func drain() -> [Done] {
        flushSmall()
        queue.sync {}
        return take()
    }

    private static func finish(_ job: Job, flushed: Bool) -> Result<LocalStat, CCPodError> {
        defer { close(job.fd) }
        guard job.fd >= 0, flushed || fsync(job.fd) == 0 else {
            return .failure(CCPodError.io("cannot flush \(job.target): \(String(cString: strerror(errno)))"))
        }
        if job.rename {
            guard rename(job.target, job.finalPath) == 0 else {
                return .failure(CCPodError.io("cannot move \(job.target) to \(job.finalPath): \(String(cString: strerror(errno)))"))
            }
        }
        if !flushed { AtomicFile.syncDirectory(URL(fileURLWithPath: job.finalPath).deletingLastPathComponent()) }
        guard let stamp = LocalStat.of(job.finalPath) else {
            return .failure(CCPodError.io("\(job.finalPath) vanished right after it was written"))
        }
        return .success(stamp)
    }
}
