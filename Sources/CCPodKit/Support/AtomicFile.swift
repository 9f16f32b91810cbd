import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Durable, atomic file writes: a temporary file in the same folder, fsync, rename,
/// fsync of the folder. Files are created 0600.
public enum AtomicFile {
    /// Writes `data` to `url` atomically with mode `mode`.
    public static func write(_ data: Data, to url: URL, mode: mode_t = 0o600) throws {
        try write(to: url, mode: mode) { fd in
            try data.withUnsafeBytes { raw in
                try FileDescriptorIO.writeAll(fd, raw, path: url.path)
            }
        }
    }

    /// Creates a temporary file beside `url`, lets `body` fill it, then fsyncs and renames it into place.
    public static func write(to url: URL, mode: mode_t = 0o600, _ body: (Int32) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).ccpod-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw CCPodError.io("cannot create \(tmp.path): \(String(cString: strerror(errno)))")
        }
        var ok = false
        defer {
            if !ok { unlink(tmp.path) }
        }
        do {
            try body(fd)
            fchmod(fd, mode)
            guard fsync(fd) == 0 else { throw CCPodError.io("cannot flush \(tmp.path): \(String(cString: strerror(errno)))") }
            close(fd)
        } catch {
            close(fd)
            throw error
        }
        guard rename(tmp.path, url.path) == 0 else {
            throw CCPodError.io("cannot move \(tmp.path) to \(url.path): \(String(cString: strerror(errno)))")
        }
        ok = true
        syncDirectory(dir)
    }

    /// fsyncs a folder so a rename in it survives a crash.
    public static func syncDirectory(_ dir: URL) {
        let dfd = open(dir.path, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

/// Small, exact wrappers over read(2) and write(2).
public enum FileDescriptorIO {
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc_write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw CCPodError.io("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    public static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    /// Reads up to `count` bytes; returns fewer only at end of file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = Glibc_read(fd, buffer.baseAddress! + total, buffer.count - total)
            if n < 0 {
                if errno == EINTR { continue }
                throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            total += n
        }
        return total
    }
}

@inline(__always) func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}

@inline(__always) func Glibc_read(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, p, n)
    #else
    return Darwin.read(fd, p, n)
    #endif
}
