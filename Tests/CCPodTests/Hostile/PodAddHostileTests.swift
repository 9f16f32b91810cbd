import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `ccpod pod add` checks that ssh works by running `true` on the pod. A pod that
/// answers without end, or never ends, must neither fill ccpod's memory nor hold it
/// forever; nothing is saved.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct PodAddHostileTests {
    /// What the pod does instead of `true`, the check's time limit, and what the user reads.
    static let pods: [(command: String, seconds: TimeInterval, says: String)] = [
        ("yes ccpod-was-here", 60, "does not stop"),
        // (60 s, thirty times the limit: sshd does not end a command without a terminal
        // when its client goes, so the sleep outlives the test by its own length.)
        ("sleep 60", 2, "did not finish"),
        // A failure that writes 3 MB to stderr: the sentence quotes only its end.
        ("head -c 3000000 /dev/zero | tr '\\0' x >&2; exit 3", 60, "failed with status 3"),
    ]

    @Test(arguments: 0..<pods.count)
    func aPodThatAnswersTrueBadlyIsRefusedWithNothingSaved(_ index: Int) throws {
        let pod = Self.pods[index]
        let t = try SSHTestPod(behaviour: .init(forceCommand: pod.command))
        defer { withExtendedLifetime(t) {} }
        var registry = PodRegistry(locations: t.locations)
        registry.checkSeconds = pod.seconds
        let started = Date()
        let error = try #require(throws: CCPodError.self) {
            try registry.add(t.settings(), makeDefault: true, trust: SSHTestPod.acceptNew)
        }
        #expect(error.message.contains(pod.says), "\(error.message.prefix(300))")
        #expect(error.message.count < 1000)
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(!FileManager.default.fileExists(atPath: t.locations.configFile.path))
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().isEmpty)
    }
}
