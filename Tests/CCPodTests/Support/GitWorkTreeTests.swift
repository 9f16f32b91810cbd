import CCPodKit
import Foundation
import Testing

/// The work tree found without git is the one git names: every case asked of both.
@Suite struct GitWorkTreeTests {
    let root: String

    init() throws {
        root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ccpod-gitwt-\(UUID().uuidString.prefix(8))")
            .resolvingSymlinksInPath().path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func git(_ args: [String], in dir: String) throws {
        let out = try ChildProcess.run("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"] + args)
        try #require(out.status == 0, "git \(args): \(out.stderrText)")
    }

    /// What `git rev-parse --show-toplevel` says, or nil where it names no work tree.
    func gitsAnswer(_ dir: String) throws -> String? {
        let out = try ChildProcess.run("git", ["-C", dir, "rev-parse", "--show-toplevel"])
        return out.status == 0 ? out.stdoutText.trimmingCharacters(in: .newlines) : nil
    }

    func mkdir(_ path: String) throws -> String {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    @Test(.enabled(if: ChildProcess.exists("git"), "git is not installed"))
    func everyFolderGetsTheTopGitNames() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let repo = try mkdir("repo")
        try git(["init", "-q"], in: repo)
        try git(["commit", "-q", "--allow-empty", "-m", "first"], in: repo)
        let deep = try mkdir("repo/a/b/c")
        let nested = try mkdir("repo/a/inner")
        try git(["init", "-q"], in: nested)
        let nestedDeep = try mkdir("repo/a/inner/x")
        try git(["worktree", "add", "-q", root + "/linked"], in: repo)
        let linkedDeep = try mkdir("linked/d")
        let bare = try mkdir("bare.git")
        try git(["init", "-q", "--bare"], in: bare)
        let plain = try mkdir("plain/sub")
        // A symlink from outside into the repository's depths: git walks up from where it points.
        try FileManager.default.createSymbolicLink(atPath: root + "/plain/link", withDestinationPath: deep)
        let cases = [repo, deep, nested, nestedDeep, root + "/linked", linkedDeep, bare, bare + "/refs",
                     repo + "/.git", repo + "/.git/refs", plain, root + "/plain/link"]
        for dir in cases {
            let found: String?
            switch GitWorkTree.find(from: dir, environment: [:]) {
            case .top(let top): found = top
            case .none: found = nil
            case .askGit: Issue.record("\(dir): asked git with no git variables set"); continue
            }
            #expect(found == (try gitsAnswer(dir)), "\(dir)")
        }
        #expect(GitWorkTree.find(from: deep, environment: [:]) == .top(repo))
        #expect(GitWorkTree.find(from: linkedDeep, environment: [:]) == .top(root + "/linked"))
        #expect(GitWorkTree.find(from: plain, environment: [:]) == .none)
    }

    /// Where git's own variables steer it, git is asked; so is it for a folder that is not there.
    @Test func gitsVariablesAndMissingFoldersAreLeftToGit() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(GitWorkTree.find(from: root, environment: ["GIT_DIR": "/elsewhere/.git"]) == .askGit)
        #expect(GitWorkTree.find(from: root, environment: ["GIT_CEILING_DIRECTORIES": "/tmp"]) == .askGit)
        #expect(GitWorkTree.find(from: root + "/missing", environment: [:]) == .askGit)
    }
}
