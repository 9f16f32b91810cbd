import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The top of the git work tree a directory is in, as `git rev-parse --show-toplevel`
/// names it, found by looking at the folders instead of starting git: every command
/// asks (its project is the git root), and a git process costs a few milliseconds
/// before the pod is even contacted.
///
/// Git's discovery, as far as a work tree goes: from the directory up, the first folder
/// holding a `.git` that is a repository folder (`HEAD`, `objects/`, `refs/`) or a
/// `gitdir:` file (a linked worktree, a submodule) is the top; a folder that is itself a
/// repository (a bare one, or the inside of `.git`) has none; the walk stops where the
/// file system changes, as git's does. What git reads from its environment
/// (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_CEILING_DIRECTORIES`, …) is left to git itself.
public enum GitWorkTree {
    public enum Found: Sendable, Equatable {
        /// The work tree's top folder.
        case top(String)
        /// In no work tree (no repository above, a bare one, inside `.git`).
        case none
        /// Git's environment decides: ask git.
        case askGit
    }

    /// The variables that change where git looks (git-rev-parse(1), git(1)).
    static let steering = ["GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
                           "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"]

    /// `directory` must be absolute.
    public static func find(from directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Found {
        if steering.contains(where: { environment[$0] != nil }) { return .askGit }
        // Git walks up from the real folder (its getcwd), not through a symlink's parents.
        guard let real = realpath(directory, nil) else { return .askGit }
        var dir = String(cString: real)
        free(real)
        guard dir.hasPrefix("/"), let device = FileStat.of(dir)?.device else { return .askGit }
        while true {
            let dotGit = dir == "/" ? "/.git" : dir + "/.git"
            if isRepository(dotGit) || isGitFile(dotGit) { return .top(dir) }
            if isRepository(dir) { return .none }
            guard dir != "/" else { return .none }
            let parent = (dir as NSString).deletingLastPathComponent
            guard FileStat.of(parent)?.device == device else { return .none }
            dir = parent
        }
    }

    /// A repository folder: `HEAD` a file, `objects` and `refs` folders (git's own test).
    static func isRepository(_ path: String) -> Bool {
        isDirectory(path) && isFile(path + "/HEAD") && isDirectory(path + "/objects") && isDirectory(path + "/refs")
    }

    /// A `.git` file pointing at the repository (`gitdir: <path>`), as worktrees and
    /// submodules have.
    static func isGitFile(_ path: String) -> Bool {
        guard isFile(path), let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8)) ?? Data()
        return head == Data("gitdir: ".utf8)
    }

    private static func isDirectory(_ path: String) -> Bool { FileStat.of(path)?.isDirectory == true }

    private static func isFile(_ path: String) -> Bool { FileStat.of(path)?.isRegularFile == true }
}
