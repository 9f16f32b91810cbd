@testable import CCPodCLI
@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `ccpod deploy` and `ccpod runs` against a real sshd on loopback.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct DeployOverSSHTests {
    func podGit(_ dir: String, _ args: String...) throws -> String {
        let out = try ChildProcess.run("git", ["-C", dir] + args)
        #expect(out.status == 0, "\(out.stderrText)")
        return out.stdoutText.trimmingCharacters(in: .newlines)
    }

    @Test func aDeployedRunIsACloneAtTheTagInOneExec() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        try git.write("src/model.py", "class Model: pass\n")
        try git.commitAll("second")
        let ssh = try pod.connection()
        pod.t.recorder.reset()
        let result = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "stage1_dpo"))
        #expect(pod.t.recorder.count == 1)
        let r = result.record
        #expect(r.tag.hasPrefix("ccpod/stage1_dpo-"))
        #expect(r.folder.hasPrefix("stage1_dpo_"))
        #expect(r.directory == pod.paths.workspace + "/runs/" + r.folder)
        #expect(r.project == git.path)
        let code = r.codePath
        // Same commit and tree as the tag here; detached, with the tag and its history.
        #expect(try podGit(code, "rev-parse", "HEAD") == (try git.git("rev-parse", r.tag + "^{commit}")))
        #expect(try podGit(code, "rev-parse", "HEAD^{tree}") == (try git.git("rev-parse", r.tag + "^{tree}")))
        #expect(try podGit(code, "rev-list", "--count", "HEAD") == "2")
        #expect(try podGit(code, "status", "--porcelain").isEmpty)
        #expect(try ChildProcess.run("git", ["-C", code, "symbolic-ref", "-q", "HEAD"]).status != 0, "detached at the tag")
        #expect(try podGit(code, "remote").isEmpty, "no remote pointing at a deleted bundle")
        #expect(try podGit(code, "tag") == r.tag)
        #expect(try git.git("cat-file", "-t", r.tag) == "tag")
        for sub in ["artifacts", "logs", "checkpoints", "results"] {
            var isDir: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: r.directory + "/" + sub, isDirectory: &isDir) && isDir.boolValue)
        }
        #expect(pod.runFolders == [r.folder], "no temporary folder left")
        // The registry on the pod holds the record.
        let registry = try Data(contentsOf: URL(fileURLWithPath: pod.paths.persistentDir + "/runs/\(r.folder).json"))
        #expect(try JSONDecoder().decode(RunRecord.self, from: registry) == r)
        // The same run name again makes a second run; the same folder is refused.
        let second = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "stage1_dpo",
                                                                         now: Date().addingTimeInterval(5)))
        #expect(second.record.folder != r.folder)
    }

    @Test func twoDeploysOfOneRunInTheSameSecondGetDistinctNames() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        let ssh = try pod.connection()
        let now = Date()
        let first = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "quick", now: now))
        let second = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "quick", now: now))
        let third = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "quick", now: now))
        #expect(Set([first.record.tag, second.record.tag, third.record.tag]).count == 3)
        #expect(second.record.tag == first.record.tag + "-2")
        #expect(third.record.folder == first.record.folder + "-3")
        #expect(Set(pod.runFolders) == Set([first, second, third].map(\.record.folder)))
    }

    @Test func aDirtyTreeIsRefusedAndAllowDirtyLeavesBranchIndexAndStashAlone() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        // A stash, a staged change, an unstaged change, an untracked file and an ignored one.
        try git.write(".gitignore", "*.ckpt\n")
        try git.commitAll("ignore")
        try git.write("README.md", "stashed\n")
        try git.git("stash", "-q")
        try git.write("src/train.py", "print('staged')\n")
        try git.git("add", "src/train.py")
        try git.write("README.md", "hello, unstaged\n")
        try git.write("notes/new file.txt", "untracked\n")
        try git.write("big.ckpt", "ignored\n")
        let before = (head: try git.git("rev-parse", "HEAD"), status: try git.git("status", "--porcelain"),
                      stash: try git.git("stash", "list"), branch: try git.git("branch", "--list"),
                      staged: try git.git("diff", "--cached", "--name-only"))
        let ssh = try pod.connection()
        let refused = try #require(throws: CCPodError.self) {
            try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "dirty"))
        }
        #expect(refused.status == .usage)
        #expect(refused.message.contains("README.md") && refused.message.contains("notes/new file.txt") && refused.message.contains("src/train.py"))
        #expect(!refused.message.contains("big.ckpt"))
        #expect(refused.message.contains("--allow-dirty"))
        #expect(pod.runFolders.isEmpty)
        #expect(try git.git("tag").isEmpty)

        let result = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "dirty", allowDirty: true))
        #expect(result.record.snapshot)
        #expect(try git.git("rev-parse", "HEAD") == before.head)
        #expect(try git.git("status", "--porcelain") == before.status)
        #expect(try git.git("stash", "list") == before.stash)
        #expect(try git.git("branch", "--list") == before.branch)
        #expect(try git.git("diff", "--cached", "--name-only") == before.staged)
        #expect(try git.git("branch", "--contains", result.record.commit).isEmpty, "no branch points to the snapshot")
        #expect(try git.git("rev-parse", result.record.commit + "^") == before.head)
        let code = result.record.codePath
        #expect(try String(contentsOfFile: code + "/README.md", encoding: .utf8) == "hello, unstaged\n")
        #expect(try String(contentsOfFile: code + "/src/train.py", encoding: .utf8) == "print('staged')\n")
        #expect(try String(contentsOfFile: code + "/notes/new file.txt", encoding: .utf8) == "untracked\n")
        #expect(!FileManager.default.fileExists(atPath: code + "/big.ckpt"))
    }

    @Test func anUpdateSendsOnlyWhatThePodLacksAndRunsListsTheRuns() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        // A few MB of incompressible history.
        for i in 0..<4 {
            try git.write("data/blob\(i).bin", randomData(1_000_000))
            try git.commitAll("data \(i)")
        }
        let relay = try TCPRelay(targetPort: pod.t.sshd.port)
        defer { relay.stop() }
        let ssh = try pod.connection(port: relay.port)
        // Warm the master connection so both measurements exclude the handshake.
        _ = try ssh.runCommand("true")
        let deployer = pod.deployer(ssh, git: git)
        let t0 = Date()
        relay.resetCounters()
        let first = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "big", now: t0))
        let firstBytes = relay.bytesUpstream + relay.bytesDownstream
        try git.write("src/train.py", "print('train better')\n")
        try git.commitAll("one more")
        // Something the run produced on the pod stays.
        try Data("loss 0.1\n".utf8).write(to: URL(fileURLWithPath: first.record.directory + "/logs/train.log"))
        relay.resetCounters()
        pod.t.recorder.reset()
        let update = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "big", update: true, now: t0.addingTimeInterval(60)))
        let updateBytes = relay.bytesUpstream + relay.bytesDownstream
        #expect(pod.t.recorder.count == 1, "the local record names the pod's commit: no extra exec")
        print("deploy bytes on the wire: first \(firstBytes), update \(updateBytes) (bundles \(first.bundleBytes) and \(update.bundleBytes))")
        #expect(firstBytes > 4_000_000)
        #expect(updateBytes * 50 < firstBytes, "first \(firstBytes) B, update \(updateBytes) B")
        #expect(update.base == first.record.commit)
        #expect(update.record.folder == first.record.folder)
        #expect(try podGit(first.record.codePath, "rev-parse", "HEAD") == (try git.git("rev-parse", "HEAD")))
        #expect(try String(contentsOfFile: first.record.directory + "/logs/train.log", encoding: .utf8) == "loss 0.1\n")
        #expect(pod.runFolders == [first.record.folder])

        // Another run, then `runs` lists both, with sizes.
        let other = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "small", now: t0.addingTimeInterval(120)))
        pod.t.recorder.reset()
        let runs = try PodRuns.list(connection: ssh)
        #expect(pod.t.recorder.count == 1)
        #expect(runs.map(\.record.folder) == [first.record.folder, other.record.folder])
        #expect(runs[0].record.commit == update.record.commit)
        #expect(runs[0].record.created != runs[0].record.deployed)
        #expect(runs.allSatisfy { $0.exists && ($0.kilobytes ?? 0) > 3000 })

        // Nothing new: nothing sent. A new run name with --update: a clear error.
        let same = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "big", update: true, now: t0.addingTimeInterval(180)))
        #expect(same.upToDate)
        let missing = try #require(throws: CCPodError.self) {
            try deployer.deploy(DeployRequest(directory: git.root.path, runName: "nosuch", update: true, now: t0.addingTimeInterval(240)))
        }
        #expect(missing.status == .usage)
    }

    @Test func anUpdateFromAnotherMachineReadsThePodRegistry() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        let ssh = try pod.connection()
        let first = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "r"))
        try git.write("x.txt", "x\n")
        try git.commitAll("x")
        // No local record (another laptop, or a wiped state dir): one exec to read the registry.
        try FileManager.default.removeItem(at: pod.t.locations.podStateDir(podName: "gpu").appendingPathComponent("runs.json"))
        pod.t.recorder.reset()
        let update = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "r", update: true,
                                                                         now: Date().addingTimeInterval(5)))
        #expect(pod.t.recorder.count == 2)
        #expect(update.base == first.record.commit)
        #expect(try podGit(first.record.codePath, "rev-parse", "HEAD") == (try git.git("rev-parse", "HEAD")))
    }

    @Test func pushWithoutPodPathUsesTheLatestRunsCodeFolder() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        let ssh = try pod.connection()
        let older = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "a", now: Date().addingTimeInterval(-60)))
        let latest = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "b"))
        #expect(try LatestRun.podPath(for: ProjectContext.locate(directory: git.root.path), connection: ssh) == latest.record.codePath)
        #expect(older.record.codePath != latest.record.codePath)
        // A session of this project here.
        let localClaude = pod.t.root.appendingPathComponent("local-claude").path
        let id = "11111111-2222-4333-8444-555555555555"
        let transcript = "\(localClaude)/projects/\(ProjectSlug.of(git.path))/\(id).jsonl"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: transcript)
        try CLIContext.$interactiveOverride.withValue(false) {
            try CLIContext.$environment.withValue(pod.cliEnvironment) {
                var push = try CCPodCommand.parseAsRoot(["push", "--pod", "gpu", "--claude-dir", localClaude, "--project", git.root.path, "--json", "--busy-seconds", "0"])
                try push.run()
            }
        }
        let onPod = "\(pod.paths.claudeDir)/projects/\(ProjectSlug.of(latest.record.codePath))/\(id).jsonl"
        #expect(SyncTestBed.read(onPod) == SyncTestBed.read(transcript))
        // `runs` counts it under the latest run only.
        let runs = try PodRuns.list(connection: ssh)
        #expect(runs.first { $0.record.folder == latest.record.folder }?.claudeSessions == 1)
        #expect(runs.first { $0.record.folder == older.record.folder }?.claudeSessions == 0)
    }

    @Test func aPodWithoutGitGetsAClearMessageAndNothingBehind() throws {
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        let noGit = try PrefixedConnection.pathWithoutGit(in: pod.t.root)
        let ssh = PrefixedConnection(inner: try pod.connection(), prefix: "PATH=\(noGit); export PATH;")
        let error = try #require(throws: CCPodError.self) {
            try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "r"))
        }
        #expect(error.status == .unavailable)
        #expect(error.message.contains("git is not installed on the pod"))
        #expect(pod.runFolders.isEmpty)
        #expect(try git.git("tag").isEmpty, "the local tag of a failed deploy is removed")
    }

    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func aFullDiskLeavesNoRunFolder() throws {
        let disk = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-full-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: disk) }
        let mount = try ChildProcess.run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk.path])
        guard mount.status == 0 else { return } // a container without CAP_SYS_ADMIN: see the ulimit test below
        defer { _ = try? ChildProcess.run("umount", [disk.path]) }
        let pod = try DeployPod(workspace: disk.path)
        let git = try GitFixture()
        defer { git.remove() }
        try git.write("data.bin", randomData(3_000_000))
        try git.commitAll("data")
        let error = try #require(throws: CCPodError.self) {
            try pod.deployer(try pod.connection(), git: git).deploy(DeployRequest(directory: git.root.path, runName: "r"))
        }
        #expect(error.status == .ioError, "\(error.message)")
        #expect(error.message.contains("ran out of disk space"))
        #expect(pod.runFolders.isEmpty, "\(pod.runFolders)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: pod.paths.persistentDir + "/runs")) ?? []).isEmpty)
    }

    @Test func aWriteThatFailsOnThePodLeavesNoRunFolder() throws {
        // Without root: a file size limit makes the pod's write of the bundle fail.
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        try git.write("data.bin", randomData(2_000_000))
        try git.commitAll("data")
        let ssh = PrefixedConnection(inner: try pod.connection(), prefix: "ulimit -f 200;")
        let error = try #require(throws: CCPodError.self) {
            try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "r"))
        }
        #expect(error.status != .ok)
        #expect(pod.runFolders.isEmpty, "\(pod.runFolders)")
        #expect(try git.git("tag").isEmpty)
    }

    @Test func runsShowsTmuxSessionsInsideARun() throws {
        guard ChildProcess.exists("tmux") else { return }
        let pod = try DeployPod()
        let git = try GitFixture()
        defer { git.remove() }
        let ssh = try pod.connection()
        let run = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "t"))
        // A private tmux server (its own socket folder), never the machine's.
        let sockets = pod.t.root.appendingPathComponent("tmux")
        try FileManager.default.createDirectory(at: sockets, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["TMUX_TMPDIR"] = sockets.path
        env["TMUX"] = nil
        let started = try ChildProcess.run("tmux", ["new-session", "-d", "-s", "ccpod-t", "-c", run.record.codePath, "sleep 60"], environment: env)
        #expect(started.status == 0, "\(started.stderrText)")
        defer { _ = try? ChildProcess.run("tmux", ["kill-server"], environment: env) }
        let withSocket = PrefixedConnection(inner: ssh, prefix: "TMUX_TMPDIR=\(ShellQuote.quote(sockets.path)); export TMUX_TMPDIR;")
        let runs = try PodRuns.list(connection: withSocket)
        #expect(runs.count == 1)
        #expect(runs.first?.tmuxSessions == ["ccpod-t"])
    }
}

/// Deploys to local folders under dash and bash, and what needs no pod.
@Suite("Deploy script and bad input")
struct DeployScriptTests {
    @Test(.enabled(if: ChildProcess.exists("shellcheck"), "shellcheck is not installed"))
    func shellcheckFindsNothing() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-\(UUID().uuidString).sh")
        try DeployScript.source.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let out = try ChildProcess.run("shellcheck", ["-s", "sh", file.path])
        #expect(out.status == 0, "\(out.stdoutText)")
    }

    func localBed(_ shell: String = "sh") throws -> (GitFixture, ShellConnection, URL) {
        let git = try GitFixture()
        let podRoot = git.root.deletingLastPathComponent().appendingPathComponent("pod root")
        try FileManager.default.createDirectory(at: podRoot, withIntermediateDirectories: true)
        return (git, ShellConnection(shell: shell, root: podRoot.path), podRoot.appendingPathComponent("state"))
    }

    @Test(arguments: ["dash", "bash"])
    func deployUpdateAndListUnderShell(_ shell: String) throws {
        guard ChildProcess.exists(shell) else { return }
        let (git, pod, state) = try localBed(shell)
        defer { git.remove() }
        let deployer = Deployer(connection: pod, podStateDir: state, gitEnvironment: git.env)
        let t0 = Date()
        let first = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "run.v2_x-1", now: t0))
        let code = pod.root + first.record.codePath
        #expect(first.record.codePath == "/workspace/runs/\(first.record.folder)/code")
        #expect(FileManager.default.fileExists(atPath: code + "/src/train.py"))
        try git.write("more.txt", "more\n")
        try git.commitAll("more")
        let update = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "run.v2_x-1", update: true, now: t0.addingTimeInterval(1)))
        #expect(update.base == first.record.commit)
        #expect(FileManager.default.fileExists(atPath: code + "/more.txt"))
        let runs = try PodRuns.list(connection: pod)
        #expect(runs.map(\.record.commit) == [update.record.commit])
        // Changes made on the pod that an update would overwrite: refused, run kept as it was.
        try "edited on the pod\n".write(toFile: code + "/more.txt", atomically: true, encoding: .utf8)
        try git.write("more.txt", "changed here\n")
        try git.commitAll("change")
        let blocked = try #require(throws: CCPodError.self) {
            try deployer.deploy(DeployRequest(directory: git.root.path, runName: "run.v2_x-1", update: true, now: t0.addingTimeInterval(2)))
        }
        #expect(blocked.message.contains("in the way"))
        #expect(try String(contentsOfFile: code + "/more.txt", encoding: .utf8) == "edited on the pod\n")
    }

    @Test func badInputGetsClearMessages() throws {
        let (git, pod, state) = try localBed()
        defer { git.remove() }
        let deployer = Deployer(connection: pod, podStateDir: state, gitEnvironment: git.env)
        func failure(_ request: DeployRequest) -> CCPodError? {
            do { _ = try deployer.deploy(request); return nil } catch { return error as? CCPodError }
        }
        // Not a git repository.
        let plain = git.root.deletingLastPathComponent().appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        let notRepo = failure(DeployRequest(directory: plain.path, runName: "r"))
        #expect(notRepo?.status == .usage)
        #expect(notRepo?.message.contains("not inside a git repository") == true)
        // No commits.
        let empty = try GitFixture(commit: nil)
        defer { empty.remove() }
        let noCommits = Deployer(connection: pod, podStateDir: state, gitEnvironment: empty.env)
        let none = try #require(throws: CCPodError.self) { try noCommits.deploy(DeployRequest(directory: empty.root.path, runName: "r")) }
        #expect(none.status == .usage && none.message.contains("no commits"))
        // A ref that does not exist.
        let badRef = failure(DeployRequest(directory: git.root.path, runName: "r", ref: "no-such-branch"))
        #expect(badRef?.status == .usage && badRef?.message.contains("no-such-branch") == true)
        // Run names with a slash or a space, or other trouble for a folder or tag name.
        for name in ["a/b", "a b", "", "-x", ".hidden", "x..y", "x.lock", "ünï"] {
            let bad = failure(DeployRequest(directory: git.root.path, runName: name))
            #expect(bad?.status == .usage, "\(name)")
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: pod.root + "/workspace/runs")) ?? []).isEmpty)
        #expect(try git.git("tag").isEmpty)
        // A detached HEAD deploys its commit, with a note.
        let head = try git.git("rev-parse", "HEAD")
        try git.git("checkout", "-q", "--detach", "HEAD")
        let detached = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "r"))
        #expect(detached.record.commit == head)
        #expect(detached.warnings.contains { $0.contains("detached") })
        // --ref deploys that commit even with a dirty tree.
        try git.write("dirty.txt", "x\n")
        let byRef = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "r", ref: "main", now: Date().addingTimeInterval(3)))
        #expect(byRef.record.commit == head)
    }

    @Test func aGarbledOrHostileRegistryIsSkippedLineByLine() throws {
        let good = #"{"commit":"c1","created":"2026-01-01T00:00:00Z","deployed":"2026-01-01T00:00:00Z","directory":"/workspace/runs/a_1","folder":"a_1","name":"a","project":"/p","snapshot":false,"tag":"ccpod/a-1"}"#
        let escape = good.replacingOccurrences(of: "/workspace/runs/a_1", with: "/workspace/../root").replacingOccurrences(of: "a_1", with: "b_1")
        let text = "J\t{not json\nJ\t\(escape)\nJ\t\(good)\nE\ta_1\nK\ta_1\t42\nT\tccpod-a\t/workspace/runs/a_1/code/sub\nT\tother\t/workspace/runs/a_10\nP\t-workspace-runs-a-1-code\t3\nX\tjunk\n"
        let parsed = PodRuns.parse(text)
        #expect(parsed.records.map(\.folder) == ["a_1"])
        #expect(parsed.existing == ["a_1"])
        #expect(parsed.sizes["a_1"] == 42)
        #expect(parsed.panes.count == 2)
        #expect(parsed.projects["-workspace-runs-a-1-code"] == 3)
    }

    @Test func submodulesAndLFSFilesAreNamedInWarnings() throws {
        let (git, pod, state) = try localBed()
        defer { git.remove() }
        try git.write(".gitattributes", "*.pt filter=lfs diff=lfs merge=lfs -text\n")
        try git.write("weights/model.pt", "version https://git-lfs.github.com/spec/v1\noid sha256:\(String(repeating: "a", count: 64))\nsize 123\n")
        let head = try git.git("rev-parse", "HEAD")
        try git.git("add", ".gitattributes", "weights/model.pt")
        try git.git("update-index", "--add", "--cacheinfo", "160000,\(head),vendor/lib")
        try git.git("commit", "-q", "-m", "lfs and a submodule")
        // No checkout of the submodule here: git reports its folder as changed, so --ref.
        let result = try Deployer(connection: pod, podStateDir: state, gitEnvironment: git.env)
            .deploy(DeployRequest(directory: git.root.path, runName: "w", ref: "HEAD"))
        #expect(result.warnings.contains { $0.contains("submodules") && $0.contains("vendor/lib") })
        #expect(result.warnings.contains { $0.contains("Git LFS") && $0.contains("weights/model.pt") })
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: InterruptionTests.binary), "the ccpod binary is not built"))
    func theBinaryExitsWithTheDocumentedCodes() throws {
        let (git, pod, _) = try localBed()
        defer { git.remove() }
        var env = git.env
        env["XDG_CONFIG_HOME"] = git.root.deletingLastPathComponent().path + "/cfg"
        env["XDG_STATE_HOME"] = git.root.deletingLastPathComponent().path + "/state"
        func run(_ args: [String], in dir: String) throws -> ChildProcess.Output {
            try ChildProcess.run(InterruptionTests.binary, args, environment: env, directory: dir)
        }
        let target = "local:\(pod.root)"
        let plain = git.root.deletingLastPathComponent().appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        #expect(try run(["deploy", "--pod", target], in: plain.path).status == 64)
        #expect(try run(["deploy", "--pod", target, "--run", "a b"], in: git.root.path).status == 64)
        #expect(try run(["deploy", "--pod", target, "--update"], in: git.root.path).status == 64)
        try git.write("dirty.txt", "x\n")
        let dirty = try run(["deploy", "--pod", target, "--run", "r"], in: git.root.path)
        #expect(dirty.status == 64 && dirty.stderrText.contains("dirty.txt"))
        let ok = try run(["deploy", "--pod", target, "--run", "r", "--allow-dirty"], in: git.root.path)
        #expect(ok.status == 0, "\(ok.stderrText)")
        #expect(ok.stdoutText.contains("code: /workspace/runs/r_"))
        let runs = try run(["runs", "--pod", target, "--json"], in: git.root.path)
        #expect(runs.status == 0)
        let listed = try JSONDecoder().decode([RunInfo].self, from: runs.stdout)
        #expect(listed.map(\.record.name) == ["r"])
    }
}
