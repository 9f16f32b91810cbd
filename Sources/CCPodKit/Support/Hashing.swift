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
        try FileRanges.hash(path, length: length)
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
        var wholeHasher = SHA256()
        var tailHasher = SHA256()
        var prefixDigest: String? = prefix == 0 ? empty : nil
        var lines = 0
        var tailLines = 0
        var done: Int64 = 0
        try FileRanges.forEachChunk(path, length: whole, exact: false) { chunk in
            var rest = chunk
            // The part before the prefix's end, then the prefix's digest, then the tail.
            if done < prefix {
                let head = UnsafeRawBufferPointer(rebasing: rest[0..<Int(min(Int64(rest.count), prefix - done))])
                wholeHasher.update(bufferPointer: head)
                lines += newlines(in: head)
                done += Int64(head.count)
                if done == prefix { prefixDigest = hex(wholeHasher.finalize()) }
                rest = UnsafeRawBufferPointer(rebasing: rest[head.count...])
            }
            guard !rest.isEmpty else { return }
            wholeHasher.update(bufferPointer: rest)
            let count = newlines(in: rest)
            lines += count
            // With no prefix the tail is the whole file: hashed once.
            if prefix > 0 {
                tailHasher.update(bufferPointer: rest)
                tailLines += count
            }
            done += Int64(rest.count)
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
