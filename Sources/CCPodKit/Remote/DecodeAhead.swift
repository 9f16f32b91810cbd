import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes a zstd answer ahead of its reader, on a thread of its own: the reader (which
/// hashes the bytes and writes them to files) and the decoder then run on two cores at
/// once. For a first pull on two cores the reader's thread was what set the pace: it
/// decoded, hashed and wrote every byte, and fell 150 ms behind a pod that had finished
/// sending.
///
/// The thread reads a copy of the descriptor (`dup`), so the reader's owner may close
/// its own whenever it likes once `stop()` returned. It decodes into a few fixed
/// buffers (`count` × `size`: memory stays bounded whatever the pod sends) and hands
/// each one over as soon as a decoding call filled any of it, so a last line that
/// arrived is never held back waiting for more. It stops at the end of the stream, at
/// the first error (which the reader gets once it has read everything before it), when
/// the exchange's watchdog stops the exchange, or at `stop()`.
final class DecodeAhead: @unchecked Sendable {
    private let condition = NSCondition()
    /// Buffers holding decoded bytes, in order (the first one being read from `head`).
    private var filled: [(buffer: UnsafeMutableRawBufferPointer, count: Int)] = []
    private var free: [UnsafeMutableRawBufferPointer]
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var head = 0
    /// How the thread ended: nil while it reads, else nil-error for the end of the stream.
    private var ended: (error: Error?, rawEnd: Bool)?
    private var stopping = false
    private var exited = false
    private let fd: Int32
    private let stopPipe: Pipe2
    private let watchdog: PodWatchdog?
    /// Set by the thread when a read found the end of the raw stream or failed.
    private var rawEnd = false

    /// Starts decoding `fd` (duplicated: the caller keeps its own) with `decoder`.
    init(fd: Int32, watchdog: PodWatchdog?, decoder: ZstdDecoder, count: Int = 4, size: Int = 1 << 18) throws {
        let copy = dup(fd)
        guard copy >= 0 else { throw CCPodError.io("cannot read the pod's answer: \(String(cString: strerror(errno)))") }
        _ = fcntl(copy, F_SETFD, FD_CLOEXEC)
        do { stopPipe = try Pipe2() } catch { close(copy); throw error }
        self.fd = copy
        self.watchdog = watchdog
        buffers = (0..<max(count, 2)).map { _ in .allocate(byteCount: size, alignment: 64) }
        free = buffers
        let box = DecoderBox(decoder)
        let thread = Thread { [self] in self.run(box.decoder) }
        thread.name = "ccpod-decode"
        thread.start()
    }

    deinit {
        stop()
        for buffer in buffers { buffer.deallocate() }
        stopPipe.closeBoth()
    }

    private struct DecoderBox: @unchecked Sendable { let decoder: ZstdDecoder; init(_ d: ZstdDecoder) { decoder = d } }

    /// Stops the thread and waits until it has closed its descriptor. Idempotent.
    func stop() {
        condition.lock()
        if !exited && !stopping {
            stopping = true
            var byte: UInt8 = 1
            _ = Glibc_write(stopPipe.write, &byte, 1)
            condition.broadcast()
        }
        while !exited { condition.wait() }
        condition.unlock()
    }

    /// Hands the next decoded bytes (at most `max`) to `body`, which must not keep the
    /// pointer; returns how many, 0 at the end of the stream. Throws what the thread
    /// failed with once everything decoded before it was read. `rawEnd` says whether
    /// the stream had ended (or failed) when the reader reached that point.
    func next(max: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> (count: Int, rawEnd: Bool) {
        condition.lock()
        while filled.isEmpty && ended == nil { condition.wait() }
        guard let first = filled.first else {
            let end = ended!
            condition.unlock()
            if let error = end.error { throw ReadFailed(error: error, rawEnd: end.rawEnd) }
            return (0, end.rawEnd)
        }
        condition.unlock()
        let take = min(max, first.count - head)
        try body(UnsafeRawBufferPointer(rebasing: first.buffer[head..<(head + take)]))
        head += take
        if head == first.count {
            head = 0
            condition.lock()
            filled.removeFirst()
            free.append(first.buffer)
            condition.signal()
            condition.unlock()
        }
        return (take, false)
    }

    /// What `next` throws: the thread's error and whether the stream had ended by then.
    struct ReadFailed: Error {
        let error: Error
        let rawEnd: Bool
    }

    private func run(_ decoder: ZstdDecoder) {
        var failure: Error?
        while true {
            condition.lock()
            while free.isEmpty && !stopping { condition.wait() }
            if stopping { condition.unlock(); break }
            let buffer = free.removeLast()
            condition.unlock()
            let n: Int
            do {
                n = try decoder.read(into: buffer.baseAddress!, count: buffer.count) { try self.readRaw($0, $1) }
            } catch {
                failure = error
                condition.lock()
                free.append(buffer)
                condition.unlock()
                break
            }
            condition.lock()
            if n == 0 {
                free.append(buffer)
                condition.unlock()
                break
            }
            filled.append((buffer, n))
            condition.signal()
            condition.unlock()
        }
        close(fd)
        condition.lock()
        if ended == nil { ended = (failure ?? (stopping ? Stopped() : nil), rawEnd) }
        exited = true
        condition.broadcast()
        condition.unlock()
    }

    /// What the reader gets after `stop()`: nothing more is read.
    struct Stopped: Error {}

    /// One read(2) of the copy, waiting for data, the watchdog or `stop()`.
    private func readRaw(_ pointer: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: watchdog?.wakeDescriptor ?? -1, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0; fds[1].revents = 0; fds[2].revents = 0
            let rc = poll(&fds, 3, -1)
            if rc < 0 {
                if errno == EINTR { continue }
                rawEnd = true
                throw CCPodError.io("cannot read the pod's answer: \(String(cString: strerror(errno)))")
            }
            if fds[1].revents != 0 { throw Stopped() }
            if fds[2].revents != 0, let watchdog { throw watchdog.stoppedError }
            if fds[0].revents == 0 { continue }
            let n = Glibc_read(fd, pointer, count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n < 0 {
                rawEnd = true
                throw CCPodError.io("cannot read the pod's answer: \(String(cString: strerror(errno)))")
            }
            if n == 0 { rawEnd = true } else { watchdog?.touch() }
            return n
        }
    }
}
