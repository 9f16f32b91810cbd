import CCPodSystemShims
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Where received bytes become files: the part file (or the grown file itself) written
// as the bytes arrive, verified against the pod's SHA-256, flushed, renamed into place,
// and only then recorded as agreed. Also the local range helpers both directions use.

extension ArtifactFinisher {
    /// Receives one file's bytes from the answer into its landing place under `root` and
    /// verifies them against `expected` (a batch says it first) or the `Z` record that
    /// follows them; a verified file goes to the finisher. Never writes through a link:
    /// every parent is checked to be a real folder, the file is opened with O_NOFOLLOW.
    func receive(_ t: ArtifactPlan.Transfer, prefix: PrefixHash?, offset: Int64, length: Int64, sha expected: String?,
                 root: String, from answer: FDReader, state: inout ArtifactState, bad: (String) -> Error,
                 progress: (Int64) -> Void) throws -> ArtifactAction {
        var prefixState: SHA256?
        if offset > 0 {
            prefixState = prefix?.wait()
            guard let prefixState, SHA256Hex.hex(prefixState.finalize()) == t.prefixSha else {
                // The bytes here are not the agreed ones after all (changed without a new
                // size or time): nothing is added to them, and they are no longer agreed.
                var remaining = length
                var ignored = SHA256()
                try answer.stream(&remaining, hasher: &ignored) { _ in }
                _ = try answer.readLine(limit: ArtifactWire.maxLine)
                state.files[t.path] = nil
                state.partial[t.path] = nil
                state.appending[t.path] = nil
                return ArtifactAction(path: t.path, kind: .failed, note: "changed here while it was pulled; pull again")
            }
        }
        let finalPath = root + "/" + t.path
        let appending = t.landing == .append && offset == t.offset && offset > 0
        let target = appending ? finalPath : root + "/" + LocalFolder.partPath(t.path)
        try LocalFolder.makeParents(root: root, of: t.path)
        let fd = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CCPodError.io("cannot write \(target): \(String(cString: strerror(errno)))") }
        // The pod hashes the range it sends; the agreement is about the whole file, which
        // needs a second hasher only when the range does not start at 0.
        var chunk = SHA256()
        var whole = prefixState
        var ok = false
        defer {
            close(fd)
            if !ok && appending { truncate(finalPath, off_t(offset)) }
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw CCPodError.io("\(target) is not a regular file; nothing is written into it")
        }
        if appending && Int64(st.st_size) != offset {
            throw CCPodError.io("\(finalPath) changed while it was pulled; pull again")
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
            guard let z = try answer.readLine(limit: ArtifactWire.maxLine) else {
                throw bad("it ended in the middle of \(ArtifactWire.quoted(t.path))")
            }
            podSha = try ArtifactWire.dataHash(z, path: t.path, bad: bad)
        }
        let rangeSha = SHA256Hex.hex(chunk.finalize())
        guard rangeSha == podSha else {
            if !appending { unlink(target) }
            state.partial[t.path] = nil
            state.appending[t.path] = nil
            return ArtifactAction(path: t.path, kind: .failed, bytes: length,
                                  note: "changed on the pod while it was read (or damaged on the way); pull again")
        }
        ok = true
        // offset + length never exceeds the listed size: the answer was checked against the request.
        let size = offset + length
        let listed = t.pod ?? PodStat(size: size, mtime: "-")
        let podStat = size == listed.size ? listed : PodStat(size: size, mtime: "-")
        let kind: ArtifactAction.Kind = offset == t.offset ? t.kind : (t.kind == .new || t.kind == .resumed ? .new : .replaced)
        submit(.init(fd: dup(fd), target: target, finalPath: finalPath, rename: !appending, path: t.path,
                     pod: podStat, sha256: whole.map { SHA256Hex.hex($0.finalize()) } ?? rangeSha),
               small: size <= ArtifactFiles.smallFile)
        return ArtifactAction(path: t.path, kind: kind, bytes: length)
    }

    /// Folds files put in place into the state (and failures into the results).
    static func absorb(_ finished: [Done], _ state: inout ArtifactState, _ results: inout [String: ArtifactAction]) {
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
}

/// Local reads both directions share: hashing a file's first bytes, copying a range
/// onto the stream, free space.
enum ArtifactFiles {
    /// Files up to this size travel in batches.
    static let smallFile: Int64 = 1 << 20
    /// Bytes of one batch at most.
    static let batchLimit: Int64 = 64 << 20

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

    /// Writes `length` bytes of a file from `offset` to `output`; zeros if the file became
    /// shorter meanwhile (the framing holds and the pod's hash check rejects it).
    static func copyRange(of path: String, offset: Int64, length: Int64, to output: PodInput, hasher: inout SHA256,
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
            try output.write(chunk)
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
            state = try? ArtifactFiles.hasher(of: path, length: length)
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
