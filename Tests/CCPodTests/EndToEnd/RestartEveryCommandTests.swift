import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// Every command that reaches a pod, run after the pod restarted (new port, new host
/// key, its processes gone, only its workspace kept): each finds the pod again through
/// its proxy (config saved with the new port, the new key pinned), repairs what the
/// restart wiped of the layout, and does its job. (`check` and `runs` are in
/// PodRestartRecoveryTests; `launch` in LaunchAfterRestartTests.)
@Suite(.enabled(if: LoopbackSSHD.isAvailable && ChildProcess.exists("tmux"), "needs sshd and tmux"))
struct RestartEveryCommandTests {
    @Test func setupRestoresWhatTheRestartWiped() throws {
        let bed = try RestartBed()
        try bed.run(["setup", "--json"])
        #expect(bed.layoutInPlace)
        #expect(FileManager.default.isExecutableFile(atPath: bed.binDir + "/claude"))
        try bed.restart()
        try bed.run(["setup", "--json"])
        try bed.expectRecovered()
        #expect(bed.layoutInPlace)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: bed.claudeDir + "/settings.json"))
            == bed.persistentDir + "/settings/settings.json")
        #expect(FileManager.default.isExecutableFile(atPath: bed.binDir + "/claude"))
    }

    /// push, pull and sync move the lines through the repaired layout into the
    /// persistent copy (without the repair the pod's Claude dir would be empty: a pull
    /// would bring nothing, a push would write onto the wiped disk); status compares.
    @Test(arguments: ["push", "pull", "sync", "status"])
    func theSyncFamilyRecoversAndWorksOnThePersistentCopy(_ command: String) throws {
        let bed = try RestartBed()
        try bed.setUpAndPush()
        let more = SyncTestBed.lines(session: bed.sid, count: 2, start: 5)
        switch command {
        case "pull": try SyncTestBed.append(more, to: bed.podTranscript)
        case "push", "sync": try SyncTestBed.append(more, to: bed.localTranscript)
        default: break
        }
        try bed.restart()
        try bed.run([command, "--busy-seconds", "0", "--json"] + bed.here)
        try bed.expectRecovered()
        #expect(bed.layoutInPlace)
        let expected = command == "status" ? 5 : 7
        #expect(SyncTestBed.read(bed.localTranscript).split(separator: UInt8(ascii: "\n")).count == expected)
        #expect(SyncTestBed.read(bed.podTranscript) == SyncTestBed.read(bed.localTranscript))
    }

    @Test func resolveRecoversAndSettlesTheConflict() throws {
        let bed = try RestartBed()
        try bed.run(["setup", "--json"])
        // The same session, different on both sides, no common history: a conflict.
        try SyncTestBed.write(SyncTestBed.lines(session: bed.sid, count: 4, text: "here"), to: bed.localTranscript)
        try SyncTestBed.write(SyncTestBed.lines(session: bed.sid, count: 3, text: "there"), to: bed.podTranscript)
        #expect(throws: (any Error).self) { try bed.run(["push", "--busy-seconds", "0", "--json"] + bed.here) }
        #expect(SyncTestBed.read(bed.podTranscript) != SyncTestBed.read(bed.localTranscript))
        try bed.restart()
        try bed.run(["resolve", "--take", "local", "projects/\(bed.slug)/\(bed.sid).jsonl"] + bed.here)
        try bed.expectRecovered()
        #expect(SyncTestBed.read(bed.podTranscript) == SyncTestBed.read(bed.localTranscript))
    }

    /// Two restarts, two commands: artifacts pull then artifacts push, each recovering.
    /// The pod was never set up, so the recovery creates no layout on it.
    @Test func artifactsPullAndPushRecover() throws {
        let bed = try RestartBed()
        let runDir = bed.workspace + "/runs/exp_20261201-000000"
        let local = bed.t.root.path + "/laptop/runs/exp"
        let metrics = Data("{\"loss\": 0.25}\n".utf8)
        try SyncTestBed.write(metrics, to: runDir + "/results/metrics.json")
        try bed.restart()
        try bed.run(["artifacts", "pull", "--from", runDir, "--to", local, "--project", bed.project, "--json"])
        try bed.expectRecovered()
        #expect(FileManager.default.contents(atPath: local + "/results/metrics.json") == metrics)
        #expect(!FileManager.default.fileExists(atPath: bed.claudeDir))

        try bed.restart()
        let input = Data("a dataset line\n".utf8)
        try SyncTestBed.write(input, to: local + "/artifacts/input.txt")
        try bed.run(["artifacts", "push", "--from", local, "--to", runDir, "--project", bed.project, "--json"])
        try bed.expectRecovered()
        #expect(FileManager.default.contents(atPath: runDir + "/artifacts/input.txt") == input)
    }

    /// attach after a restart: the pod is found again and the answer is the real one
    /// (no Claude survives a restart), not a refused connection. Then `runs` after another.
    @Test func attachAndRunsRecover() throws {
        let bed = try RestartBed()
        try bed.setUpAndPush()
        try bed.restart()
        let attach = bed.status(["attach"] + bed.here)
        #expect(attach.status == 69)
        #expect(attach.message.contains("no ccpod tmux session runs on gpu"), "\(attach.message)")
        try bed.expectRecovered()
        #expect(bed.layoutInPlace)

        try bed.restart()
        try bed.run(["runs", "--json"])
        try bed.expectRecovered()
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: InterruptionTests.binary), "the ccpod binary is not built"))
    func deployRecoversAndLandsTheRun() throws {
        let bed = try RestartBed()
        let git = try GitFixture()
        defer { git.remove() }
        try bed.restart()
        var env = bed.env.merging(git.env) { mine, _ in mine }
        env["HOME"] = bed.env["HOME"]
        let out = try ChildProcess.run(InterruptionTests.binary, ["deploy", "--run", "exp", "--project", git.path],
                                       environment: env, directory: git.path)
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stderrText.contains("looking for pod gpu again"), "\(out.stderrText)")
        try bed.expectRecovered()
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: bed.workspace + "/runs")) ?? []
        #expect(runs.count == 1 && runs[0].hasPrefix("exp_"), "\(runs)")
        #expect(FileManager.default.fileExists(atPath: bed.workspace + "/runs/\(runs.first ?? "")/code/src/train.py"))
    }

    /// No proxy, no RunPod id, no terminal: every command stops with exit 68 (check: 69) and the
    /// ways to let ccpod find the pod, and nothing is written: not the config, not the
    /// pinned key, not the pod (its wiped Claude dir stays absent), no deploy tag.
    @Test func aRestartNothingCanFindStopsEveryCommandWith68AndWritesNothing() throws {
        let bed = try RestartBed(withProxy: false)
        try bed.setUpAndPush()
        try bed.restart()
        let configFile = bed.t.locations.configDir.appendingPathComponent("config.toml").path
        let keyFile = SSHConnection.knownHostsFile(pod: "gpu", locations: bed.t.locations).path
        let config = SyncTestBed.read(configFile)
        let key = SyncTestBed.read(keyFile)
        #expect(!config.isEmpty && !key.isEmpty)
        let commands: [[String]] = [
            ["setup"], ["runs"], ["status"] + bed.here, ["push", "--busy-seconds", "0"] + bed.here,
            ["pull"] + bed.here, ["sync"] + bed.here, ["attach"] + bed.here,
            ["artifacts", "pull", "--from", bed.workspace + "/runs/x", "--to", bed.t.root.path + "/out", "--project", bed.project],
        ]
        for args in commands {
            let result = bed.status(args)
            #expect(result.status == 68, "\(args[0]): \(result.message)")
            #expect(result.message.contains("--proxy") && result.message.contains("--runpod-id")
                    && result.message.contains("RUNPOD_PORT"), "\(args[0]): \(result.message)")
        }
        // check reports instead: a pod it cannot reach is exit 69 (the ways to find it on stderr).
        #expect(bed.status(["check"]).status == 69)
        if FileManager.default.isExecutableFile(atPath: InterruptionTests.binary) {
            let git = try GitFixture()
            defer { git.remove() }
            var env = bed.env.merging(git.env) { mine, _ in mine }
            env["HOME"] = bed.env["HOME"]
            let out = try ChildProcess.run(InterruptionTests.binary, ["deploy", "--run", "exp", "--project", git.path],
                                           environment: env, directory: git.path)
            #expect(out.status == 68, "\(out.stderrText)")
            #expect(out.stderrText.contains("RUNPOD_PORT"), "\(out.stderrText)")
            #expect(try git.git("tag", "-l").isEmpty)
        }
        #expect(SyncTestBed.read(configFile) == config)
        #expect(SyncTestBed.read(keyFile) == key)
        #expect(!FileManager.default.fileExists(atPath: bed.claudeDir))
        #expect(!FileManager.default.fileExists(atPath: bed.t.root.path + "/out"))
    }
}

/// `ccpod launch` after a restart, for real: the built binary on a PTY, the stand-in
/// claude. The pod is found again through its proxy at the first step, its layout and
/// Claude Code are repaired, the sessions pushed, and Claude starts in tmux with the
/// session that was there before the restart.
@Suite(.enabled(if: LoopbackSSHD.isAvailable && launchTestBinary != nil && ChildProcess.exists("tmux"),
                "needs sshd, tmux and the built ccpod"))
struct LaunchAfterRestartTests {
    let sid = "5e55e55e-0000-4000-8000-00000000000c"

    @Test func launchAfterARestartFindsThePodRepairsItAndStartsClaude() async throws {
        let bed = try LaunchTestBed()
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        try RestartBed.addProxy(proxy, pod: "gpu", clientKey: bed.pod.sshd.clientKeyPath, locations: bed.pod.locations)
        let restart = try PodRestartSimulation(direct: bed.pod.sshd, proxy: proxy,
                                               containerDisk: [bed.podDir + "/root", bed.podDir + "/usr"])
        try bed.writeLocalSession(sid, lines: 3)
        try bed.startInTerminal(["launch", "--pod-path", bed.podProject], tag: "1")
        #expect(await bed.waitUntil { bed.standInRunning })
        try bed.release(exitCode: 0)
        let first = await bed.waitForExit(tag: "1")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(bed.localLines(sid).count == 4)

        // The restart: connections cut, tmux and Claude gone, container disk wiped.
        try bed.pod.connection().closeMaster()
        _ = bed.podTmux(["kill-server"])
        let oldPort = bed.pod.sshd.port
        try restart.restart()
        #expect(bed.pod.sshd.port != oldPort)
        #expect(!FileManager.default.fileExists(atPath: bed.claudeDir))

        try bed.startInTerminal(["launch"], tag: "2")
        let running = await bed.waitUntil { bed.standInRunning }
        let early = running ? "" : await bed.waitForExit(tag: "2", timeout: 1).stderr
        #expect(running, "\(early)")
        try bed.release(exitCode: 0)
        let second = await bed.waitForExit(tag: "2")
        #expect(second.status == 0, "\(second.stderr)")
        // Found again once, at the first step; every later step used the repaired connection.
        #expect(second.stderr.components(separatedBy: "looking for pod gpu again").count == 2, "\(second.stderr)")
        #expect(second.stderr.contains("setup: projects"), "\(second.stderr)")
        #expect(second.stderr.contains("setup: claude"), "\(second.stderr)")
        let config = try CCPodConfig.load(from: bed.pod.locations)
        #expect(config.pods["gpu"]?.direct?.port == bed.pod.sshd.port)
        #expect(PodKnownHosts(pod: "gpu", locations: bed.pod.locations).keys().map(\.line) == [bed.pod.sshd.hostPublicKey])
        // Claude continued the session from before the restart, and its new line came home.
        let log = try String(contentsOfFile: bed.control + "/log", encoding: .utf8)
        #expect(log == "continue \(sid)\ncontinue \(sid)\n")
        #expect(bed.localLines(sid).count == 5)
    }
}
