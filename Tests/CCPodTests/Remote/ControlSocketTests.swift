import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The master connection's socket belongs to one pod identity (name, address, identity,
/// options and pinned keys): another pod entry at the same address never rides on it,
/// and re-pinning or removing a pod closes it.
@Suite struct ControlIdentityTests {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-cid-\(UUID().uuidString.prefix(6))")

    func target(name: String = "gpu", port: Int = 41022, known: URL) -> SSHTarget {
        SSHTarget(name: name, endpoint: SSHEndpoint(user: "root", host: "203.0.113.7", port: port),
                  identity: "/keys/id", options: ["-F", "/dev/null"], knownHostsFile: known)
    }

    @Test func theIdentityFollowsTheNameTheAddressAndThePinnedKeys() throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let known = Self.folder.appendingPathComponent("gpu")
        try "gpu ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne\n".write(to: known, atomically: true, encoding: .utf8)
        let one = target(known: known)
        #expect(one.controlIdentity.count == SSHTarget.controlIdentityLength)
        #expect(one.controlIdentity.allSatisfy { $0.isHexDigit })
        // The same pod with the same keys: the same master.
        #expect(target(known: known).controlIdentity == one.controlIdentity)
        // Another name at the same address, another port: never the same master.
        #expect(target(name: "gpu2", known: known).controlIdentity != one.controlIdentity)
        #expect(target(port: 41023, known: known).controlIdentity != one.controlIdentity)
        // Another pinned key (re-pinned after a restart), or none: another master.
        try "gpu ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo\n".write(to: known, atomically: true, encoding: .utf8)
        let repinned = target(known: known)
        #expect(repinned.controlIdentity != one.controlIdentity)
        try FileManager.default.removeItem(at: known)
        #expect(target(known: known).controlIdentity != repinned.controlIdentity)
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct ControlSocketTests {
    /// A pod entry `name` at the test server's address whose pinned key is another
    /// server's key (same type, so ssh reports it as changed).
    func addWrongEntry(_ t: SSHTestPod, name: String) throws {
        let other = t.root.appendingPathComponent("other_host_key").path
        _ = try ChildProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other])
        let line = try String(contentsOfFile: other + ".pub", encoding: .utf8)
        let wrong = try #require(HostKey(publicKeyLine: line))
        #expect(wrong.line != t.sshd.hostPublicKey)
        try PodKnownHosts(pod: name, locations: t.locations).pin([wrong])
        var config = try CCPodConfig.load(from: t.locations)
        config.pods[name] = t.settings(name: name)
        try config.save(to: t.locations)
    }

    @Test func aSecondEntryAtTheSameAddressChecksItsOwnPinnedKey() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add(name: "gpu")
        let good = try t.connection(name: "gpu")
        #expect(try good.runCommand("echo one").stdoutText == "one\n")
        #expect(good.masterIsRunning())

        try addWrongEntry(t, name: "mirror")
        let wrong = try t.connection(name: "mirror")
        #expect(wrong.endpoint == good.endpoint)
        #expect(wrong.controlPath != good.controlPath)
        t.recorder.reset()
        let error = try #require(throws: CCPodError.self) { try wrong.runCommand("echo must-not-run") }
        #expect(error.sshFailure == .hostKeyChanged)
        #expect(error.message.contains("host key of pod mirror changed"))
        #expect(!wrong.masterIsRunning())
        // The first pod's master was open all along and still serves it.
        #expect(good.masterIsRunning())
        #expect(try good.runCommand("echo two").stdoutText == "two\n")
    }

    @Test func trustingANewKeyClosesTheMasterMadeWithTheOldOne() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let old = try t.connection()
        #expect(try old.runCommand("echo before").stdoutText == "before\n")
        // A restart in place with a new key: the established connection outlives the
        // listener, so the old master still answers until ccpod closes it.
        try t.sshd.restart(newHostKey: true, samePort: true)
        #expect(old.masterIsRunning())
        let outcome = try PodRegistry(locations: t.locations, recorder: t.recorder)
            .trustAgain(name: "gpu", environment: t.environment, trust: SSHTestPod.acceptNew)
        #expect(outcome.learned.keys.map(\.line) == [t.sshd.hostPublicKey])
        #expect(!old.masterIsRunning())
        let now = try t.connection()
        #expect(now.controlPath != old.controlPath)
        #expect(try now.runCommand("echo after").stdoutText == "after\n")
    }

    @Test func replacingAPodClosesItsMaster() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let old = try t.connection()
        #expect(try old.runCommand("true").status == 0)
        #expect(old.masterIsRunning())
        var changed = t.settings()
        changed.sshOptions += ["-o", "Compression=no"]
        _ = try PodRegistry(locations: t.locations).add(changed, makeDefault: false, trust: SSHTestPod.acceptNew)
        #expect(!old.masterIsRunning())
    }

    @Test func removingAPodClosesItsMaster() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let ssh = try t.connection()
        #expect(try ssh.runCommand("true").status == 0)
        #expect(ssh.masterIsRunning())
        try PodRegistry(locations: t.locations).remove(name: "gpu")
        #expect(!ssh.masterIsRunning())
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().isEmpty)
    }
}
