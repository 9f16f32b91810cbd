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
}
