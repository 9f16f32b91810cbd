@testable import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `ccpod pod add` and `ccpod check` as a user runs them, against a real sshd.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
struct PodCommandSSHTests {
    func env(_ t: SSHTestPod) -> [String: String] {
        t.environment.merging([
            "XDG_CONFIG_HOME": t.locations.configDir.deletingLastPathComponent().path,
            "XDG_STATE_HOME": t.locations.stateDir.deletingLastPathComponent().path,
        ]) { $1 }
    }

    func run(_ args: [String], _ env: [String: String]) throws { try runCCPod(args, env) }

    @Test func addThenCheckThenRemove() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let e = env(t)
        try run(["pod", "add", "gpu", "--direct", "\(t.sshd.user)@127.0.0.1:\(t.sshd.port)",
                 "--identity", t.sshd.clientKeyPath, "--ssh-option=-F", "--ssh-option=/dev/null",
                 "--workspace", t.root.path, "--accept-new", "--default"], e)
        let config = try CCPodConfig.load(from: t.locations)
        #expect(config.defaultPod == "gpu")
        #expect(config.pods["gpu"]?.sshOptions == ["-F", "/dev/null"])
        #expect(config.pods["gpu"]?.paths.workspace == t.root.path)
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().map(\.line) == [t.sshd.hostPublicKey])
        try run(["check"], e)
        try run(["check", "--json"], e.merging(["CCPOD_POD": "gpu"]) { $1 })
        try run(["pod", "rm", "gpu"], e)
        #expect(try CCPodConfig.load(from: t.locations).pods.isEmpty)
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().isEmpty)
    }

    @Test func trustLearnsTheNewKeyAfterARestart() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let e = env(t)
        try t.add()
        try t.sshd.restart(newHostKey: true)
        let moved = e.merging(["RUNPOD_PORT": String(t.sshd.port)]) { $1 }
        #expect(throws: CCPodError.self) { try run(["check", "--pod", "gpu"], moved) }
        // Without a terminal and without --accept-new: refused, key unchanged.
        let refused = try #require(throws: CCPodError.self) { try run(["pod", "trust", "gpu"], moved) }
        #expect(refused.message.contains("--accept-new"))
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().map(\.line) != [t.sshd.hostPublicKey])
        try run(["pod", "trust", "gpu", "--accept-new"], moved)
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().map(\.line) == [t.sshd.hostPublicKey])
        try run(["check", "--pod", "gpu"], moved)
    }

    @Test func firstContactWithAHandWrittenPodAsksOrRefuses() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let e = env(t)
        var config = CCPodConfig()
        config.pods["gpu"] = t.settings()
        try config.save(to: t.locations)
        let refused = try #require(throws: CCPodError.self) { try run(["check", "--pod", "gpu"], e) }
        #expect(refused.status == .usage)
        #expect(refused.message.contains("ccpod pod trust gpu --accept-new"))
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().isEmpty)
        try run(["pod", "trust", "gpu", "--accept-new"], e)
        try run(["check", "--pod", "gpu"], e)
    }
}
