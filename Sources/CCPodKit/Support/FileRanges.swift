import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte ranges of files, read in 1 MiB chunks with one fixed buffer: the one read
/// loop behind hashing, copying, counting lines and streaming parts of a file.
public enum FileRanges {
    /// The chunk size of every read.
    public static let chunk = 1 << 20

    /// Calls `body` with consecutive chunks of `fd` from `offset`, `length` bytes in
    /// all (to the end of the file when nil), and returns how many bytes it read: fewer
    /// than `length` only when the file ends first. The chunks are only valid inside `body`.
    @discardableResult
    public static func forEachChunk(fd: Int32, path: String, offset: Int64 = 0, length: Int64?,
                                    _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        guard offset >= 0, (length ?? 0) >= 0 else { throw CCPodError.io("bad range of \(path)") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        while length.map({ done < $0 }) ?? true {
            let want = Int(min(Int64(chunk), (length ?? Int64.max) - done))
            let n = pread(fd, buffer.baseAddress!, want, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            done += Int64(n)
        }
        return done
    }

    /// `forEachChunk` on the file at `path`; with `exact`, a file that ends before
    /// `length` bytes is an error.
    @discardableResult
    public static func forEachChunk(_ path: String, offset: Int64 = 0, length: Int64?, exact: Bool = true,
                                    _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let done = try forEachChunk(fd: fd, path: path, offset: offset, length: length, body)
        if exact, let length, done < length { throw CCPodError.io("\(path) became shorter while it was read") }
        return done
    }

    /// The range's bytes, chunk by chunk, as `Data`.
    public static func read(_ path: String, offset: Int64 = 0, length: Int64, _ body: (Data) throws -> Void) throws {
        try forEachChunk(path, offset: offset, length: length) { try body(Data($0)) }
    }

    /// The range's bytes at once (for ranges known to be small).
    public static func data(_ path: String, offset: Int64 = 0, length: Int64) throws -> Data {
        var out = Data()
        try forEachChunk(path, offset: offset, length: length) { out.append(contentsOf: $0) }
        return out
    }

    /// Feeds the range into `hasher`.
    public static func feed(_ hasher: inout SHA256, _ path: String, offset: Int64 = 0, length: Int64) throws {
        var h = hasher
        try forEachChunk(path, offset: offset, length: length) { h.update(bufferPointer: $0) }
        hasher = h
    }

    /// The SHA-256 (lowercase hex) of the range; of the whole file when `length` is nil.
    public static func hash(_ path: String, offset: Int64 = 0, length: Int64?) throws -> String {
        var hasher = SHA256()
        let done = try forEachChunk(path, offset: offset, length: length, exact: false) { hasher.update(bufferPointer: $0) }
        if let length, done < length { throw CCPodError.io("\(path) is shorter than \(offset + length) bytes") }
        return SHA256Hex.hex(hasher.finalize())
    }

    /// Copies the range into the open file `out`.
    public static func copy(_ path: String, offset: Int64 = 0, length: Int64, to out: Int32, outPath: String) throws {
        try forEachChunk(path, offset: offset, length: length) { try FileDescriptorIO.writeAll(out, $0, path: outPath) }
    }

    /// The newlines in the range, up to the file's end when it is shorter (a count for
    /// reports: a file that shrank meanwhile is counted as it is).
    public static func newlines(_ path: String, offset: Int64 = 0, length: Int64) throws -> Int {
        var count = 0
        try forEachChunk(path, offset: offset, length: length, exact: false) { count += SHA256Hex.newlines(in: $0) }
        return count
    }
}
