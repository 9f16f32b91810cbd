import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SessionArchiver {
    /// Puts an archived session back, byte for byte, with its files' modes and
    /// modification times. A file already here with other bytes is never replaced: the
    /// restore is refused before anything is written. Every file is written beside its
    /// place, verified by SHA-256 and fsynced first; then all are renamed in; then the
    /// index forgets the session and its archive is removed.
    public func restore(_ entry: ArchivedSession) throws {
        let compression = Compression(rawValue: entry.compression) ?? .none
        let archive = archiveFolder.appendingPathComponent(entry.file)
        guard FileStat.of(archive.path)?.isRegularFile == true else {
            throw CCPodError(.noInput, "the archive of \(entry.id) is missing (\(archive.path)); nothing was restored")
        }
        var pending = Set<String>()
        for f in entry.files {
            let full = root + "/" + f.path
            guard let st = FileStat.of(full, followSymlinks: false) else { pending.insert(f.path); continue }
            guard st.isRegularFile, st.size == f.size, (try? SHA256Hex.ofFile(full)) == f.sha256 else {
                throw CCPodError.failure("restoring \(entry.id) would replace \(full), which differs from the archived copy; "
                                         + "nothing was restored: move that file aside and run this again")
            }
        }
        var index = try ArchiveIndex.load(stateDir: stateDir)
        if let i = index.sessions.firstIndex(where: { $0.id == entry.id && $0.claudeDir == entry.claudeDir }), index.sessions[i].state != .restoring {
            index.sessions[i].state = .restoring
            try index.save(stateDir: stateDir)
        }
        let expected = Dictionary(entry.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var temporaries: [(tmp: String, path: String)] = []
        var done = false
        defer { if !done { temporaries.forEach { unlink($0.tmp) } } }
        try ArchiveBundle.read(archive, compression: compression) { name, size in
            guard let f = expected[name], f.size == size else {
                throw CCPodError.badData("the archive \(archive.path) holds \(TerminalText.escape(name)), which its index does not name")
            }
            guard pending.contains(name) else { return { _ in } }
            let parent = (name as NSString).deletingLastPathComponent
            try SafeFolders.make(relative: parent, under: root)
            let tmp = "\(root)/\(parent)/.\((name as NSString).lastPathComponent).ccpod-restore-\(getpid()).tmp"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw CCPodError.io("cannot create \(tmp): \(errnoText())") }
            temporaries.append((tmp, name))
            var hasher = SHA256()
            return { chunk in
                if !chunk.isEmpty {
                    hasher.update(bufferPointer: chunk)
                    do { try FileDescriptorIO.writeAll(fd, chunk, path: tmp) } catch { close(fd); throw error }
                    return
                }
                defer { close(fd) }
                guard SHA256Hex.hex(hasher.finalize()) == f.sha256 else {
                    throw CCPodError.badData("the archive \(archive.path) holds other bytes for \(TerminalText.escape(name)) than were archived; nothing was restored")
                }
                fchmod(fd, mode_t(f.mode & 0o7777))
                guard fsync(fd) == 0 else { throw CCPodError.io("cannot flush \(tmp): \(errnoText())") }
                var times = [Self.time(ns: f.mtimeNs), Self.time(ns: f.mtimeNs)]
                guard futimens(fd, &times) == 0 else { throw CCPodError.io("cannot set the time of \(tmp): \(errnoText())") }
            }
        }
        let missing = pending.subtracting(temporaries.map(\.path))
        guard missing.isEmpty else {
            throw CCPodError.badData("the archive \(archive.path) lacks \(TerminalText.escape(missing.sorted()[0])); nothing was restored")
        }
        for (tmp, path) in temporaries {
            let full = root + "/" + path
            // Never over a file that appeared meanwhile.
            guard FileStat.of(full, followSymlinks: false) == nil else {
                throw CCPodError.failure("\(full) appeared while \(entry.id) was restored; nothing more was restored: move it aside and run this again")
            }
            guard rename(tmp, full) == 0 else { throw CCPodError.io("cannot move \(tmp) to \(full): \(errnoText())") }
        }
        done = true
        for folder in Set(temporaries.map { (root + "/" + $0.path as NSString).deletingLastPathComponent }) {
            AtomicFile.syncDirectory(URL(fileURLWithPath: folder))
        }
        index = try ArchiveIndex.load(stateDir: stateDir)
        index.sessions.removeAll { $0.id == entry.id && $0.claudeDir == entry.claudeDir }
        try index.save(stateDir: stateDir)
        try? FileManager.default.removeItem(at: archive)
        rmdir(archive.deletingLastPathComponent().path)
    }

    static func time(ns: Int64) -> timespec {
        var t = timespec()
        t.tv_sec = time_t(ns / 1_000_000_000)
        t.tv_nsec = Int(ns % 1_000_000_000)
        return t
    }
}
