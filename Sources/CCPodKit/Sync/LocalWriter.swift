import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every local write of a sync: a new file written atomically, a verified append
/// through the journal, a file replaced, a received file adopted by rename, a file
/// moved to the backups folder. Each checks its path against the command's
/// `WriteScope` first (the second line of defence: the answer was checked whole
/// before anything was written) and refuses `..`, absolute paths and symlinked folders.
struct LocalWriter {
    let claudeDir: String
    let stateDir: URL
    var scope: WriteScope
    /// Received data files already flushed (see `SyncRun.apply`), and the folders that
    /// gained a file by rename and wait to be flushed.
    var flushedData: Set<String> = []
    var renamedInto: Set<String> = []

    init(claudeDir: String, stateDir: URL, scope: WriteScope) {
        self.claudeDir = claudeDir
        self.stateDir = stateDir
        self.scope = scope
    }

    var journalDir: URL { stateDir.appendingPathComponent("journal") }

    /// Throws unless this command may write `path`.
    func check(_ path: String) throws {
        guard PodPathCheck.isSafeRelative(path) else {
            throw CCPodError.badData("refusing to write \(TerminalText.escape(path.debugDescription)) outside the Claude dir")
        }
        guard scope.allows(path) else {
            throw CCPodError.badData("refusing to write \(TerminalText.escape(path)): it is outside what this command may change")
        }
    }

    /// Writes a new local file atomically (0600, folders 0700) from `length` bytes of
    /// `source` (all of it when nil), through `rewriter`, then `extraLine`; returns its
    /// size and hash and the newlines written.
    @discardableResult
    func write(_ path: String, from source: String, length: Int64?, rewriter: SessionIdRewriter? = nil,
               extraLine: Data? = nil) throws -> (version: FileVersion, lines: Int) {
        try check(path)
        let target = URL(fileURLWithPath: claudeDir + "/" + path)
        try SafeFolders.make(relative: (path as NSString).deletingLastPathComponent, under: claudeDir)
        let total = try length ?? Int64(FileManager.default.attributesOfItem(atPath: source)[.size] as? Int ?? 0)
        var hasher = SHA256()
        var size: Int64 = 0
        var lines = 0
        try AtomicFile.write(to: target) { fd in
            func put(_ chunk: Data) throws {
                hasher.update(data: chunk)
                size += Int64(chunk.count)
                lines += SHA256Hex.newlines(in: chunk)
                try FileDescriptorIO.writeAll(fd, chunk, path: target.path)
            }
            if let rewriter {
                try rewriter.stream(file: source, offset: 0, length: total, put)
            } else {
                try FileRanges.read(source, length: total, put)
            }
            if let extraLine { try put(extraLine) }
        }
        return (FileVersion(size: size, sha256: SHA256Hex.hex(hasher.finalize())), lines)
    }

    /// Writes the whole file at `path` (atomically) from the chunks `body` hands to its
    /// argument, and returns its size and hash; `beforeRename` runs before the rename and
    /// may throw to leave the file as it was.
    @discardableResult
    func replace(_ path: String, beforeRename: () throws -> Void = {},
                 _ body: ((Data) throws -> Void) throws -> Void) throws -> FileVersion {
        try check(path)
        try SafeFolders.make(relative: (path as NSString).deletingLastPathComponent, under: claudeDir)
        let target = URL(fileURLWithPath: claudeDir + "/" + path)
        var hasher = SHA256()
        var size: Int64 = 0
        try AtomicFile.write(to: target) { fd in
            try body { chunk in
                hasher.update(data: chunk)
                size += Int64(chunk.count)
                try FileDescriptorIO.writeAll(fd, chunk, path: target.path)
            }
            try beforeRename()
        }
        return FileVersion(size: size, sha256: SHA256Hex.hex(hasher.finalize()))
    }

    /// Appends `length` bytes of `payloadFile` to `path` through the journal; the file
    /// must still be `expectedSize` bytes with hash `expectedSha`.
    func append(_ path: String, expectedSize: Int64, expectedSha: String, payloadFile: String, length: Int64) throws -> FileVersion {
        try check(path)
        return try LocalJournal(dir: journalDir, claudeDir: claudeDir)
            .append(path: path, expectedSize: expectedSize, expectedSha: expectedSha, payloadFile: payloadFile, length: length)
    }

    /// Moves a received, verified data file into place as a new local file: flushed,
    /// renamed (atomic). False when it lies on another file system. Its folder is
    /// flushed with the others' after all renames (`flushRenamedFolders`).
    mutating func adopt(_ path: String, from source: String) throws -> Bool {
        try check(path)
        let target = URL(fileURLWithPath: claudeDir + "/" + path)
        try SafeFolders.make(relative: (path as NSString).deletingLastPathComponent, under: claudeDir)
        if !flushedData.contains(source) {
            let fd = open(source, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CCPodError.io("cannot read \(source): \(String(cString: strerror(errno)))") }
            let flushed = fsync(fd) == 0
            close(fd)
            guard flushed else { throw CCPodError.io("cannot flush \(source)") }
        }
        guard rename(source, target.path) == 0 else {
            if errno == EXDEV { return false }
            throw CCPodError.io("cannot move \(source) to \(target.path): \(String(cString: strerror(errno)))")
        }
        renamedInto.insert(target.deletingLastPathComponent().path)
        return true
    }

    /// The folders that gained files by rename, flushed once each (all at once) so the
    /// renames survive a crash before anything records them as agreed.
    mutating func flushRenamedFolders() {
        _ = ParallelFlush.paths(renamedInto.sorted())
        renamedInto = []
    }

    /// Moves a local file to this pod's backups folder.
    func backup(_ path: String) throws {
        try check(path)
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let backup = stateDir.appendingPathComponent("backups/\(stamp)/\(path)")
        try CCPodLocations.makePrivateDirectory(backup.deletingLastPathComponent())
        try FileManager.default.moveItem(atPath: claudeDir + "/" + path, toPath: backup.path)
    }
}

