import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SHA-256 helpers; digests are lowercase hex, as `sha256sum` prints them.
public enum SHA256Hex {
    /// The SHA-256 of no bytes.
    public static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public static func of(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        var s = ""
        s.reserveCapacity(64)
        for b in digest {
            s.append(hexDigits[Int(b >> 4)])
            s.append(hexDigits[Int(b & 0xF)])
        }
        return s
    }

    private static let hexDigits = Array("0123456789abcdef")

    /// SHA-256 of the first `length` bytes of the file (all of it when nil), streaming with a fixed buffer.
    /// Throws when the file is shorter than `length`.
    public static func ofFile(_ path: String, length: Int64? = nil) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = SHA256()
        var remaining = length ?? Int64.max
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while remaining > 0 {
            let want = Int(min(Int64(size), remaining))
            let n = try FileDescriptorIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), path: path)
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= Int64(n)
        }
        if let length, remaining > 0 {
            throw CCPodError.io("\(path) is shorter than \(length) bytes")
        }
        return hex(hasher.finalize())
    }

    /// What one read of a file's first `whole` bytes tells: the SHA-256 of its first
    /// `prefix` bytes (nil when `prefix` > `whole` or the file is shorter), of the
    /// `whole` bytes, and of the bytes after the prefix, with their newline counts.
    public struct Scan: Sendable {
        public var prefix: String?
        public var whole: String
        public var tail: String
        public var lines: Int
        public var tailLines: Int
    }

    public static func scan(_ path: String, prefix: Int64 = 0, whole: Int64) throws -> Scan {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var wholeHasher = SHA256()
        var tailHasher = SHA256()
        var prefixDigest: String? = prefix == 0 ? empty : nil
        var lines = 0
        var tailLines = 0
        var done: Int64 = 0
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while done < whole {
            var want = min(whole - done, Int64(size))
            // Stop at the prefix's end, so a read is all before it or all after it.
            if done < prefix { want = min(want, prefix - done) }
            let n = try FileDescriptorIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(want)]), path: path)
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            wholeHasher.update(bufferPointer: chunk)
            let count = newlines(in: chunk)
            lines += count
            // With no prefix the tail is the whole file: hashed once.
            if done >= prefix && prefix > 0 {
                tailHasher.update(bufferPointer: chunk)
                tailLines += count
            }
            done += Int64(n)
            if done == prefix { prefixDigest = hex(wholeHasher.finalize()) }
        }
        if prefix > whole || done < prefix { prefixDigest = nil }
        let wholeDigest = hex(wholeHasher.finalize())
        return Scan(prefix: prefixDigest, whole: wholeDigest, tail: prefix > 0 ? hex(tailHasher.finalize()) : wholeDigest,
                    lines: lines, tailLines: prefix > 0 ? tailLines : lines)
    }

    /// The number of newline bytes in `buffer`.
    public static func newlines(in buffer: UnsafeRawBufferPointer) -> Int {
        guard var p = buffer.baseAddress else { return 0 }
        var left = buffer.count
        var count = 0
        while left > 0, let hit = memchr(p, 0x0A, left) {
            count += 1
            let next = UnsafeRawPointer(hit) + 1
            left -= next - p
            p = next
        }
        return count
    }

    public static func newlines(in data: Data) -> Int {
        data.withUnsafeBytes { newlines(in: $0) }
    }
}
