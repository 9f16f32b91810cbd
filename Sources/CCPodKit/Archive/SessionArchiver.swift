import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Moves sessions into `<state>/archive/<slug>/<id>.tar.zst` and back. The order keeps
/// a session somewhere at every instant: the archive is written, fsynced and read back
/// in full, then the index records it, and only then are the originals removed. A crash
/// in between leaves the session in both places; the next `ccpod archive` finishes the
/// removal when the files are still exactly what was archived.
///
/// The caller holds the Claude dir's and the archive's `OperationLock`.
public struct SessionArchiver: Sendable {
    public var claudeDir: URL
    public var stateDir: URL

    public init(claudeDir: URL, stateDir: URL) {
        self.claudeDir = claudeDir
        self.stateDir = stateDir
    }

    var archiveFolder: URL { ArchiveIndex.folder(stateDir: stateDir) }
    var root: String { claudeDir.path }

    /// Archives one session; returns its index entry, or nil (with why) when it changed or
    /// became live while it was written (then nothing was removed and no archive kept).
    /// An entry with a sentence: archived, but a file changed in the last instant stayed here.
    public func archive(_ c: ArchiveCandidate, now: Date = Date()) throws -> (entry: ArchivedSession?, skipped: String?) {
        let compression = try ArchiveBundle.preferredCompression()
        let relative = "\(c.slug)/\(c.id).\(ArchiveBundle.fileExtension(compression))"
        let destination = archiveFolder.appendingPathComponent(relative)
        try CCPodLocations.makePrivateDirectory(destination.deletingLastPathComponent())
        let written = try ArchiveBundle.write(root: root, paths: c.files, to: destination, compression: compression)
        try ArchiveBundle.verify(destination, compression: compression, files: written.files)
        // Opened again, or changed, while it was written: it stays, the archive goes.
        if LiveSessions.ids(configDir: claudeDir).contains(c.id) || written.files.contains(where: { changed($0) }) {
            try? FileManager.default.removeItem(at: destination)
            return (nil, "it changed while it was archived; it stays here")
        }
        let entry = ArchivedSession(
            id: c.id, slug: c.slug, project: c.project, title: c.title, claudeDir: ArchiveIndex.realPath(claudeDir),
            archivedAt: now, lastActivity: c.lastActivity, file: relative, compression: compression.rawValue,
            archiveSize: written.size, archiveSha256: written.sha256, files: written.files, state: .archived)
        var index = try ArchiveIndex.load(stateDir: stateDir)
        index.sessions.removeAll { $0.id == c.id && $0.claudeDir == entry.claudeDir }
        index.sessions.append(entry)
        try index.save(stateDir: stateDir)
        let kept = try removeOriginals(entry)
        guard kept.isEmpty else {
            // Changed in the last instant: archived as it was, the newer file stays here.
            return (entry, "archived, but \(TerminalText.escape(kept[0]))\(kept.count > 1 ? " and \(kept.count - 1) more" : "") changed meanwhile "
                           + "and stayed here: the next `ccpod archive` names it again; move it aside or `ccpod archive restore \(c.id)`")
        }
        return (entry, nil)
    }

    /// Whether a local file is no longer what was archived (by size and modification time).
    func changed(_ f: ArchivedFile) -> Bool {
        guard let st = FileStat.of(root + "/" + f.path, followSymlinks: false) else { return true }
        return st.size != f.size || st.mtimeNanoseconds != f.mtimeNs
    }

    /// Removes the archived files here that are still what was archived, then their
    /// session's folders when empty. Returns the paths left because they differ.
    @discardableResult
    func removeOriginals(_ entry: ArchivedSession) throws -> [String] {
        var kept: [String] = []
        var folders = Set<String>()
        for f in entry.files {
            let full = root + "/" + f.path
            guard FileStat.of(full, followSymlinks: false) != nil else { continue }
            guard !changed(f), (try? SHA256Hex.ofFile(full)) == f.sha256 else { kept.append(f.path); continue }
            guard unlink(full) == 0 || errno == ENOENT else { throw CCPodError.io("cannot remove \(full): \(errnoText())") }
            folders.insert((f.path as NSString).deletingLastPathComponent)
        }
        // The session's own folders, deepest first, when nothing else is in them.
        let own = ["projects/\(entry.slug)/\(entry.id)", "file-history/\(entry.id)", "tasks/\(entry.id)"]
        var candidates = Set<String>()
        for folder in folders {
            var path = folder
            while let top = own.first(where: { path == $0 || path.hasPrefix($0 + "/") }) {
                candidates.insert(path)
                if path == top { break }
                path = (path as NSString).deletingLastPathComponent
            }
        }
        for folder in candidates.sorted(by: { $0.count > $1.count }) { rmdir(root + "/" + folder) }
        for folder in Set(folders.map { (root + "/" + $0) }) + ["\(root)/projects/\(entry.slug)"] {
            AtomicFile.syncDirectory(URL(fileURLWithPath: folder))
        }
        return kept
    }

    /// Finishes what an interrupted run left: files of archived sessions still here and
    /// still exactly what was archived are removed. Returns one sentence per session left alone.
    public func finishInterrupted() throws -> (finished: [String], notes: [String]) {
        let index = try ArchiveIndex.load(stateDir: stateDir)
        var finished: [String] = [], notes: [String] = []
        for entry in index.sessions(claudeDir: claudeDir) {
            let present = entry.files.filter { FileStat.of(root + "/" + $0.path, followSymlinks: false) != nil }
            guard !present.isEmpty else { continue }
            if entry.state == .restoring {
                notes.append("the restore of \(entry.id) was interrupted; `ccpod archive restore \(entry.id)` completes it")
                continue
            }
            let kept = try removeOriginals(entry)
            if kept.isEmpty {
                finished.append(entry.id)
            } else {
                notes.append("session \(entry.id) is archived and also here with other contents (\(TerminalText.escape(kept[0]))); "
                             + "it is left alone: move it aside or restore the archived copy")
            }
        }
        return (finished, notes)
    }
}
