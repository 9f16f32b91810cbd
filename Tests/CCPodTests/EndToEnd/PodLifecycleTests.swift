@testable import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod pod start|stop|terminate` against a loopback pod and the fake RunPod API,
/// with the API's actions tied to the simulated pod: stop stops its sshd, start brings
/// it back on a new port with a new host key.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"), .enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)"))
struct PodLifecycleTests {
    let id = "11111111-2222-4333-8444-555555555555"
    static let key = "rpa_E2E_LIFECYCLE_000000000000000000000000001"

    func run(_ args: [String], _ env: [String: String]) throws { try runCCPod(args, env) }

    struct Bed {
        let t: SSHTestPod
        let bed: SyncTestBed
        let fake: FakeRunPodAPI
        let env: [String: String]
        let project: String
        var slug: String { ProjectSlug.forDirectory(URL(fileURLWithPath: project)) }
        var transcript: String { "\(bed.localClaude)/projects/\(slug)/\(PodLifecycleTests().id).jsonl" }
        var podTranscript: String { "\(bed.podClaude)/projects/\(slug)/\(PodLifecycleTests().id).jsonl" }
        func remove() { fake.shutdown(); bed.remove() }
    }

    /// A pod added with `pod add` (through `proxy` when given: its RunPod id is then
    /// learned from the pod's RUNPOD_POD_ID), setup's paths in temporary folders.
    func setUp(proxy: ProxyHarness?) throws -> Bed {
        let t = try SSHTestPod()
        let bed = try SyncTestBed()
        let fake = try FakeRunPodAPI(apiKey: Self.key)
        let env = t.environment.merging([
            "XDG_CONFIG_HOME": t.locations.configDir.deletingLastPathComponent().path,
            "XDG_STATE_HOME": t.locations.stateDir.deletingLastPathComponent().path,
            "RUNPOD_API_KEY": Self.key, "RUNPOD_API_URL": fake.baseURL.absoluteString,
        ]) { $1 }
        var add = ["pod", "add", "gpu", "--direct", "\(t.sshd.user)@127.0.0.1:\(t.sshd.port)",
                   "--identity", t.sshd.clientKeyPath, "--ssh-option=-F", "--ssh-option=/dev/null",
                   "--claude-dir", bed.podClaude, "--workspace", bed.podRoot + "/workspace",
                   "--persistent-dir", bed.podRoot + "/workspace/claude-sessions", "--accept-new", "--default"]
        if let proxy {
            add += ["--proxy", "\(proxy.sshd.user)@127.0.0.1:\(proxy.sshd.port)",
                    "--environment-file", proxy.environmentFile, "--host-key-file", proxy.hostKeyFile]
            let authorized = proxy.sshd.directory.appendingPathComponent("authorized_keys")
            let key = try String(contentsOfFile: t.sshd.clientKeyPath + ".pub", encoding: .utf8)
            try (String(contentsOf: authorized, encoding: .utf8) + key).write(to: authorized, atomically: true, encoding: .utf8)
            _ = try PodRestartSimulation(direct: t.sshd, proxy: proxy)
        } else {
            add += ["--runpod-id", "ccpodtest01"]
        }
        try run(add, env)
        // Setup installs a stand-in claude into a temporary bin dir, and uses a private tmux server.
        var config = try CCPodConfig.load(from: t.locations)
        let bin = bed.podRoot + "/bin"
        config.pods["gpu"]?.runtime = PodRuntime(
            installCommand: "mkdir -p \(bin) && printf '#!/bin/sh\\necho 2.1.0\\n' > \(bin)/claude && chmod 755 \(bin)/claude",
            binDir: bin, tmux: "tmux", tmuxSocket: "ccpod-life-\(UUID().uuidString.prefix(8).lowercased())")
        try config.save(to: t.locations)
        let project = bed.root.appendingPathComponent("project").path
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        fake.setPod(.init(id: "ccpodtest01", sshPort: t.sshd.port, startingPolls: 1))
        let cm = t.locations.stateDir.appendingPathComponent("cm").path
        let sshd = t.sshd
        let simulation = try proxy.map { try PodRestartSimulation(direct: sshd, proxy: $0) }
        fake.onAction { action, pod in
            // A stopped pod ends every connection, the multiplexing masters' too.
            if action == "stop" { Self.closeMasters(cm); sshd.stop() }
            if action == "start" {
                if let simulation { try simulation.restart() } else { try sshd.restart(newHostKey: false) }
                pod.sshPort = sshd.port
            }
        }
        return Bed(t: t, bed: bed, fake: fake, env: env, project: project)
    }

    static func closeMasters(_ cm: String) {
        for socket in (try? FileManager.default.contentsOfDirectory(atPath: cm)) ?? [] {
            _ = try? ChildProcess.run("ssh", ["-F", "/dev/null", "-o", "ControlPath=\(cm)/\(socket)", "-O", "exit", "placeholder"])
        }
    }

    func push(_ b: Bed) throws {
        try run(["push", "--claude-dir", b.bed.localClaude, "--project", b.project, "--busy-seconds", "0", "--json"], b.env)
    }

    var actions: (FakeRunPodAPI) -> [String] {
        { fake in fake.requests.filter { $0.method == "POST" }.map { String(decoding: $0.body, as: UTF8.self) } }
    }

    @Test func startAfterStopReachesThePodOnItsNewPortAndPinsIt() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let b = try setUp(proxy: proxy)
        defer { b.remove(); withExtendedLifetime(b.t) {} }
        // The RunPod id came from the pod itself, through the proxy.
        #expect(try CCPodConfig.load(from: b.t.locations).pods["gpu"]?.runpodId == "ccpodtest01")
        let oldPort = b.t.sshd.port
        let oldKey = b.t.sshd.hostPublicKey
        try run(["pod", "stop", "gpu", "--claude-dir", b.bed.localClaude, "--busy-seconds", "0"], b.env)
        #expect(b.fake.pod("ccpodtest01")?.status == "EXITED")
        try run(["pod", "start", "gpu", "--poll-interval", "0", "--wait-timeout", "120"], b.env)
        #expect(b.t.sshd.port != oldPort && b.t.sshd.hostPublicKey != oldKey)
        let saved = try CCPodConfig.load(from: b.t.locations).pods["gpu"]
        #expect(saved?.direct?.port == b.t.sshd.port)
        #expect(PodKnownHosts(pod: "gpu", locations: b.t.locations).keys().map(\.line) == [b.t.sshd.hostPublicKey])
        #expect(actions(b.fake) == [#"{"action":"stop"}"#, #"{"action":"start"}"#])
        // Setup ran on the new pod: the stand-in claude is installed.
        #expect(FileManager.default.isExecutableFile(atPath: b.bed.podRoot + "/bin/claude"))
        // And the pod is usable as before.
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: b.transcript)
        try push(b)
        #expect(SyncTestBed.read(b.podTranscript) == SyncTestBed.read(b.transcript))
    }

    @Test func stopRefusesWhileWorkWouldStayOnThePodAndForceStops() throws {
        let b = try setUp(proxy: nil)
        defer { b.remove(); withExtendedLifetime(b.t) {} }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: b.transcript)
        try push(b)
        // Claude Code runs on the pod with this session open and has written more.
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 3, text: "pod"), to: b.podTranscript)
        try SyncTestBed.write(Data("{\"pid\":\(getpid()),\"sessionId\":\"\(id)\",\"cwd\":\"/w\"}".utf8),
                              to: b.bed.podClaude + "/sessions/\(getpid()).json")
        // A run deployed from here whose log grew since it was last pulled (never, here).
        let runDir = b.bed.podRoot + "/workspace/runs/train_20261201-101500"
        try SyncTestBed.write(Data("step 1 loss 2.3\n".utf8), to: runDir + "/logs/train.log")
        try LocalRunRecords(podStateDir: b.t.locations.podStateDir(podName: "gpu")).remember(
            RunRecord(name: "train", folder: "train_20261201-101500", directory: runDir, created: "2026-12-01T10:15:00Z",
                      deployed: "2026-12-01T10:15:00Z", tag: "ccpod/train-20261201-101500", commit: String(repeating: "a", count: 40),
                      project: b.project, snapshot: false))
        let error = try #require(throws: CCPodError.self) {
            try run(["pod", "stop", "gpu", "--claude-dir", b.bed.localClaude, "--busy-seconds", "0"], b.env)
        }
        #expect(error.message.contains("\(id).jsonl") && error.message.contains("busy") && error.message.contains("--force"), "\(error.message)")
        #expect(error.message.contains("artifacts train") && error.message.contains("logs/train.log"), "\(error.message)")
        #expect(actions(b.fake).isEmpty)
        #expect(b.fake.pod("ccpodtest01")?.status == "RUNNING")

        try run(["pod", "stop", "gpu", "--force", "--claude-dir", b.bed.localClaude, "--busy-seconds", "0"], b.env)
        #expect(actions(b.fake) == [#"{"action":"stop"}"#])
        #expect(b.fake.pod("ccpodtest01")?.status == "EXITED")
        // Stopping keeps /workspace: the session is still on the pod's disk.
        #expect(FileManager.default.fileExists(atPath: b.podTranscript))
    }

    @Test func terminateNeverRunsWhileAVerificationFailsThenRunsOnceAllIsHome() throws {
        let b = try setUp(proxy: nil)
        defer { b.remove(); withExtendedLifetime(b.t) {} }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: b.transcript)
        try push(b)
        // Both sides moved on: the pull cannot bring the pod's version home, the hashes differ.
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 4, text: "pod"), to: b.podTranscript)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 4, text: "laptop"), to: b.transcript)
        // A run with outputs on the pod, deployed from this project.
        let folder = "train_20261201-101500"
        let runDir = b.bed.podRoot + "/workspace/runs/" + folder
        let weights = Data((0..<200_000).map { UInt8($0 % 251) })
        try SyncTestBed.write(weights, to: runDir + "/checkpoints/model.bin")
        let record = RunRecord(name: "train", folder: folder, directory: runDir, created: "2026-12-01T10:15:00Z",
                               deployed: "2026-12-01T10:15:00Z", tag: "ccpod/train-20261201-101500", commit: String(repeating: "a", count: 40),
                               project: b.project, snapshot: false)
        try SyncTestBed.write(try record.jsonLine() + Data("\n".utf8), to: b.bed.podRoot + "/workspace/claude-sessions/runs/\(folder).json")

        let error = try #require(throws: CCPodError.self) {
            try run(["pod", "terminate", "gpu", "--yes", "--claude-dir", b.bed.localClaude, "--busy-seconds", "0"], b.env)
        }
        #expect(error.message.contains("nothing was terminated") && error.message.contains("\(id).jsonl"), "\(error.message)")
        #expect(actions(b.fake).isEmpty && b.fake.pod("ccpodtest01") != nil)

        // Once both versions are kept on both sides, every file verifies and the pod goes.
        try run(["sync", "--claude-dir", b.bed.localClaude, "--all", "--busy-seconds", "0", "--json"], b.env)
        try run(["pod", "terminate", "gpu", "--yes", "--claude-dir", b.bed.localClaude, "--busy-seconds", "0"], b.env)
        #expect(actions(b.fake) == [#"{"action":"terminate"}"#])
        #expect(b.fake.pod("ccpodtest01") == nil)
        #expect(SyncTestBed.read(b.project + "/runs/train/checkpoints/model.bin") == weights)
    }
}
