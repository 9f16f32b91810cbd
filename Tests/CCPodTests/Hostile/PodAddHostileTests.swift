import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `ccpod pod add` checks that ssh works by running `true` on the pod. A pod that
/// answers without end, or never ends, must neither fill ccpod's memory nor hold it
/// forever; nothing is saved.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct PodAddHostileTests {
    @Test func aPodThatPrintsWithoutEndIsCut() throws {
        let t = try SSHTestPod(behaviour: .init(forceCommand: "yes ccpod-was-here"))
        defer { withExtendedLifetime(t) {} }
        var registry = PodRegistry(locations: t.locations)
        registry.checkSeconds = 60
        let started = Date()
        let error = try #require(throws: CCPodError.self) {
            try registry.add(t.settings(), makeDefault: true, trust: SSHTestPod.acceptNew)
        }
        #expect(error.message.contains("does not stop"), "\(error.message)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(!FileManager.default.fileExists(atPath: t.locations.configFile.path))
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().isEmpty)
    }

    @Test func aPodThatNeverEndsTimesOut() throws {
        let t = try SSHTestPod(behaviour: .init(forceCommand: "sleep 600"))
        defer { withExtendedLifetime(t) {} }
        var registry = PodRegistry(locations: t.locations)
        registry.checkSeconds = 2
        let started = Date()
        let error = try #require(throws: CCPodError.self) {
            try registry.add(t.settings(), makeDefault: true, trust: SSHTestPod.acceptNew)
        }
        #expect(error.message.contains("did not finish"), "\(error.message)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(!FileManager.default.fileExists(atPath: t.locations.configFile.path))
    }
}
