import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod watch` as the built binary against a real sshd: a line appended here reaches the
/// pod within two intervals, the pod going away and coming back costs one line each, and
/// SIGTERM / SIGINT end it with 0 / 130.
@Suite(.enabled(if: LoopbackSSHD.isAvailable && ClaudeTestPaths.ccpodBinary != nil, "needs sshd and the built ccpod binary"))
struct WatchOverSSHTests {
    /// The watch's interval in these tests.
    static let interval = 2.0

    final class Bed {
        let pod: SSHTestPod
        let bed: SyncTestBed
        let project: String
        let env: [String: String]
        let id = "33333333-2222-4333-8444-555555555555"
        var local: String { bed.localClaude + "/projects/" + ProjectSlug.of(project) + "/\(id).jsonl" }
        var remote: String { bed.podClaude + "/projects/" + ProjectSlug.of(project) + "/\(id).jsonl" }

        init() throws {
            pod = try SSHTestPod()
            bed = try SyncTestBed()
            let dir = bed.root.appendingPathComponent("project")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            project = ProjectSlug.resolvedPath(dir)
            var settings = pod.settings()
            settings.paths = PodPaths(claudeDir: bed.podClaude, persistentDir: bed.podRoot + "/workspace/claude-sessions",
                                      workspace: bed.podRoot + "/workspace")
            _ = try PodRegistry(locations: pod.locations, recorder: pod.recorder).add(settings, makeDefault: false, trust: SSHTestPod.acceptNew)
            env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": pod.root.path,
                   "CLAUDE_CONFIG_DIR": bed.localClaude,
                   "XDG_CONFIG_HOME": pod.root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": pod.root.appendingPathComponent("state").path]
        }

        /// Starts `ccpod watch`, its stdout and stderr into files.
        func watch() throws -> (ChildProcess, out: String, err: String) {
            let out = bed.root.appendingPathComponent("watch-\(UUID().uuidString.prefix(4)).out").path
            let err = out + ".err"
            let o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o600), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            defer { close(o); close(e) }
            let child = try ChildProcess.spawn(try #require(ClaudeTestPaths.ccpodBinary?.path),
                                               ["watch", "--pod", "gpu", "--project", project, "--interval", "\(Int(WatchOverSSHTests.interval))s",
                                                "--busy-seconds", "0"],
                                               environment: env, stdin: .null, stdout: .fd(o), stderr: .fd(e))
            return (child, out, err)
        }

        /// Waits until `done` holds, at most `seconds`; returns how long it took (nil: never).
        func until(_ seconds: Double, _ done: () -> Bool) -> Double? {
            let start = Date()
            while !done() {
                if Date().timeIntervalSince(start) > seconds { return nil }
                usleep(50_000)
            }
            return Date().timeIntervalSince(start)
        }

        func text(_ path: String) -> String { String(decoding: SyncTestBed.read(path), as: UTF8.self) }
    }

    @Test("An appended line reaches the pod within two intervals; the pod going away and back is said once each; SIGTERM ends with 0")
    func watchSyncsAndSurvives() throws {
        let b = try Bed()
        defer { b.bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: b.id, count: 4), to: b.local)
        let (watch, out, err) = try b.watch()
        var ended = false
        defer { if !ended { watch.signal(SIGKILL); watch.wait() } }

        #expect(b.until(60) { SyncTestBed.read(b.remote) == SyncTestBed.read(b.local) } != nil, "first round: \(b.text(err))")

        try SyncTestBed.append(SyncTestBed.lines(session: b.id, count: 2, start: 4), to: b.local)
        let arrived = b.until(60) { SyncTestBed.read(b.remote) == SyncTestBed.read(b.local) }
        print("watch: an appended line reached the pod in \(arrived.map { String(format: "%.2f", $0) } ?? "-") s (interval \(Self.interval) s)")
        #expect(arrived != nil && arrived! <= 2 * Self.interval, "took \(String(describing: arrived)) s; stderr:\n\(b.text(err))")

        // The round has ended (its line printed) before the pod goes away: a round cut
        // mid-way is ConnectionCutTests' subject, not this one's.
        #expect(b.until(30) { b.text(out).split(separator: "\n").count == 2 } != nil, "stdout:\n\(b.text(out))")

        // The pod goes away for a while; lines written meanwhile arrive once it is back.
        // The laptop's end of the connection goes too (as when a pod stops).
        try b.pod.connection().closeMaster()
        b.pod.sshd.stop()
        try SyncTestBed.append(SyncTestBed.lines(session: b.id, count: 2, start: 6), to: b.local)
        usleep(UInt32(4 * Self.interval * 1_000_000))
        try b.pod.sshd.restart(newHostKey: false, samePort: true)
        let back = b.until(90) { SyncTestBed.read(b.remote) == SyncTestBed.read(b.local) }
        #expect(back != nil, "not synced after the pod came back; stderr:\n\(b.text(err))")
        #expect(b.until(10) { b.text(err).contains("reachable again") } != nil, "stderr:\n\(b.text(err))")

        watch.signal(SIGTERM)
        let status = watch.wait()
        ended = true
        #expect(status == 0)
        let notes = b.text(err).split(separator: "\n")
        #expect(notes.filter { $0.contains("unreachable") }.count == 1, "stderr:\n\(b.text(err))")
        #expect(notes.filter { $0.contains("reachable again") }.count == 1, "stderr:\n\(b.text(err))")
        #expect(notes.count <= 8, "stderr:\n\(b.text(err))")
        // One line per round that moved something: three rounds moved lines.
        let lines = b.text(out).split(separator: "\n")
        #expect(lines.count == 3, "stdout:\n\(b.text(out))")
        #expect(lines.allSatisfy { $0.contains("pushed") || $0.contains("copied to pod") }, "stdout:\n\(b.text(out))")
    }

    @Test("While another ccpod holds the pod's lock, rounds are skipped (not queued); the line moves once it is free")
    func lockedRoundsAreSkipped() throws {
        let b = try Bed()
        defer { b.bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: b.id, count: 4), to: b.local)
        let (watch, out, err) = try b.watch()
        defer { watch.signal(SIGKILL); watch.wait() }
        #expect(b.until(60) { SyncTestBed.read(b.remote) == SyncTestBed.read(b.local) } != nil, "first round: \(b.text(err))")
        #expect(b.until(30) { !b.text(out).isEmpty } != nil)

        // A sync typed in a terminal (or a hook's) holds the lock.
        let locks = try OperationLock.acquire([.pod("gpu")], stateDir: b.pod.locations.stateDir, purpose: "syncing with gpu", wait: false)
        try SyncTestBed.append(SyncTestBed.lines(session: b.id, count: 2, start: 4), to: b.local)
        usleep(UInt32(2.5 * Self.interval * 1_000_000))
        #expect(SyncTestBed.read(b.remote).count < SyncTestBed.read(b.local).count, "a round ran under another ccpod's lock")
        locks.forEach { $0.release() }
        #expect(b.until(60) { SyncTestBed.read(b.remote) == SyncTestBed.read(b.local) } != nil, "stderr:\n\(b.text(err))")
        #expect(!b.text(err).contains("waiting for"), "stderr:\n\(b.text(err))")
    }

    @Test("Ctrl-C ends the watch with 130")
    func interruptEndsWith130() throws {
        let b = try Bed()
        defer { b.bed.remove() }
        let (watch, _, err) = try b.watch()
        #expect(b.until(60) { b.text(err).contains("watching") } != nil, "stderr:\n\(b.text(err))")
        watch.signal(SIGINT)
        #expect(watch.wait() == 130)
    }

    @Test("--install writes a systemd user unit under XDG_CONFIG_HOME and --uninstall removes it")
    func installUnit() throws {
        let b = try Bed()
        defer { b.bed.remove() }
        let binary = try #require(ClaudeTestPaths.ccpodBinary?.path)
        let installed = try ChildProcess.run(binary, ["watch", "--pod", "gpu", "--project", b.project, "--install", "--interval", "45s"], environment: b.env)
        #expect(installed.status == 0, "\(installed.stderrText)")
        let unit = b.pod.root.appendingPathComponent("config/systemd/user/ccpod-watch-gpu.service").path
        let text = b.text(unit)
        #expect(text.contains("ExecStart=\"\(binary)\" \"watch\" \"--pod\" \"gpu\" \"--interval\" \"45s\" \"--project\""), "\(text)")
        #expect(text.contains("Environment=\"CLAUDE_CONFIG_DIR=\(b.bed.localClaude)\""), "\(text)")
        #expect(installed.stdoutText.contains("systemctl --user enable --now ccpod-watch-gpu.service"))
        // Enabled (the link `systemctl --user enable` makes): the file stays until it is disabled.
        let wants = b.pod.root.appendingPathComponent("config/systemd/user/default.target.wants").path
        try FileManager.default.createDirectory(atPath: wants, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: wants + "/ccpod-watch-gpu.service", withDestinationPath: unit)
        let refused = try ChildProcess.run(binary, ["watch", "--pod", "gpu", "--project", b.project, "--uninstall"], environment: b.env)
        #expect(refused.status == 1, "\(refused.stderrText)")
        #expect(refused.stdoutText.contains("systemctl --user disable --now ccpod-watch-gpu.service"))
        #expect(FileManager.default.fileExists(atPath: unit))
        try FileManager.default.removeItem(atPath: wants + "/ccpod-watch-gpu.service")
        let removed = try ChildProcess.run(binary, ["watch", "--pod", "gpu", "--project", b.project, "--uninstall"], environment: b.env)
        #expect(removed.status == 0)
        #expect(!FileManager.default.fileExists(atPath: unit))
    }
}
