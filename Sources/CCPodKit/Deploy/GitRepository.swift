import Foundation

/// The local git repository a deploy starts from, driven through the `git` command.
public struct GitRepository: Sendable {
    /// The working tree's top folder, symlinks resolved.
    public let root: String
    /// Environment for every git call (nil = ccpod's own).
    public let environment: [String: String]?

    /// The repository containing `directory`; a usage error when there is none.
    public static func open(directory: String, environment: [String: String]? = nil) throws -> GitRepository {
        guard ChildProcess.exists("git") else {
            throw CCPodError.unavailable("git is not installed here; install it and try again")
        }
        let out = try ChildProcess.run("git", ["-C", directory, "rev-parse", "--show-toplevel"], environment: environment)
        let top = out.stdoutText.trimmingCharacters(in: .newlines)
        guard out.status == 0, !top.isEmpty else {
            throw CCPodError.usage("\(directory) is not inside a git repository; deploy sends a commit, so run `git init` and commit the project first")
        }
        return GitRepository(root: ProjectSlug.resolvedPath(URL(fileURLWithPath: top)), environment: environment)
    }

    /// Runs git in the working tree; `extra` is added to the environment.
    @discardableResult
    public func git(_ arguments: [String], extra: [String: String] = [:], input: Data? = nil) throws -> ChildProcess.Output {
        var env = environment ?? ProcessInfo.processInfo.environment
        env.merge(extra) { $1 }
        return try ChildProcess.run("git", ["-C", root] + arguments, input: input, environment: env)
    }

    /// Runs git and returns its trimmed stdout, or throws `error` with git's message.
    @discardableResult
    func text(_ arguments: [String], extra: [String: String] = [:], error: (String) -> CCPodError) throws -> String {
        let out = try git(arguments, extra: extra)
        guard out.status == 0 else { throw error(out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The commit `ref` names. Clear errors for a repository without commits and an unknown ref.
    public func commit(of ref: String) throws -> String {
        let head = try git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        if head.status != 0 {
            throw CCPodError.usage("the repository \(root) has no commits yet; commit the project first, then deploy")
        }
        let out = try git(["rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"])
        let sha = out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard out.status == 0, !sha.isEmpty else {
            throw CCPodError.usage("\(ref) does not name a commit in \(root); pass a branch, tag or commit that exists (see `git log --oneline`)")
        }
        return sha
    }

    /// Whether HEAD is detached (no branch checked out).
    public var isDetached: Bool {
        ((try? git(["symbolic-ref", "-q", "HEAD"]))?.status ?? 1) != 0
    }

    /// Files whose working-tree state differs from HEAD: modified, staged, deleted,
    /// and untracked files that are not ignored.
    public func changedFiles() throws -> [String] {
        let out = try git(["status", "--porcelain=v1", "-z", "--untracked-files=all"])
        guard out.status == 0 else {
            throw CCPodError.failure("git status failed in \(root): \(out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        var files: [String] = []
        var skipNext = false
        for entry in out.stdout.split(separator: 0, omittingEmptySubsequences: true) {
            if skipNext { skipNext = false; continue }
            let text = String(decoding: entry, as: UTF8.self)
            guard text.count > 3 else { continue }
            let status = text.prefix(2)
            files.append(String(text.dropFirst(3)))
            // Renames and copies are followed by their source path.
            if status.contains("R") || status.contains("C") { skipNext = true }
        }
        return files
    }

    /// Adds `pattern` (a line of gitignore syntax, e.g. `/runs/`) to the repository's
    /// own `info/exclude` unless a line there already says it; true when it was added.
    /// The file is git's per-clone ignore list: never committed, shared with nobody.
    @discardableResult
    public func exclude(_ pattern: String) throws -> Bool {
        let relative = try text(["rev-parse", "--git-path", "info/exclude"]) { .failure("cannot find the git folder of \(root): \($0)") }
        let path = relative.hasPrefix("/") ? relative : root + "/" + relative
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let lines = existing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.contains(pattern) { return false }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let separator = existing.isEmpty || existing.hasSuffix("\n") ? "" : "\n"
        let text = existing + separator + "# ccpod: run outputs brought home by `ccpod artifacts pull`\n" + pattern + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return true
    }

    /// Whether git tracks any file under `folder` (relative to the root).
    public func tracksFiles(under folder: String) -> Bool {
        guard let out = try? git(["ls-files", "-z", "--", folder]), out.status == 0 else { return false }
        return !out.stdout.isEmpty
    }

    /// A commit of the working tree as it is (tracked changes and untracked, not ignored,
    /// files) on top of `parent`, made with a temporary index: the user's branch, index
    /// and stash are untouched, and no branch points to it.
    public func snapshotCommit(parent: String, message: String) throws -> String {
        let realIndex = try text(["rev-parse", "--git-path", "index"]) { .failure("cannot find the index of \(root): \($0)") }
        let realIndexPath = realIndex.hasPrefix("/") ? realIndex : root + "/" + realIndex
        let dir = try TemporaryFolder(prefix: "ccpod-index")
        defer { dir.remove() }
        let index = dir.path + "/index"
        // Starting from a copy of the real index keeps git's stat cache: `add -A` stays fast.
        if FileManager.default.fileExists(atPath: realIndexPath) {
            try FileManager.default.copyItem(atPath: realIndexPath, toPath: index)
        }
        let env = ["GIT_INDEX_FILE": index]
        try text(["add", "-A", "--", "."], extra: env) { .failure("cannot capture the uncommitted changes: \($0)") }
        let tree = try text(["write-tree"], extra: env) { .failure("cannot capture the uncommitted changes: \($0)") }
        return try text(["commit-tree", tree, "-p", parent, "-m", message], extra: identityFallback()) {
            .failure("cannot capture the uncommitted changes: \($0)")
        }
    }

    /// A committer identity for repositories without `user.name`/`user.email`, so
    /// commit-tree and tag never stop on "Please tell me who you are".
    func identityFallback() -> [String: String] {
        let name = (try? git(["config", "user.name"]))?.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let email = (try? git(["config", "user.email"]))?.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        var env: [String: String] = [:]
        if name.isEmpty { env["GIT_COMMITTER_NAME"] = "ccpod"; env["GIT_AUTHOR_NAME"] = "ccpod" }
        if email.isEmpty { env["GIT_COMMITTER_EMAIL"] = "ccpod@localhost"; env["GIT_AUTHOR_EMAIL"] = "ccpod@localhost" }
        return env
    }

    /// Creates the annotated tag `name` on `commit`.
    public func createTag(_ name: String, commit: String, message: String) throws {
        try text(["-c", "tag.gpgSign=false", "tag", "-a", "-m", message, "--", name, commit], extra: identityFallback()) {
            .failure("cannot create the tag \(name): \($0)")
        }
    }

    /// Whether the tag `name` exists here.
    public func hasTag(_ name: String) -> Bool {
        ((try? git(["rev-parse", "--verify", "--quiet", "refs/tags/" + name]))?.status ?? 1) == 0
    }

    /// Deletes the tag `name` (after a failed deploy).
    public func deleteTag(_ name: String) {
        _ = try? git(["tag", "-d", "--", name])
    }

    /// Whether the object `sha` is in this repository.
    public func hasCommit(_ sha: String) -> Bool {
        ((try? git(["cat-file", "-e", sha + "^{commit}"]))?.status ?? 1) == 0
    }

    /// Writes a bundle of `refs/tags/<tag>` to `file`; with `base`, only what `base` lacks.
    public func createBundle(tag: String, excluding base: String?, to file: String) throws {
        var args = ["bundle", "create", "-q", file, "refs/tags/" + tag]
        if let base { args.append("^" + base) }
        try text(args) { .failure("git bundle create failed: \($0)") }
    }

    /// Submodules (gitlinks) in `commit`'s tree: their content is not in the bundle.
    public func submodules(in commit: String) throws -> [String] {
        let out = try git(["ls-tree", "-r", "-z", "--full-tree", commit])
        guard out.status == 0 else { return [] }
        return out.stdout.split(separator: 0).compactMap { entry -> String? in
            let text = String(decoding: entry, as: UTF8.self)
            guard text.hasPrefix("160000 "), let tab = text.firstIndex(of: "\t") else { return nil }
            return String(text[text.index(after: tab)...])
        }
    }

    /// Files of `commit` that are Git LFS pointers: the bundle carries the pointer, not the content.
    public func lfsPointers(in commit: String) throws -> [String] {
        let out = try git(["grep", "-l", "-I", "--full-name", "-e", "^version https://git-lfs.github.com/spec/", commit, "--"])
        guard out.status == 0 else { return [] }
        return out.stdoutText.split(separator: "\n").map { line in
            // `git grep` on a commit prints `<commit>:<path>`.
            let s = String(line)
            return s.hasPrefix(commit + ":") ? String(s.dropFirst(commit.count + 1)) : s
        }
    }
}

/// A private (0700) temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init(prefix: String) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(12))")
        try CCPodLocations.makePrivateDirectory(url)
        path = url.path
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
