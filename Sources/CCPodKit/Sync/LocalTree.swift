import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What ccpod remembers of a local file to know, without reading it, that it did not change.
public struct LocalStat: Sendable, Equatable, Codable {
    public var size: Int64
    public var mtimeNs: Int64
    public var inode: UInt64

    public init(size: Int64, mtimeNs: Int64, inode: UInt64) {
        self.size = size
        self.mtimeNs = mtimeNs
        self.inode = inode
    }

    /// lstat of a regular file; nil when it is missing or not a regular file.
    public static func of(_ path: String) -> LocalStat? {
        FileStat.of(path, followSymlinks: false).flatMap(LocalStat.init(regular:))
    }

    /// The remembered part of a regular file's stat; nil for anything else.
    init?(regular stat: FileStat) {
        guard stat.isRegularFile else { return nil }
        self.init(size: stat.size, mtimeNs: stat.mtimeNanoseconds, inode: stat.inode)
    }
}

/// The files of a Claude config dir that a sync looks at, found with readdir and lstat.
/// Symlinks are never followed; names with a newline or tab are skipped (the wire
/// format cannot carry them) and reported.
public enum LocalTree {
    /// Every regular file under `relativeDir` of `root`, as paths relative to `root`.
    public static func files(root: String, under relativeDir: String, skipped: inout [String]) -> [(path: String, stat: LocalStat)] {
        var result: [(String, LocalStat)] = []
        walk(root: root, relative: relativeDir, into: &result, skipped: &skipped)
        return result
    }

    private static func walk(root: String, relative: String, into result: inout [(String, LocalStat)], skipped: inout [String]) {
        DirectoryEntries.walk(root: root, relative: relative) { rel, name, stat in
            // ccpod's own temporary files.
            if name.hasPrefix(".") && (name.contains(".ccpod-") || name.hasSuffix(".ccpod-new")) { return false }
            if name.contains("\n") || name.contains("\t") {
                skipped.append(rel)
                return false
            }
            if let file = LocalStat(regular: stat) { result.append((rel, file)) }
            return true
        }
    }

    /// Length of the file up to and including its last newline (the complete lines).
    /// Almost every log ends with one: the last 4 KiB are read first, then steps four
    /// times larger (up to 64 KiB) further back.
    public static func completeLength(_ path: String, size: Int64) throws -> Int64 {
        if size == 0 { return 0 }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        var chunk = 1 << 12
        var end = size
        while end > 0 {
            let start = max(0, end - Int64(chunk))
            let count = Int(end - start)
            let n = pread(fd, buffer.baseAddress!, count, off_t(start))
            guard n == count else { throw CCPodError.io("cannot read \(path)") }
            if let i = UnsafeRawBufferPointer(rebasing: buffer[0..<count]).lastIndex(of: 0x0A) { return start + Int64(i) + 1 }
            end = start
            chunk = min(chunk * 4, buffer.count)
        }
        return 0
    }
}
