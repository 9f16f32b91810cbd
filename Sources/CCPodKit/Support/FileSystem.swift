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

/// Names in a folder, read with `readdir(3)` (no `.` and `..`), sorted: the one
/// readdir loop every folder walk goes through.
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

    /// Every entry below `root` + `relative` (relative paths, depth first, sorted per
    /// folder), each with its `lstat`: symlinks are reported, never followed. `visit`
    /// returns whether to descend into a folder (or, for other entries, nothing it
    /// returns matters); entries that vanish between readdir and lstat are skipped.
    static func walk(root: String, relative: String = "", _ visit: (_ path: String, _ name: String, _ stat: FileStat) -> Bool) {
        let folder = relative.isEmpty ? root : root + "/" + relative
        for name in names(folder) {
            let rel = relative.isEmpty ? name : relative + "/" + name
            guard let stat = FileStat.of(root + "/" + rel, followSymlinks: false) else { continue }
            if visit(rel, name, stat), stat.isDirectory { walk(root: root, relative: rel, visit) }
        }
    }
}

/// Creates folders below a root with mode 0700, refusing to go through anything that
/// is not a real folder: a symlink planted on the way could lead outside the root.
enum SafeFolders {
    static func make(relative: String, under root: String) throws {
        var current = root
        for component in relative.split(separator: "/") {
            guard component != "..", component != "." else { throw CCPodError.badData("refusing the path \(TerminalText.escape(relative))") }
            current += "/" + component
            if let stat = FileStat.of(current, followSymlinks: false) {
                guard stat.isDirectory else {
                    throw CCPodError.badData("refusing to write through \(TerminalText.escape(current)): it is not a plain folder (a symlink?)")
                }
            } else {
                guard mkdir(current, 0o700) == 0 || errno == EEXIST else {
                    throw CCPodError.io("cannot create \(current): \(errnoText())")
                }
            }
        }
    }
}

func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
