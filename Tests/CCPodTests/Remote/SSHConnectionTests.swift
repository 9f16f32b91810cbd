import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct SSHConnectionTests {
    @Test func podAddWithAcceptNewPinsTheKeyAndACallSucceeds() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let pinned = PodKnownHosts(pod: "gpu", locations: t.locations)
        #expect(pinned.keys().map(\.line) == [t.sshd.hostPublicKey])
        let attrs = try FileManager.default.attributesOfItem(atPath: pinned.file.path)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let ssh = try t.connection()
        let out = try ssh.runCommand("echo hello")
        #expect(out.status == 0)
        #expect(out.stdoutText == "hello\n")
        let config = try CCPodConfig.load(from: t.locations)
        #expect(config.pods["gpu"] != nil)
        #expect(config.defaultPod == "gpu")
    }

    @Test func stdinAndStdoutAreBinarySafe() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let ssh = try t.connection()
        let bytes = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 9)) })
        let out = try ssh.runCommand("cat", input: bytes)
        #expect(out.status == 0)
        #expect(out.stdout == bytes)
    }

    @Test func aRestartWithANewHostKeyIsRefusedAsChanged() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        try t.sshd.restart(newHostKey: true)
        // RUNPOD_PORT points at the new port: the key, not the port, must stop us.
        let ssh = try t.connection(environment: ["RUNPOD_PORT": String(t.sshd.port)])
        #expect(ssh.endpoint.port == t.sshd.port)
        let error = try #require(throws: CCPodError.self) { try ssh.runCommand("echo should-not-run") }
        #expect(error.status == .unavailable)
        #expect(error.message.contains("host key of pod gpu changed"))
        #expect(error.message.contains(ssh.knownHostsFile.path))
        // The pinned key is untouched.
        let pinned = PodKnownHosts(pod: "gpu", locations: t.locations)
        #expect(pinned.keys().map(\.line) != [t.sshd.hostPublicKey])
    }

    @Test func aRestartWithTheSameKeyOnANewPortIsAcceptedThanksToTheAlias() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        try t.sshd.restart(newHostKey: false)
        let ssh = try t.connection(environment: ["RUNPOD_PORT": String(t.sshd.port)])
        #expect(try ssh.runCommand("echo ok").stdoutText == "ok\n")
    }

    @Test func connectionRefusedAfterARestartIsExplained() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let ssh = try t.connection()
        ssh.closeMaster()
        try t.sshd.restart(newHostKey: true)
        let error = try #require(throws: CCPodError.self) { try ssh.runCommand("true") }
        #expect(error.status == .unavailable)
        #expect(error.message.contains("refused the connection"))
        #expect(error.message.contains("ccpod check"))
    }

    @Test func aWrongKeyIsExplainedAsAuthenticationRefused() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let wrong = t.root.appendingPathComponent("wrong_key").path
        _ = try ChildProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrong])
        let ssh = try SSHConnection(settings: t.settings(identity: wrong), locations: t.locations)
        let out = try ChildProcess.run(ssh.sshExecutable, ssh.sshOptions(multiplex: false) + [ssh.destination, "--", "true"])
        #expect(SSHConnection.classify(status: out.status, stderr: out.stderrText) == .authenticationRefused)
        let error = try #require(ssh.explainFailure(status: out.status, stderr: out.stderrText))
        #expect(error.message.contains("refused the key \(wrong)"))
    }

    /// ccpod's connections use AES-GCM (hardware-accelerated) when the pod offers it.
    @Test func theConnectionPrefersAESGCM() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let ssh = try t.connection()
        let options = ssh.sshOptions(multiplex: false).map { $0 == "LogLevel=ERROR" ? "LogLevel=DEBUG1" : $0 }
        let out = try ChildProcess.run(ssh.sshExecutable, options + [ssh.destination, "--", "true"])
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stderrText.contains("server->client cipher: aes128-gcm@openssh.com"), "\(out.stderrText)")
    }

    /// An ssh that lacks one of the preferred ciphers gets only the ones it has, and one
    /// that cannot say gets no cipher option at all (its own choice).
    @Test func onlyCiphersTheLocalSSHKnowsAreAskedFor() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-ciphers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fips = dir.appendingPathComponent("ssh-fips").path
        try "#!/bin/sh\nprintf 'aes128-ctr\\naes256-gcm@openssh.com\\naes128-gcm@openssh.com\\n'\n".write(toFile: fips, atomically: true, encoding: .utf8)
        let mute = dir.appendingPathComponent("ssh-mute").path
        try "#!/bin/sh\nexit 1\n".write(toFile: mute, atomically: true, encoding: .utf8)
        for tool in [fips, mute] { chmod(tool, 0o755) }
        #expect(SSHConnection.usableCiphers(for: fips) == "aes128-gcm@openssh.com,aes256-gcm@openssh.com")
        #expect(SSHConnection.usableCiphers(for: mute) == nil)
        #expect(SSHConnection.usableCiphers(for: "ssh") == SSHConnection.preferredCiphers)
    }

    @Test func podAddWithAWrongKeyChangesNothing() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let wrong = t.root.appendingPathComponent("wrong_key").path
        _ = try ChildProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrong])
        let registry = PodRegistry(locations: t.locations)
        let error = try #require(throws: CCPodError.self) {
            try registry.add(t.settings(identity: wrong), makeDefault: true, trust: SSHTestPod.acceptNew)
        }
        #expect(error.message.contains("refused"))
        #expect(!FileManager.default.fileExists(atPath: t.locations.configFile.path))
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().isEmpty)
    }

    @Test func aNewKeyWithoutATerminalNeedsAcceptNew() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let registry = PodRegistry(locations: t.locations)
        let error = try #require(throws: CCPodError.self) {
            try registry.add(t.settings(), makeDefault: true, trust: SSHTestPod.nonInteractive)
        }
        #expect(error.status == .usage)
        #expect(error.message.contains("--accept-new"))
        #expect(error.message.contains("SHA256:"))
        #expect(!FileManager.default.fileExists(atPath: t.locations.configFile.path))
    }

    @Test func aTrustedSourceIsUsedWithoutAsking() throws {
        struct Fixed: HostKeySource {
            let key: HostKey
            func hostKeys(direct: SSHEndpoint?) throws -> [HostKey]? { [key] }
        }
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let key = try #require(HostKey(publicKeyLine: t.sshd.hostPublicKey))
        let outcome = try PodRegistry(locations: t.locations)
            .add(t.settings(), makeDefault: true, trust: SSHTestPod.nonInteractive, trustedSource: Fixed(key: key))
        #expect(outcome.learned.keys == [key])
        #expect(outcome.learned.how.contains("proxy"))
    }

    @Test func anUnpinnedPodIsExplained() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let ssh = try SSHConnection(settings: t.settings(), locations: t.locations)
        let error = try #require(throws: CCPodError.self) { try ssh.runCommand("true") }
        #expect(error.message.contains("no host key is pinned"))
    }

    @Test func theMasterConnectionIsReused() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let ssh = try t.connection()
        t.recorder.reset()
        #expect(try ssh.runCommand("echo one").stdoutText == "one\n")
        let sockets = try FileManager.default.contentsOfDirectory(atPath: ssh.controlDirectory)
        #expect(sockets.count == 1)
        #expect(ssh.masterIsRunning())
        #expect(try ssh.runCommand("echo two").stdoutText == "two\n")
        #expect(t.recorder.count == 2)
        #expect(t.recorder.commands == ["echo one", "echo two"])
        // Still the same single master.
        #expect(try FileManager.default.contentsOfDirectory(atPath: ssh.controlDirectory) == sockets)
    }

    @Test func theFingerprintMatchesSSHKeygen() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let key = try #require(HostKey(publicKeyLine: t.sshd.hostPublicKey))
        let out = try ChildProcess.run("ssh-keygen", ["-l", "-f", t.sshd.hostKeyPath + ".pub"])
        #expect(out.stdoutText.contains(key.fingerprint))
    }

    @Test func invocationShape() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let ssh = try SSHConnection(settings: t.settings(), locations: t.locations)
        let (args, env) = try ssh.invocation(remoteCommand: "-weird command")
        #expect(env == nil)
        #expect(args.first == "ssh")
        #expect(Array(args.suffix(3)) == ["\(t.sshd.user)@127.0.0.1", "--", "-weird command"])
        #expect(args.contains("StrictHostKeyChecking=yes"))
        #expect(args.contains("HostKeyAlias=gpu"))
        #expect(args.contains("BatchMode=yes"))
        #expect(!args.joined(separator: " ").contains("StrictHostKeyChecking=no"))
    }

    @Test func onATerminalTheFingerprintIsShownAndTheAnswerDecides() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        let key = try #require(HostKey(publicKeyLine: t.sshd.hostPublicKey))
        let asked = ExecRecorder()  // used here as a thread-safe list of questions
        let no = HostKeyTrust(acceptNew: false, interactive: true, ask: { asked.record($0); return false })
        let registry = PodRegistry(locations: t.locations)
        #expect(throws: CCPodError.self) { try registry.add(t.settings(), makeDefault: true, trust: no) }
        #expect(asked.commands.first?.contains(key.fingerprint) == true)
        #expect(asked.commands.first?.contains("(y/N)") == true)
        #expect(!FileManager.default.fileExists(atPath: t.locations.configFile.path))
        let yes = HostKeyTrust(acceptNew: false, interactive: true, ask: { _ in true })
        let outcome = try registry.add(t.settings(), makeDefault: true, trust: yes)
        #expect(outcome.learned.how == "confirmed")
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys() == [key])
    }
}
