import CCPodSystemShims
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells `ccpod watch` when session files changed here: inotify on Linux (the folders
/// and their subfolders one level down, watched again as they appear), else a stat
/// fingerprint of the same folders every second.
public final class LocalChangeWatcher: @unchecked Sendable {
    /// The folders whose files matter (a project's folder under `projects/`, or
    /// `projects/` itself for every project).
    public let folders: [String]
    private var inotify: Int32 = -1
    private var watched = Set<String>()
    private var fingerprint: [String: String] = [:]
    private var lastPoll = Date()

    /// Whether changes arrive by inotify (else by polling).
    public var usesInotify: Bool { inotify >= 0 }

    public init(folders: [String], polling: Bool = false) {
        self.folders = folders
        if !polling {
            let fd = ccpod_inotify_open()
            if fd >= 0 { inotify = fd }
        }
        refresh()
        fingerprint = Self.fingerprint(of: allFolders())
    }

    deinit { if inotify >= 0 { close(inotify) } }

    /// Waits until something changed (true) or `seconds` passed (false), checking
    /// `stop` every 200 ms.
    public func wait(seconds: Double, stop: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !stop() {
            let slice = min(0.2, max(0, deadline.timeIntervalSinceNow))
            if inotify >= 0 {
                var fds = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
                if poll(&fds, 1, Int32(slice * 1000)) > 0 {
                    // A burst of writes (Claude appends line by line) makes one change.
                    usleep(300_000)
                    drain()
                    refresh()
                    return true
                }
            } else {
                usleep(UInt32(slice * 1_000_000))
                // Polling looks once a second, not every slice.
                if Date().timeIntervalSince(lastPoll) >= 1 {
                    lastPoll = Date()
                    let now = Self.fingerprint(of: allFolders())
                    if now != fingerprint {
                        fingerprint = now
                        return true
                    }
                }
            }
        }
        return false
    }

    /// Reads and drops the pending inotify events (only their arrival matters).
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while buffer.withUnsafeMutableBytes({ read(inotify, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Watches every folder that exists now (new project folders and session folders too).
    private func refresh() {
        guard inotify >= 0 else { return }
        for folder in allFolders() where !watched.contains(folder) {
            if ccpod_inotify_watch(inotify, folder) >= 0 { watched.insert(folder) }
        }
    }

    /// The folders and their direct subfolders (a session's folder, a project's folder).
    private func allFolders() -> [String] {
        var out: [String] = []
        for folder in folders {
            var parent = folder
            // A folder that does not exist yet: watch the nearest one that does.
            while !FileManager.default.fileExists(atPath: parent), parent.count > 1 {
                parent = (parent as NSString).deletingLastPathComponent
            }
            out.append(parent)
            guard parent == folder else { continue }
            for name in DirectoryEntries.names(folder) where !name.hasPrefix(".") {
                var isDir: ObjCBool = false
                let path = folder + "/" + name
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { out.append(path) }
            }
        }
        return out
    }

    /// name → size and mtime of every file in `folders` (not recursive).
    static func fingerprint(of folders: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for folder in folders {
            for name in DirectoryEntries.names(folder) {
                var info = stat()
                let path = folder + "/" + name
                if lstat(path, &info) == 0 {
                    #if canImport(Glibc)
                    let mtime = info.st_mtim
                    #else
                    let mtime = info.st_mtimespec
                    #endif
                    out[path] = "\(info.st_size) \(mtime.tv_sec).\(mtime.tv_nsec)"
                }
            }
        }
        return out
    }
}
