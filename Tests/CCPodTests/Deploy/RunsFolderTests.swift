import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `./runs/`, where `artifacts pull` brings outputs home, stays out of git so that the
/// next deploy does not call the tree dirty and a snapshot never carries them.
@Suite struct RunsFolderTests {
    @Test func theFolderIsExcludedOnceAndGitNoLongerSeesIt() throws {
        let git = try GitFixture()
        defer { git.remove() }
        try git.write("runs/demo/logs/train.log", "step 1\n")
        #expect(try git.git("status", "--porcelain").contains("runs/"))
        let note = RunsFolder.keepOutOfGit(projectRoot: git.path, environment: git.env)
        #expect(note?.contains("/runs/") == true)
        #expect(try git.git("status", "--porcelain").isEmpty)
        // A second call changes nothing and says nothing.
        #expect(RunsFolder.keepOutOfGit(projectRoot: git.path, environment: git.env) == nil)
        let exclude = try String(contentsOfFile: git.path + "/.git/info/exclude", encoding: .utf8)
        #expect(exclude.components(separatedBy: "\n").filter { $0 == "/runs/" }.count == 1)
    }

    @Test func aProjectThatTracksRunsItselfIsLeftAlone() throws {
        let git = try GitFixture(commit: ["README.md": "x\n", "runs/README.md": "our own runs folder\n"])
        defer { git.remove() }
        let before = try? String(contentsOfFile: git.path + "/.git/info/exclude", encoding: .utf8)
        #expect(RunsFolder.keepOutOfGit(projectRoot: git.path, environment: git.env) == nil)
        #expect((try? String(contentsOfFile: git.path + "/.git/info/exclude", encoding: .utf8)) == before)
        try git.write("runs/README.md", "changed\n")
        #expect(try git.git("status", "--porcelain").contains("runs/README.md"))
    }

    @Test func aFolderThatIsNoRepositoryIsLeftAlone() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-norepo-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": folder.path,
                   "GIT_CEILING_DIRECTORIES": folder.deletingLastPathComponent().path]
        #expect(RunsFolder.keepOutOfGit(projectRoot: folder.path, environment: env) == nil)
    }

    @Test(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
    func aDeployAfterAPullIsNotRefusedAndDoesNotCarryTheOutputs() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        // Outputs an earlier pull left in ./runs/ before the folder was excluded.
        try git.write("runs/demo/logs/train.log", "step 1\nstep 2\n")
        let ssh = try pod.connection()
        let result = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "after-pull"))
        #expect(!result.record.snapshot)
        #expect(result.warnings.contains { $0.contains("info/exclude") })
        #expect(!FileManager.default.fileExists(atPath: result.record.codePath + "/runs"))
        // A real change next to them is still refused.
        try git.write("src/train.py", "print('changed')\n")
        let refused = try #require(throws: CCPodError.self) {
            try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "after-pull"))
        }
        #expect(refused.message.contains("src/train.py") && !refused.message.contains("runs/"))
    }
}
