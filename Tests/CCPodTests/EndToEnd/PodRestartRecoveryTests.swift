@testable import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// A pod restart (new port, new host key) between two syncs: ccpod finds the pod
/// again through the PTY-only proxy, pins the key it learned there, and syncs.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
struct PodRestartRecoveryTests {
    let id = "11111111-2222-4333-8444-555555555555"

    func run(_ args: [String], _ env: [String: String]) throws { try runCCPod(args, env) }

    struct Bed {
        let t: SSHTestPod
        let bed: SyncTestBed
        let env: [String: String]
        let project: String
    }

    func setUp(proxy: ProxyHarness?) throws -> Bed {
        let t = try SSHTestPod()
        let bed = try SyncTestBed()
        let env = t.environment.merging([
            "XDG_CONFIG_HOME": t.locations.configDir.deletingLastPathComponent().path,
            "XDG_STATE_HOME": t.locations.stateDir.deletingLastPathComponent().path,
        ]) { $1 }
        var add = ["pod", "add", "gpu", "--direct", "\(t.sshd.user)@127.0.0.1:\(t.sshd.port)",
                   "--identity", t.sshd.clientKeyPath, "--ssh-option=-F", "--ssh-option=/dev/null",
                   "--claude-dir", bed.podClaude, "--workspace", bed.podRoot + "/workspace",
                   "--persistent-dir", bed.podRoot + "/workspace/claude-sessions", "--accept-new", "--default"]
        if let proxy {
            // The proxy accepts the same client key; the pod's files are where its shell reads them.
            // `pod add` learns both host keys through it (--accept-new for the proxy's own).
            add += ["--proxy", "\(proxy.sshd.user)@127.0.0.1:\(proxy.sshd.port)",
                    "--environment-file", proxy.environmentFile, "--host-key-file", proxy.hostKeyFile]
            let authorized = proxy.sshd.directory.appendingPathComponent("authorized_keys")
            let key = try String(contentsOfFile: t.sshd.clientKeyPath + ".pub", encoding: .utf8)
            try (String(contentsOf: authorized, encoding: .utf8) + key).write(to: authorized, atomically: true, encoding: .utf8)
            _ = try PodRestartSimulation(direct: t.sshd, proxy: proxy)
        }
        try run(add, env)
        let project = bed.root.appendingPathComponent("project").path
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let slug = ProjectSlug.forDirectory(URL(fileURLWithPath: project))
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 5), to: "\(bed.localClaude)/projects/\(slug)/\(id).jsonl")
        return Bed(t: t, bed: bed, env: env, project: project)
    }

    func push(_ b: Bed) throws {
        try run(["push", "--claude-dir", b.bed.localClaude, "--project", b.project, "--busy-seconds", "0", "--json"], b.env)
    }

    @Test func aSyncAfterARestartRecoversThroughTheProxy() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let b = try setUp(proxy: proxy)
        defer { b.bed.remove(); withExtendedLifetime(b.t) {} }
        let restart = try PodRestartSimulation(direct: b.t.sshd, proxy: proxy)
        try push(b)
        let oldPort = b.t.sshd.port
        // A restart ends every connection, the multiplexing master's too.
        try b.t.connection().closeMaster()
        try restart.restart()
        #expect(b.t.sshd.port != oldPort)
        let slug = ProjectSlug.forDirectory(URL(fileURLWithPath: b.project))
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 5), to: "\(b.bed.localClaude)/projects/\(slug)/\(id).jsonl")
        try push(b)
        // The config now has the new port, the new key is pinned, and the lines arrived.
        let config = try CCPodConfig.load(from: b.t.locations)
        #expect(config.pods["gpu"]?.direct?.port == b.t.sshd.port)
        #expect(PodKnownHosts(pod: "gpu", locations: b.t.locations).keys().map(\.line) == [b.t.sshd.hostPublicKey])
        #expect(SyncTestBed.read("\(b.bed.podClaude)/projects/\(slug)/\(id).jsonl")
            == SyncTestBed.read("\(b.bed.localClaude)/projects/\(slug)/\(id).jsonl"))
    }

    @Test func statusRemembersWhereTheProjectWentLastTime() throws {
        let b = try setUp(proxy: nil)
        defer { b.bed.remove(); withExtendedLifetime(b.t) {} }
        let podPath = b.bed.podRoot + "/workspace/runs/x/code"
        try run(["push", "--claude-dir", b.bed.localClaude, "--project", b.project, "--pod-path", podPath, "--busy-seconds", "0", "--json"], b.env)
        let podSlug = ProjectSlug.of(podPath)
        #expect(FileManager.default.fileExists(atPath: "\(b.bed.podClaude)/projects/\(podSlug)/\(id).jsonl"))
        // Without --pod-path, a later push goes to the same place (nothing new lands under the local slug).
        let slug = ProjectSlug.forDirectory(URL(fileURLWithPath: b.project))
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 5), to: "\(b.bed.localClaude)/projects/\(slug)/\(id).jsonl")
        try push(b)
        #expect(SyncTestBed.read("\(b.bed.podClaude)/projects/\(podSlug)/\(id).jsonl")
            == SyncTestBed.read("\(b.bed.localClaude)/projects/\(slug)/\(id).jsonl"))
        #expect(!FileManager.default.fileExists(atPath: "\(b.bed.podClaude)/projects/\(slug)"))
    }

    @Test func checkAfterARestartRecoversThroughTheProxy() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let b = try setUp(proxy: proxy)
        defer { b.bed.remove(); withExtendedLifetime(b.t) {} }
        let restart = try PodRestartSimulation(direct: b.t.sshd, proxy: proxy)
        try run(["check"], b.env)
        try b.t.connection().closeMaster()
        try restart.restart()
        try run(["check"], b.env)
        #expect(try CCPodConfig.load(from: b.t.locations).pods["gpu"]?.direct?.port == b.t.sshd.port)
        #expect(PodKnownHosts(pod: "gpu", locations: b.t.locations).keys().map(\.line) == [b.t.sshd.hostPublicKey])
    }

    @Test func runsAfterARestartRecoversThroughTheProxy() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let b = try setUp(proxy: proxy)
        defer { b.bed.remove(); withExtendedLifetime(b.t) {} }
        let restart = try PodRestartSimulation(direct: b.t.sshd, proxy: proxy)
        try run(["runs", "--json"], b.env)
        try b.t.connection().closeMaster()
        try restart.restart()
        try run(["runs", "--json"], b.env)
        #expect(try CCPodConfig.load(from: b.t.locations).pods["gpu"]?.direct?.port == b.t.sshd.port)
        #expect(PodKnownHosts(pod: "gpu", locations: b.t.locations).keys().map(\.line) == [b.t.sshd.hostPublicKey])
    }

    @Test func aRestartWithoutProxyOrAPIIsRefusedWithTheFix() throws {
        let b = try setUp(proxy: nil)
        defer { b.bed.remove(); withExtendedLifetime(b.t) {} }
        try push(b)
        try b.t.connection().closeMaster()
        try b.t.sshd.restart(newHostKey: true)
        let error = try #require(throws: CCPodError.self) { try push(b) }
        #expect(error.status == .podLost)
        #expect(error.message.contains("--proxy") || error.message.contains("RUNPOD_PORT"), "\(error.message)")
        // Nothing was changed in the config.
        #expect(try CCPodConfig.load(from: b.t.locations).pods["gpu"]?.direct?.port != b.t.sshd.port)
    }
}
