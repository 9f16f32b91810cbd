import Foundation
import Testing
@testable import CCPodKit
import CCPodTestSupport

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "needs an OpenSSH server (apt-get install openssh-server)"))
struct ProxyControlChannelTests {
    @Test func proxyRefusesClientsWithoutPTY() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let kh = try proxy.sshd.writeKnownHosts()
        let r = try ChildProcess.run("/usr/bin/ssh", proxy.clientOptions(knownHosts: kh) + ["-T", proxy.target, "echo", "hello"])
        #expect(r.status != 0)
        #expect((r.stdoutText + r.stderrText).contains(ProxyHarness.noPTYMessage))
        #expect(!r.stdoutText.contains("hello"))
    }

    @Test(arguments: ["bash", "sh"])
    func readsTheAnswerBetweenMarkers(shell: String) throws {
        let proxy = try ProxyHarness(mode: .shell(shell))
        defer { proxy.shutdown() }
        let channel = try proxy.controlChannel()
        let reply = try channel.execute("echo first; printf 'a\\tb\\n'; echo 'CCPOD- BEGIN-x'; printf 'no newline'", timeout: .seconds(20))
        #expect(reply.output == "first\na\tb\nCCPOD- BEGIN-x\nno newline")
        #expect(reply.status == 0)
        let failing = try channel.execute("echo out; false", timeout: .seconds(20))
        #expect(failing.output == "out\n")
        #expect(failing.status == 1)
    }

    @Test func typedAheadCommandSurvivesASlowShellStart() throws {
        let proxy = try ProxyHarness(mode: .slowShell("bash", seconds: 2))
        defer { proxy.shutdown() }
        let reply = try proxy.controlChannel().execute("echo late; printf '%s\\n' \"$0\"", timeout: .seconds(20))
        #expect(reply.output == "late\nbash\n")
    }

    @Test func silentProxyTimesOutAndTheChildIsKilled() throws {
        let proxy = try ProxyHarness(mode: .silent)
        defer { proxy.shutdown() }
        let channel = try proxy.controlChannel(timeout: .seconds(3))
        let clock = ContinuousClock()
        let started = clock.now
        #expect {
            try channel.run("echo hi")
        } throws: { error in
            guard let e = error as? CCPodError else { return false }
            return e.status == .unavailable && e.message.contains("did not answer within 3 s")
        }
        #expect(clock.now - started < .seconds(8))
        #if os(Linux)
        #expect(sshClients(port: proxy.sshd.port).isEmpty)
        #endif
    }

    @Test func unknownProxyHostKeyIsRefusedEvenIfTheCallerAsksOtherwise() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let other = try LoopbackSSHD()
        defer { other.shutdown() }
        // known_hosts pins another server's key for the proxy's address.
        let knownHosts = proxy.podFolder.appendingPathComponent("known_hosts_wrong").path
        try "[127.0.0.1]:\(proxy.sshd.port) \(other.hostPublicKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let channel = ProxyControlChannel(
            ssh: ["/usr/bin/ssh", "-o", "StrictHostKeyChecking=no"] + proxy.clientOptions(knownHosts: knownHosts),
            target: proxy.target, knownHostsFile: knownHosts, timeout: .seconds(10))
        #expect {
            try channel.run("echo hi")
        } throws: { error in
            guard let e = error as? CCPodError else { return false }
            return e.status == .unavailable && e.message.contains("host key")
        }
    }

    @Test func escapeSequencesAreStripped() {
        let raw = Array("\u{1b}]0;title\u{07}\u{1b}[1;32mgreen\u{1b}[0m\r\n\u{1b}[?2004lplain\u{1b}(B\r\n".utf8)
        #expect(ProxyControlChannel.clean(raw) == "green\nplain\n")
    }

    @Test func multiLineCommandsAreRefused() throws {
        let channel = ProxyControlChannel(ssh: ["ssh"], target: "u@h", knownHostsFile: "/dev/null")
        #expect(throws: CCPodError.self) { try channel.run("echo a\necho b", timeout: .seconds(1)) }
    }
}

#if os(Linux)
/// Live `ssh` processes whose command line names this port.
func sshClients(port: Int) -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid -> String? in
        guard Int(pid) != nil, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let first = args.first, first.hasSuffix("ssh"), args.contains(String(port)) else { return nil }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z" { return nil }
        return pid
    }
}
#endif
