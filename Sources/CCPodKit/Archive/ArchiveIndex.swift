import Foundation

/// One file of an archived session, as it was before it was archived.
public struct ArchivedFile: Codable, Sendable, Equatable {
    /// Relative to the Claude dir (`projects/<slug>/<id>.jsonl`, `file-history/<id>/…`).
    public var path: String
    public var size: Int64
    public var mtimeNs: Int64
    /// The permission bits.
    public var mode: UInt32
    public var sha256: String
}

/// One archived session: where its archive is, what it holds, where it came from.
public struct ArchivedSession: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// In the archive; its files here are gone (or, after an interrupted run, about to go).
        case archived
        /// A restore began: its files may be back here already.
        case restoring
    }

    public var id: String
    public var slug: String
    /// The project's directory, as the session names it (else its slug).
    public var project: String
    public var title: String?
    /// The real path of the Claude dir it came from.
    public var claudeDir: String
    public var archivedAt: Date
    public var lastActivity: Date
    /// The archive file, relative to the archive folder (`<slug>/<id>.tar.zst`).
    public var file: String
    public var compression: String
    public var archiveSize: Int64
    public var archiveSha256: String
    public var files: [ArchivedFile]
    public var state: State

    /// The bytes of its files before compression.
    public var size: Int64 { files.reduce(0) { $0 + $1.size } }
}

/// The archive's index, `<state>/archive/index.json`: written whole, atomically, after
/// the archive file it names is on disk, and before the originals are removed.
public struct ArchiveIndex: Sendable, Equatable {
    public var sessions: [ArchivedSession] = []

    public static func folder(stateDir: URL) -> URL { stateDir.appendingPathComponent("archive", isDirectory: true) }
    static func file(stateDir: URL) -> URL { folder(stateDir: stateDir).appendingPathComponent("index.json") }

    private struct Stored: Codable {
        var version: Int
        var sessions: [ArchivedSession]
    }

    public init(sessions: [ArchivedSession] = []) {
        self.sessions = sessions
    }

    /// The index (empty when there is none yet). A damaged index is refused, never overwritten.
    public static func load(stateDir: URL) throws -> ArchiveIndex {
        let url = file(stateDir: stateDir)
        guard let data = FileManager.default.contents(atPath: url.path) else { return ArchiveIndex() }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let stored = try? decoder.decode(Stored.self, from: data), stored.version == 1 else {
            throw CCPodError.badData("the archive index \(url.path) cannot be read; move it aside to start a new one "
                                     + "(the archives beside it stay readable with tar and zstd)")
        }
        for s in stored.sessions {
            guard Self.isSafeName(s.id), Self.isSafeName(s.slug), PodPathCheck.isSafeRelative(s.file),
                  s.files.allSatisfy({ PodPathCheck.isSafeRelative($0.path) && $0.size >= 0 }) else {
                throw CCPodError.badData("the archive index \(url.path) names an unsafe path (session \(TerminalText.escape(s.id))); "
                                         + "move it aside to start a new one")
            }
        }
        return ArchiveIndex(sessions: stored.sessions)
    }

    /// Writes the index atomically (temporary file, fsync, rename, fsync of the folder).
    public func save(stateDir: URL) throws {
        try CCPodLocations.makePrivateDirectory(Self.folder(stateDir: stateDir))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFile.write(try encoder.encode(Stored(version: 1, sessions: sessions)), to: Self.file(stateDir: stateDir))
    }

    /// The sessions archived from this Claude dir.
    public func sessions(claudeDir: URL) -> [ArchivedSession] {
        let real = Self.realPath(claudeDir)
        return sessions.filter { $0.claudeDir == real }
    }

    /// The ids sync leaves alone for this Claude dir (archived, or being restored).
    public func ids(claudeDir: URL) -> Set<String> {
        Set(sessions(claudeDir: claudeDir).map(\.id))
    }

    /// The session with this id (or a unique id prefix of at least 8 characters) from this Claude dir.
    public func find(_ id: String, claudeDir: URL) throws -> ArchivedSession {
        let mine = sessions(claudeDir: claudeDir)
        if let exact = mine.first(where: { $0.id == id }) { return exact }
        let matches = id.count >= 8 ? mine.filter { $0.id.hasPrefix(id) } : []
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 {
            throw CCPodError.usage("\(TerminalText.escape(id)) matches \(matches.count) archived sessions; give more of the id")
        }
        throw CCPodError(.noInput, "no archived session \(TerminalText.escape(id)) from \(claudeDir.path); `ccpod archive list` shows them")
    }

    static func realPath(_ url: URL) -> String {
        url.resolvingSymlinksInPath().standardizedFileURL.path
    }

    /// A single path component without controls: a session id or a project slug.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && name.utf8.count <= 255
            && !name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
    }
}
