import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `stat(2)` says about a path: enough to tell whether a file changed (size, mtime in
/// nanoseconds, inode) and what it is.
public struct FileStat: Sendable, Codable, Equatable, Hashable {
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32

    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    public var isRegularFile: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    public var isSymlink: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFLNK) }
    /// The permission bits.
    public var permissions: mode_t { mode_t(mode & 0o7777) }
    public var modificationDate: Date { Date(timeIntervalSince1970: Double(mtimeNanoseconds) / 1e9) }

    /// `stat` (or `lstat` when `followSymlinks` is false); nil when the path cannot be stat'ed.
    public static func of(_ path: String, followSymlinks: Bool = true) -> FileStat? {
        var st = stat()
        let rc = followSymlinks ? stat(path, &st) : lstat(path, &st)
        guard rc == 0 else { return nil }
        return FileStat(st)
    }

    init(_ st: stat) {
        size = Int64(st.st_size)
        #if canImport(Darwin)
        mtimeNanoseconds = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
        #else
        mtimeNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        #endif
        inode = UInt64(st.st_ino)
        device = UInt64(st.st_dev)
        mode = UInt32(st.st_mode)
        uid = UInt32(st.st_uid)
        gid = UInt32(st.st_gid)
    }
}

/// Names in a folder, read with `readdir(3)` (no `.` and `..`), sorted.
enum DirectoryEntries {
    static func names(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        return names.sorted()
    }
}

func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
