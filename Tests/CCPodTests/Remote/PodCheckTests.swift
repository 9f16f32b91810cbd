@testable import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

@Suite struct PodCheckLocalTests {
    @Test func checksALocalPod() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-k-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("workspace"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        try "RUNPOD_TCP_PORT_22=1\n".write(to: root.appendingPathComponent("etc/rp_environment"), atomically: true, encoding: .utf8)
        let local = LocalConnection(root: root.path)
        let report = PodChecker.check(ResolvedPod(name: local.displayName, settings: nil, connection: local))
        #expect(report.usable)
        let probe = try #require(report.probe)
        #expect(probe.tools["sh"] == true)
        #expect(probe.tools.count == PodProbe.toolNames.count)
        #expect((probe.workspaceFreeBytes ?? 0) > 0)
        #expect(probe.environmentFileExists)
        #expect(report.endpoints.first?.kind == "local")
        let json = try CheckRendering.json(report)
        let decoded = try JSONDecoder().decode(PodCheckReport.self, from: Data(json.utf8))
        #expect(decoded == report)
        #expect(json.contains("\"usable\" : true"))
        #expect(CheckRendering.text(report).contains("environment file /etc/rp_environment: present"))
    }

    @Test func probeOutputThatIsNotUnderstoodIsBadData() throws {
        let error = try #require(throws: CCPodError.self) { try PodProbe.parse("Welcome to the pod!\n", paths: PodPaths()) }
        #expect(error.status == .badData)
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
struct PodCheckSSHTests {
    @Test func checksAPodOverSSH() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let pod = try PodResolver.resolvePod(name: "gpu", environment: t.environment, locations: t.locations, recorder: t.recorder)
        t.recorder.reset()
        let report = PodChecker.check(pod)
        let e = try #require(report.endpoints.first)
        #expect(e.kind == "direct")
        #expect(e.reachable && e.authenticated && e.exec)
        #expect(e.roundTripMs != nil)
        #expect(report.probe?.tools["sh"] == true)
        #expect(report.probe?.workspaceFreeBytes != nil)
        #expect(t.recorder.count == 2)
    }

    @Test func anUnreachablePodExits69() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        t.sshd.stop()
        let env = t.environment.merging([
            "XDG_CONFIG_HOME": t.locations.configDir.deletingLastPathComponent().path,
            "XDG_STATE_HOME": t.locations.stateDir.deletingLastPathComponent().path,
        ]) { $1 }
        let pod = try PodResolver.resolvePod(name: "gpu", environment: env, locations: t.locations)
        let report = PodChecker.check(pod)
        let e = try #require(report.endpoints.first)
        #expect(!e.reachable)
        #expect(e.failure == .connectionRefused)
        #expect(!report.usable)
        let error = try #require(throws: CCPodError.self) {
            try CLIContext.$environment.withValue(env) {
                var command = try CCPodCommand.parseAsRoot(["check", "--pod", "gpu", "--json"])
                try command.run()
            }
        }
        #expect(error.status == .unavailable)
        #expect(error.message.contains("refused the connection"))
    }

    @Test func aChangedHostKeyIsReportedAsReachableButNotAuthenticated() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        try t.sshd.restart(newHostKey: true)
        let pod = try PodResolver.resolvePod(name: "gpu", environment: t.environment.merging(["RUNPOD_PORT": String(t.sshd.port)]) { $1 },
                                             locations: t.locations)
        let report = PodChecker.check(pod)
        let e = try #require(report.endpoints.first)
        #expect(e.reachable)
        #expect(!e.authenticated)
        #expect(e.failure == .hostKeyChanged)
        #expect(!report.usable)
    }
}
