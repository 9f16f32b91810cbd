import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One problem in a session file.
public struct DoctorFinding: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// A complete line that is not a JSON object.
        case badLine = "bad-line"
        /// Bytes after the last `\n`.
        case tornTail = "torn-tail"
        /// The file cannot be read.
        case unreadable
    }

    public var file: String
    /// 1-based line number (for a torn tail: the line it would have been); nil for an unreadable file.
    public var line: Int?
    public var kind: Kind
    public var problem: String
    public var offset: Int64?
    public var length: Int64?
    /// The session is open in a running `claude` (a torn tail is then most likely a line being written).
    public var live: Bool

    /// `file:line: problem`, the way compilers print diagnostics.
    public var diagnostic: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return "\(location): \(problem)\(live ? " (session is open in a running claude)" : "")"
    }
}

/// What `SessionDoctor.check` found.
public struct DoctorReport: Sendable, Codable, Equatable {
    public var filesChecked: Int
    public var findings: [DoctorFinding]
    public var isClean: Bool { findings.isEmpty }
}

/// What `SessionDoctor.repair` did to one file.
public struct DoctorRepair: Sendable, Codable, Equatable {
    public var file: String
    /// Where the removed lines and tail were saved.
    public var backup: String?
    public var removedLines: Int
    public var removedTailBytes: Int64
    /// Why the file was left alone, when it was.
    public var skipped: String?
}

/// Checks every session JSONL file (transcripts, subagent files, legacy agent files) and repairs
/// them by moving bad lines and torn tails into a backup folder. It never deletes data.
public struct SessionDoctor: Sendable {
    public var store: ClaudeStore
    /// ccpod's state dir; backups go to `<state>/backups/doctor-YYYYmmdd-HHMMSS/`.
    public var stateDir: URL

    public init(store: ClaudeStore, stateDir: URL) {
        self.store = store
        self.stateDir = stateDir
    }

    /// Every JSONL file that belongs to a session, including legacy agent files whose session is gone.
    public func sessionFiles() -> [URL] {
        var files = [URL]()
        for project in store.projects() {
            let sessions = store.sessions(in: project)
            files += sessions.flatMap { $0.jsonlFiles }
            files += store.orphanLegacyAgents(in: project, sessions: sessions)
        }
        return files
    }

    /// Reads every session file once.
    public func check() -> DoctorReport {
        let files = sessionFiles()
        let live = LiveSessions.ids(configDir: store.root)
        let results = ParallelResults<[DoctorFinding]>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            results.set(i, Self.check(files[i], live: live))
        }
        let findings = (0..<files.count).flatMap { results.get($0) ?? [] }
        return DoctorReport(filesChecked: files.count, findings: findings)
    }

    /// The problems of one file.
    public static func check(_ url: URL, live: Set<String> = []) -> [DoctorFinding] {
        var findings = [DoctorFinding]()
        let isLive = live.contains(sessionId(of: url))
        do {
            let report = try JSONLReader(url: url).read { line in
                if let problem = line.problem {
                    findings.append(DoctorFinding(
                        file: url.path, line: line.number, kind: .badLine, problem: problem.rawValue,
                        offset: line.offset, length: line.length, live: isLive))
                }
                return true
            }
            if report.hasIncompleteTail {
                findings.append(DoctorFinding(
                    file: url.path, line: report.lineCount + 1, kind: .tornTail,
                    problem: "incomplete last line (\(report.tailLength) bytes without a newline)",
                    offset: report.completeLength, length: report.tailLength, live: isLive))
            }
        } catch let error as CCPodError {
            findings.append(DoctorFinding(file: url.path, line: nil, kind: .unreadable, problem: error.message, live: isLive))
        } catch {
            findings.append(DoctorFinding(file: url.path, line: nil, kind: .unreadable, problem: "\(error)", live: isLive))
        }
        return findings
    }

    /// The session id a session file belongs to (`<id>.jsonl` or `<id>/subagents/…`).
    static func sessionId(of url: URL) -> String {
        let parent = url.deletingLastPathComponent()
        if parent.lastPathComponent == "subagents" {
            return parent.deletingLastPathComponent().lastPathComponent
        }
        return url.deletingPathExtension().lastPathComponent
    }

    /// Moves the bad lines and torn tails `report` found into a new backup folder and rewrites
    /// those files atomically without them (same mode and owner). Files that are unreadable, open in a
    /// running `claude`, or changed since `report` are left alone and say why.
    public func repair(_ report: DoctorReport, now: Date = Date()) throws -> (backupDir: URL?, repairs: [DoctorRepair]) {
        let byFile = Dictionary(grouping: report.findings, by: \.file)
        var repairs = [DoctorRepair]()
        var backupDir: URL?
        for file in byFile.keys.sorted() {
            let findings = byFile[file]!
            if findings.contains(where: { $0.kind == .unreadable }) {
                repairs.append(DoctorRepair(file: file, backup: nil, removedLines: 0, removedTailBytes: 0, skipped: "cannot be read; left as it is"))
                continue
            }
            if findings.contains(where: \.live) {
                repairs.append(DoctorRepair(file: file, backup: nil, removedLines: 0, removedTailBytes: 0, skipped: "open in a running claude; left as it is"))
                continue
            }
            if backupDir == nil { backupDir = try makeBackupDir(now: now) }
            repairs.append(try repairFile(URL(fileURLWithPath: file), backupRoot: backupDir!))
        }
        return (backupDir, repairs)
    }

    private func makeBackupDir(now: Date) throws -> URL {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone.current
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let base = stateDir.appendingPathComponent("backups", isDirectory: true)
        try CCPodLocations.makePrivateDirectory(base)
        let stamp = "doctor-" + formatter.string(from: now)
        var n = 1
        while true {
            let dir = base.appendingPathComponent(n == 1 ? stamp : "\(stamp)-\(n)", isDirectory: true)
            if mkdir(dir.path, 0o700) == 0 { return dir }
            guard errno == EEXIST else { throw CCPodError.io("cannot create \(dir.path): \(errnoText())") }
            n += 1
        }
    }

    /// The path of `url` relative to the config dir (or its absolute path without the leading `/` when outside).
    func relativePath(_ url: URL) -> String {
        let root = store.root.standardizedFileURL.path
        let path = url.standardizedFileURL.path
        if path.hasPrefix(root + "/") { return String(path.dropFirst(root.count + 1)) }
        return String(path.drop(while: { $0 == "/" }))
    }

    private func repairFile(_ url: URL, backupRoot: URL) throws -> DoctorRepair {
        let path = url.path
        guard let before = FileStat.of(path) else {
            return DoctorRepair(file: path, backup: nil, removedLines: 0, removedTailBytes: 0, skipped: "vanished: \(errnoText())")
        }
        // Read again now: the ranges to move must match the bytes we rewrite.
        var bad = [BadLine]()
        let report = try JSONLReader(url: url).read { line in
            if let problem = line.problem {
                bad.append(BadLine(line: line.number, offset: line.offset, length: line.length, problem: problem))
            }
            return true
        }
        guard !bad.isEmpty || report.hasIncompleteTail else {
            return DoctorRepair(file: path, backup: nil, removedLines: 0, removedTailBytes: 0, skipped: "no problem left")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.badData("cannot read \(path): \(errnoText())") }
        defer { close(fd) }

        // 1. Save what will be removed, with an index saying where each piece was.
        let backup = backupRoot.appendingPathComponent(relativePath(url), isDirectory: false)
        try CCPodLocations.makePrivateDirectory(backup.deletingLastPathComponent())
        var removed: [(offset: Int64, length: Int64)] = bad.map { ($0.offset, $0.length + 1) }
        if report.hasIncompleteTail { removed.append((report.completeLength, report.tailLength)) }
        try AtomicFile.write(to: backup, mode: 0o600) { out in
            for piece in removed { try Self.copy(from: fd, path: path, offset: piece.offset, length: piece.length, to: out, outPath: backup.path) }
        }
        struct Index: Encodable {
            var file: String
            var originalSize: Int64
            var pieces: [Piece]
            struct Piece: Encodable { var line: Int; var offset: Int64; var length: Int64; var problem: String }
        }
        var pieces = bad.map { Index.Piece(line: $0.line, offset: $0.offset, length: $0.length + 1, problem: $0.problem.rawValue) }
        if report.hasIncompleteTail {
            pieces.append(.init(line: report.lineCount + 1, offset: report.completeLength, length: report.tailLength, problem: "incomplete last line"))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let index = try encoder.encode(Index(file: path, originalSize: report.size, pieces: pieces))
        try AtomicFile.write(index, to: backup.appendingPathExtension("removed.json"), mode: 0o600)

        // 2. Rewrite the file without them: temp file, fsync, rename; same mode and owner.
        var keep = [(offset: Int64, length: Int64)]()
        var cursor: Int64 = 0
        for b in bad {
            if b.offset > cursor { keep.append((cursor, b.offset - cursor)) }
            cursor = b.offset + b.length + 1
        }
        if report.completeLength > cursor { keep.append((cursor, report.completeLength - cursor)) }
        try AtomicFile.write(to: url, mode: before.permissions) { out in
            for piece in keep { try Self.copy(from: fd, path: path, offset: piece.offset, length: piece.length, to: out, outPath: path) }
            _ = fchown(out, uid_t(before.uid), gid_t(before.gid))
            // Refuse to replace a file that changed while we worked (a running claude appending).
            guard let now = FileStat.of(path), now.size == before.size, now.mtimeNanoseconds == before.mtimeNanoseconds,
                now.inode == before.inode
            else {
                throw CCPodError.failure("\(path) changed while it was being repaired; left as it is, run ccpod doctor again")
            }
        }
        return DoctorRepair(file: path, backup: backup.path, removedLines: bad.count, removedTailBytes: report.tailLength, skipped: nil)
    }

    private static func copy(from fd: Int32, path: String, offset: Int64, length: Int64, to out: Int32, outPath: String) throws {
        let done = try FileRanges.forEachChunk(fd: fd, path: path, offset: offset, length: length) {
            try FileDescriptorIO.writeAll(out, $0, path: outPath)
        }
        guard done == length else { throw CCPodError.failure("\(path) shrank while it was being repaired") }
    }

}
