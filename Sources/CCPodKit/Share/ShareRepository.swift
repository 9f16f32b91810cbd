import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ccpod's own copy of a share repository: a bare repository under the state dir
/// (`share/<digest of the remote>.git`), driven with git's plumbing. Nothing from the
/// remote is ever checked out: files are read as objects (`ls-tree`, `cat-file`), listings
/// and contents are bounded, and commits are built in a temporary index.
struct ShareRepository {
    let remote: String
    let dir: URL
    let git: GitRepository

    /// Longest listing of one folder ccpod reads from the remote.
    static let maxListing: Int64 = 8 << 20
    /// Biggest export file ccpod imports from the remote.
    static let maxExport: Int64 = 1 << 30

    static func prepare(remote given: String, stateDir: URL, environment: [String: String]) throws -> ShareRepository {
        let remote = given.hasPrefix("~/") ? (environment["HOME"] ?? NSHomeDirectory()) + given.dropFirst() : given
        guard !remote.isEmpty, !remote.hasPrefix("-"), !remote.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw CCPodError.usage("\"\(TerminalText.escape(given))\" is not a git URL; set `remote = \"URL\"` under [share] in config.toml, or pass --remote URL")
        }
        guard ChildProcess.exists("git") else { throw CCPodError.unavailable("git is not installed here; install it to share sessions") }
        var env = environment
        for key in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE"] { env[key] = nil }
        let dir = stateDir.appendingPathComponent("share/\(SHA256Hex.of(Data(remote.utf8)).prefix(16)).git", isDirectory: true)
        let repo = ShareRepository(remote: remote, dir: dir, git: GitRepository(root: dir.path, environment: env))
        if FileStat.of(dir.appendingPathComponent("HEAD").path) == nil {
            try CCPodLocations.makePrivateDirectory(dir)
            try repo.run(["init", "--bare", "--quiet"], "cannot create ccpod's copy of the share repository in \(dir.path)")
        }
        return repo
    }

    /// Runs git here: its trimmed stdout, or a failure with git's message.
    @discardableResult
    func run(_ args: [String], extra: [String: String] = [:], _ what: String) throws -> String {
        try git.text(args, extra: extra) { CCPodError.failure("\(what): \(TerminalText.escape(String($0.prefix(2000))))") }
    }

    private func unreachable(_ out: ChildProcess.Output) -> CCPodError {
        let message = out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
        return CCPodError.unavailable("cannot reach the share repository \(TerminalText.escape(remote)): \(TerminalText.escape(String(message.prefix(2000))))")
    }

    /// The branch the exports live on: the remote's default branch, or `main` while it has none.
    func branch() throws -> String {
        let out = try git.git(["ls-remote", "--symref", remote, "HEAD"])
        guard out.status == 0 else { throw unreachable(out) }
        for line in out.stdoutText.split(separator: "\n") where line.hasPrefix("ref: refs/heads/") {
            let name = line.dropFirst("ref: refs/heads/".count).split(separator: "\t").first.map(String.init) ?? ""
            if ShareNames.isValid(name.replacingOccurrences(of: "/", with: "-"), maxLength: 200) { return name }
        }
        return "main"
    }

    /// Fetches `branch` into `refs/ccpod/share`: its commit, or nil while the remote has no such branch.
    func fetch(branch: String) throws -> String? {
        let list = try git.git(["ls-remote", remote, "refs/heads/" + branch])
        guard list.status == 0 else { throw unreachable(list) }
        guard !list.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        let out = try git.git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, "+refs/heads/\(branch):refs/ccpod/share"])
        guard out.status == 0 else { throw unreachable(out) }
        return try run(["rev-parse", "--verify", "refs/ccpod/share^{commit}"], "cannot read what was fetched from \(remote)")
    }

    /// One entry of a tree.
    struct Entry: Equatable {
        var mode: String
        var type: String
        var sha: String
        /// Bytes of a blob (nil for a tree).
        var size: Int64?
        /// The name in its folder.
        var name: String

        /// A plain file (not a symlink, not a submodule).
        var isRegularFile: Bool { type == "blob" && (mode == "100644" || mode == "100755") }
    }

    /// The entries directly in `folder` (ending in `/`) of `commit`; none when it does not exist.
    func entries(_ commit: String, folder: String, scratch: URL) throws -> [Entry] {
        let file = scratch.appendingPathComponent("listing-\(UUID().uuidString.prefix(8))")
        defer { unlink(file.path) }
        try capture(["ls-tree", "-l", "-z", commit, "--", folder], into: file, what: "cannot list \(folder) in the share repository")
        guard let size = FileStat.of(file.path)?.size, size <= Self.maxListing else {
            throw CCPodError.badData("the folder \(folder) of the share repository lists more than \(Self.maxListing >> 20) MiB of names; ccpod does not read it")
        }
        let data = try Data(contentsOf: file)
        return data.split(separator: 0).compactMap { record -> Entry? in
            guard let tab = record.firstIndex(of: 0x09) else { return nil }
            let meta = String(decoding: record[record.startIndex..<tab], as: UTF8.self).split(separator: " ").map(String.init)
            let path = String(decoding: record[(tab + 1)...], as: UTF8.self)
            guard meta.count == 4, path.hasPrefix(folder) else { return nil }
            let name = String(path.dropFirst(folder.count))
            guard !name.isEmpty, !name.contains("/") else { return nil }
            return Entry(mode: meta[0], type: meta[1], sha: meta[2], size: Int64(meta[3]), name: name)
        }
    }

    /// Writes the blob `sha` to `file` (0600).
    func readBlob(_ sha: String, into file: URL) throws {
        guard sha.count >= 40, sha.allSatisfy(\.isHexDigit) else { throw CCPodError.badData("\(TerminalText.escape(sha)) is not an object name") }
        try capture(["cat-file", "blob", sha], into: file, what: "cannot read an object of the share repository")
    }

    /// Runs git with its stdout into `file` (created, 0600), never in memory.
    private func capture(_ args: [String], into file: URL, what: String) throws {
        let err = file.path + ".stderr"
        let outFd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        let errFd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            if outFd >= 0 { _ = Glibc_close(outFd) }
            if errFd >= 0 { _ = Glibc_close(errFd) }
            unlink(err)
        }
        guard outFd >= 0, errFd >= 0 else { throw CCPodError.io("cannot create \(file.path): \(errnoText())") }
        let child = try ChildProcess.spawn("git", ["-C", dir.path] + args, environment: git.environment, stdout: .fd(outFd), stderr: .fd(errFd))
        guard child.wait() == 0 else {
            let message = (try? String(contentsOfFile: err, encoding: .utf8)).map { String($0.prefix(2000)) } ?? ""
            throw CCPodError.failure("\(what): \(TerminalText.escape(message.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
    }

    /// A commit on `parent` (nil: the first one) with `files` (repository path → file here)
    /// written; nil when the tree would not change. Built in a temporary index in `scratch`.
    func commit(parent: String?, files: [(path: String, source: URL)], message: String, author: String, scratch: URL) throws -> String? {
        let index = ["GIT_INDEX_FILE": scratch.appendingPathComponent("index-\(UUID().uuidString.prefix(8))").path]
        try run(parent.map { ["read-tree", $0] } ?? ["read-tree", "--empty"], extra: index, "cannot prepare a commit in \(dir.path)")
        for file in files {
            let blob = try run(["hash-object", "-w", "--no-filters", "--", file.source.path], "cannot store \(file.source.path)")
            try run(["update-index", "--add", "--replace", "--cacheinfo", "100644,\(blob),\(file.path)"], extra: index, "cannot prepare a commit in \(dir.path)")
        }
        let tree = try run(["write-tree"], extra: index, "cannot prepare a commit in \(dir.path)")
        if let parent, try run(["rev-parse", parent + "^{tree}"], "cannot read the commit \(parent)") == tree { return nil }
        let email = ((try? git.git(["config", "--get", "user.email"]))?.stdoutText ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let identity = ["GIT_AUTHOR_NAME": author, "GIT_COMMITTER_NAME": author,
                        "GIT_AUTHOR_EMAIL": email.isEmpty ? "\(author)@ccpod.invalid" : email,
                        "GIT_COMMITTER_EMAIL": email.isEmpty ? "\(author)@ccpod.invalid" : email]
        var args = ["commit-tree", tree]
        if let parent { args += ["-p", parent] }
        return try run(args + ["-m", message], extra: identity, "cannot commit in \(dir.path)")
    }

    /// The paths that differ between `parent` (nil: nothing) and `commit`.
    func changedPaths(from parent: String?, to commit: String) throws -> [String] {
        let args = parent.map { ["diff-tree", "-r", "-z", "--no-renames", "--name-only", $0, commit] } ?? ["ls-tree", "-r", "-z", "--name-only", commit]
        let out = try git.git(args)
        guard out.status == 0 else { throw CCPodError.failure("cannot compare commits in \(dir.path): \(TerminalText.escape(out.stderrText))") }
        return out.stdout.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    enum PushResult { case pushed, rejected }

    /// Pushes `commit` to `branch` (fast-forward only): `.rejected` when the remote moved on.
    func push(_ commit: String, branch: String) throws -> PushResult {
        let out = try git.git(["push", "--quiet", "--porcelain", remote, "\(commit):refs/heads/\(branch)"])
        if out.status == 0 { return .pushed }
        let text = out.stdoutText + out.stderrText
        if text.contains("[rejected]") || text.contains("non-fast-forward") || text.contains("fetch first") { return .rejected }
        throw CCPodError.unavailable("cannot push to the share repository \(TerminalText.escape(remote)): "
            + TerminalText.escape(String(out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines).prefix(2000))))
    }

    /// A private scratch folder inside the repository's folder, removed by the caller.
    func scratch() throws -> URL {
        let url = dir.appendingPathComponent("ccpod-\(getpid())-\(UUID().uuidString.prefix(8))", isDirectory: true)
        guard mkdir(url.path, 0o700) == 0 else { throw CCPodError.io("cannot create \(url.path): \(errnoText())") }
        return url
    }
}
