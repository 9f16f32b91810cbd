import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `ccpod import` reads, and where the sessions go.
public struct ImportOptions: Sendable {
    public enum Source: Sendable, Equatable {
        /// An export file on disk.
        case file(String)
        /// `path` (relative to `directory`) as committed at `revision`, read with `git show`; the working tree is not touched.
        case git(revision: String, path: String, directory: String)
    }

    public var source: Source
    /// The project the sessions belong to here (symlinks resolved): they go to `projects/<its slug>/`.
    public var projectPath: String
    /// Also write the sessions' `file-history/<id>/` files.
    public var withFileHistory = false
    /// The key for encrypted exports, and where it came from (for messages).
    public var identity: ExportIdentity?
    public var identityPath = ""
    /// Whose sessions these are (`ccpod share pull`): each arrives as a sibling titled "… (from <name>)".
    public var siblingsFrom: String?

    public init(source: Source, projectPath: String) {
        self.source = source
        self.projectPath = projectPath
    }
}

/// What an import did, one item per file it looked at.
public struct ImportReport: Sendable, Encodable {
    public struct Item: Sendable, Encodable, Equatable {
        /// `created`, `appended`, `unchanged`, `sibling`, `kept`, `busy`, `skipped`.
        public var action: String
        /// Relative to the Claude dir.
        public var path: String
        public var detail: String?
    }

    public var sessions = 0
    public var items: [Item] = []

    public func count(_ action: String) -> Int { items.filter { $0.action == action }.count }
}

/// Puts the sessions of an export into this machine's Claude dir with the sync semantics: a new
/// session is created; a longer version of one here gets its new lines appended; one that went
/// another way arrives as a sibling session (new id, its lines' `sessionId` rewritten, titled
/// "… (from export)"); importing again changes nothing. It writes only under
/// `projects/<slug>/` (and `file-history/<id>/` when asked), files 0600, folders 0700.
public struct SessionImporter: Sendable {
    public var claudeDir: URL

    public init(claudeDir: URL) {
        self.claudeDir = claudeDir
    }

    public func run(_ options: ImportOptions) throws -> ImportReport {
        let slug = ProjectSlug.of(options.projectPath)
        let root = claudeDir.path
        try SafeFolders.make(relative: "projects/\(slug)", under: root)
        let staging = claudeDir.appendingPathComponent("projects/\(slug)/.ccpod-import-\(getpid())-\(UInt32.random(in: 0...UInt32.max))", isDirectory: true)
        guard mkdir(staging.path, 0o700) == 0 else { throw CCPodError.io("cannot create \(staging.path): \(String(cString: strerror(errno)))") }
        defer { try? FileManager.default.removeItem(at: staging) }

        var source: String
        switch options.source {
        case .file(let path):
            guard FileStat.of(path)?.isRegularFile == true else { throw CCPodError.usage("no export file at \(path); pass FILE, or --from-git to read it from the repository") }
            source = path
        case .git(let revision, let path, let directory):
            source = try Self.gitShow(revision: revision, path: path, directory: directory, into: staging)
        }
        var peek = try BoundedLineReader(path: source, maxLine: 256)
        let first = try peek.next()
        peek.close()
        if let first, ExportEncryption.isEncrypted(first.bytes) {
            let plain = staging.appendingPathComponent("decrypted", isDirectory: false)
            try ExportEncryption.decrypt(source: source, to: plain, identity: options.identity, identityPath: options.identityPath)
            source = plain.path
        }
        let sessions = try ImportStaging.stage(export: source, into: staging)
        var apply = ImportApply(root: root, slug: slug, staging: staging, withFileHistory: options.withFileHistory, origin: options.siblingsFrom)
        for session in sessions { try apply.session(session) }
        apply.report.sessions = sessions.count
        return apply.report
    }

    /// `git show REV:./PATH` into a staging file (streamed, never in memory).
    static func gitShow(revision: String, path: String, directory: String, into staging: URL) throws -> String {
        guard !revision.hasPrefix("-"), !revision.isEmpty, !revision.contains(":") else {
            throw CCPodError.usage("\(revision) is not a revision (a branch, tag or commit)")
        }
        guard ChildProcess.exists("git") else { throw CCPodError.unavailable("git is not installed here; install it or import a file") }
        let out = staging.appendingPathComponent("from-git", isDirectory: false).path
        let err = staging.appendingPathComponent("git-stderr", isDirectory: false).path
        let outFd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        let errFd = open(err, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        defer { if outFd >= 0 { _ = Glibc_close(outFd) }; if errFd >= 0 { _ = Glibc_close(errFd) } }
        guard outFd >= 0, errFd >= 0 else { throw CCPodError.io("cannot create files in \(staging.path)") }
        let relative = path.hasPrefix("/") ? path : "./" + path
        let child = try ChildProcess.spawn("git", ["-C", directory, "--no-pager", "show", "--no-textconv", "\(revision):\(relative)"],
                                           stdout: .fd(outFd), stderr: .fd(errFd))
        let status = child.wait()
        guard status == 0 else {
            let message = (try? String(contentsOfFile: err, encoding: .utf8)).map { String($0.prefix(2000)) } ?? ""
            throw CCPodError.usage("git cannot show \(revision):\(relative) in \(directory): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return out
    }
}
