import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered reader over a file descriptor that can hand out lines and exact byte counts.
///
/// With a watchdog, every read first waits for data or for the watchdog to stop the
/// exchange (then it throws `PodWatchdog.Stopped`), and every byte read counts as a
/// sign of life from the pod.
final class FDReader: @unchecked Sendable {
    let fd: Int32
    let watchdog: PodWatchdog?
    private var buffer = [UInt8]()
    private var start = 0
    /// Set once a read found the end of the stream (or failed): what went wrong after
    /// that is a cut answer, not a wrong one.
    private(set) var reachedEnd = false

    /// Decodes what is read from `fd` (a zstd answer read in this process), a few
    /// buffers ahead on a thread of its own.
    private let ahead: DecodeAhead?

    /// The one chunk every read lands in, kept for the reader's life: fresh memory for
    /// each file would be faulted in and pulled through the caches again (bytes are
    /// written into it, hashed and written out while still in cache). Small when
    /// decoding: a file's decoded bytes are used where the decoding thread left them,
    /// and only lines and whole-stream reads land here.
    private let chunk: UnsafeMutableRawBufferPointer

    /// A reader of `fd` as it is.
    init(fd: Int32, watchdog: PodWatchdog? = nil) {
        self.fd = fd
        self.watchdog = watchdog
        ahead = nil
        chunk = .allocate(byteCount: 1 << 20, alignment: 64)
    }

    /// A reader of what `decoder` makes of `fd`, decoded on a thread of its own
    /// (`DecodeAhead`): `stopReadingAhead()` must be called before `fd` is closed.
    init(fd: Int32, watchdog: PodWatchdog? = nil, decoder: ZstdDecoder) throws {
        self.fd = fd
        self.watchdog = watchdog
        ahead = try DecodeAhead(fd: fd, watchdog: watchdog, decoder: decoder)
        chunk = .allocate(byteCount: 1 << 16, alignment: 64)
    }

    deinit {
        ahead?.stop()
        chunk.deallocate()
    }

    /// Stops the thread decoding ahead, if any (what it decoded and was not read is
    /// dropped); the descriptor may then be closed.
    func stopReadingAhead() { ahead?.stop() }

    /// Bytes read ahead but not consumed (handed to the next reader of the stream).
    func takeBuffered() -> Data {
        let rest = Data(buffer[start...])
        buffer.removeAll()
        start = 0
        return rest
    }

    /// What `readLine` throws for a line over its limit.
    static let overlongLine = "the pod's answer has an overlong line"

    /// Whether this reader decodes what it reads (zstd in process).
    var decodes: Bool { ahead != nil }

    /// At most `count` bytes of the stream (decoded when there is a decoder); 0 at its end.
    private func readSome(_ pointer: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        guard ahead != nil else { return try readRaw(pointer, count) }
        return try nextAhead(max: count) { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// The next bytes decoded ahead (at most `max`), handed to `body` where they lie.
    private func nextAhead(max: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        do {
            let (n, rawEnd) = try ahead!.next(max: max, body)
            if n == 0 { reachedEnd = reachedEnd || rawEnd }
            return n
        } catch let failed as DecodeAhead.ReadFailed {
            reachedEnd = reachedEnd || failed.rawEnd
            throw failed.error
        }
    }

    /// One read(2) of at most `count` bytes; 0 at the end of the stream.
    private func readRaw(_ pointer: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        while true {
            if let watchdog, !watchdog.wait(for: fd, events: Int16(POLLIN)) { throw watchdog.stoppedError }
            let n = Glibc_read(fd, pointer, count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                reachedEnd = true
                throw CCPodError.io("cannot read the pod's answer: \(String(cString: strerror(errno)))")
            }
            if n == 0 { reachedEnd = true } else { watchdog?.touch() }
            return n
        }
    }

    private func fill() throws -> Bool {
        if start > 0 { buffer.removeSubrange(0..<start); start = 0 }
        let n = try readSome(chunk.baseAddress!, 1 << 16)
        if n == 0 { return false }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        return true
    }

    /// Reads one line without its newline; nil at end of stream. A line longer than
    /// `limit` is refused before more of it is read.
    func readLine(limit: Int) throws -> [UInt8]? {
        var searched = 0
        while true {
            if let nl = buffer[(start + searched)...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<nl])
                start = nl + 1
                return line
            }
            searched = buffer.count - start
            if buffer.count - start > limit { throw CCPodError.badData(Self.overlongLine) }
            if try !fill() { return nil }
        }
    }

    /// Hands exactly `remaining` bytes to `sink` in chunks and hashes them: what was read
    /// ahead first, then straight from the descriptor in large reads. `remaining` tells
    /// the caller how much was left when it throws.
    func stream(_ remaining: inout Int64, hasher: inout SHA256, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if start < buffer.count && remaining > 0 {
            let take = Int(min(Int64(buffer.count - start), remaining))
            try buffer[start..<(start + take)].withUnsafeBytes { raw in
                hasher.update(bufferPointer: raw)
                try sink(raw)
            }
            start += take
            remaining -= Int64(take)
        }
        guard remaining > 0 else { return }
        if ahead != nil {
            // Hashed and handed on where the decoding thread left them (no copy).
            while remaining > 0 {
                let n = try nextAhead(max: Int(min(Int64(Int.max), remaining))) { raw in
                    hasher.update(bufferPointer: raw)
                    try sink(raw)
                }
                if n == 0 { throw CCPodError.badData("the pod's answer ended in the middle of a file") }
                remaining -= Int64(n)
            }
            return
        }
        while remaining > 0 {
            let want = Int(min(Int64(chunk.count), remaining))
            let n = try readSome(chunk.baseAddress!, want)
            if n == 0 { throw CCPodError.badData("the pod's answer ended in the middle of a file") }
            let raw = UnsafeRawBufferPointer(rebasing: chunk[0..<n])
            hasher.update(bufferPointer: raw)
            try sink(raw)
            remaining -= Int64(n)
        }
    }

    /// Copies exactly `count` bytes to a new file and returns their SHA-256 and newline count.
    func copy(_ count: Int64, toFile path: String, progress: TransferProgress? = nil) throws -> (sha256: String, lines: Int) {
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw CCPodError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var hasher = SHA256()
        var lines = 0
        var remaining = count
        // Written out to disk as it arrives, so flushing it later finds little to do.
        var behind = WriteBehind(fd: out, offset: 0)
        // What was read ahead, then straight from the descriptor (no copy through the buffer).
        try stream(&remaining, hasher: &hasher) { raw in
            lines += SHA256Hex.newlines(in: raw)
            try FileDescriptorIO.writeAll(out, raw, path: path)
            behind.wrote(raw.count)
            progress?.moved(raw.count)
        }
        behind.finish()
        return (SHA256Hex.hex(hasher.finalize()), lines)
    }

    /// Writes everything up to the end of the stream to a new file (0600), at most
    /// `limit` bytes; returns the count, or nil when there is more (the file then
    /// holds the first `limit` bytes and the rest is left unread). Memory: one chunk.
    func copyToEnd(toFile path: String, limit: Int64) throws -> Int64? {
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw CCPodError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var written: Int64 = 0
        if start < buffer.count {
            let take = Int(min(Int64(buffer.count - start), limit + 1))
            try buffer[start..<(start + take)].withUnsafeBytes { try FileDescriptorIO.writeAll(out, $0, path: path) }
            written += Int64(take)
            buffer.removeAll()
            start = 0
        }
        while written <= limit {
            let n = try readSome(chunk.baseAddress!, 1 << 16)
            if n == 0 { return written }
            try FileDescriptorIO.writeAll(out, UnsafeRawBufferPointer(rebasing: chunk[0..<n]), path: path)
            written += Int64(n)
        }
        return nil
    }

    /// Reads everything up to the end of the stream, at most `limit` bytes; nil when
    /// there is more (the rest is left unread).
    func readToEnd(limit: Int) throws -> Data? {
        var data = Data(buffer[start...])
        buffer.removeAll()
        start = 0
        while data.count <= limit {
            let n = try readSome(chunk.baseAddress!, 1 << 16)
            if n == 0 { return data }
            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
        return nil
    }
}

/// Where a request to the pod is written: a pipe whose writes give up when the
/// exchange's watchdog stops it, instead of waiting for a pod that stopped reading.
struct PodInput: Sendable {
    private let fixedFD: Int32
    let watchdog: PodWatchdog?
    /// The request's compressor, when there is one: it says where bytes go now and is
    /// told how fast they went in (it may move on to a denser level).
    private let compressor: RequestCompressor?

    /// `fd` is switched to non-blocking when there is a watchdog: it must be ccpod's
    /// own end of a pipe (no child shares it).
    init(fd: Int32, watchdog: PodWatchdog? = nil) {
        self.fixedFD = fd
        self.watchdog = watchdog
        self.compressor = nil
        if watchdog != nil { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    init(compressor: RequestCompressor, watchdog: PodWatchdog? = nil) {
        self.fixedFD = -1
        self.watchdog = watchdog
        self.compressor = compressor
        if watchdog != nil { compressor.setNonBlocking() }
    }

    /// Where the bytes go now.
    var fd: Int32 { compressor?.fd ?? fixedFD }

    /// Ends the input (the compressor's, and the pod's stdin).
    func close() {
        if let compressor { compressor.closeInput() } else { _ = Glibc_close(fixedFD) }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws {
        let fd = self.fd
        guard let watchdog else {
            let began = compressor == nil ? 0 : ProcessInfo.processInfo.systemUptime
            try FileDescriptorIO.writeAll(fd, buffer, path: "the pod")
            try compressor?.took(buffer.count, blocked: ProcessInfo.processInfo.systemUptime - began)
            return
        }
        var offset = 0
        var blocked: TimeInterval = 0
        while offset < buffer.count {
            let n = Glibc_write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n >= 0 { offset += n; continue }
            switch errno {
            case EINTR: continue
            case EAGAIN:
                let began = compressor == nil ? 0 : ProcessInfo.processInfo.systemUptime
                if !watchdog.wait(for: fd, events: Int16(POLLOUT)) { throw watchdog.stoppedError }
                if compressor != nil { blocked += ProcessInfo.processInfo.systemUptime - began }
            default:
                throw CCPodError.io("cannot write to the pod: \(String(cString: strerror(errno)))")
            }
        }
        try compressor?.took(buffer.count, blocked: blocked)
    }

    func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }
}
