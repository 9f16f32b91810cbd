import Foundation
import Testing
@testable import CCPodKit
import CCPodTestSupport

@Suite struct PodAddressProbeParsingTests {
    static let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7yQ6nS8y3hGvJq1J3oQ3g1r0m5dA8mY2d8vGkQJ5cN"

    @Test func parsesExportQuotedAndBareLines() throws {
        let values = PodAddressProbe.parseEnvironment("""
        # comment
        export RUNPOD_PUBLIC_IP="203.0.113.7"
        RUNPOD_TCP_PORT_22=41022
        export  RUNPOD_POD_ID='abc123'
        PATH=/usr/bin:/bin
        not a line
        """)
        #expect(values["RUNPOD_PUBLIC_IP"] == "203.0.113.7")
        #expect(values["RUNPOD_TCP_PORT_22"] == "41022")
        #expect(values["RUNPOD_POD_ID"] == "abc123")
    }

    @Test func parsesTheTaggedAnswer() throws {
        let probe = PodAddressProbe()
        let endpoint = try probe.parse("E export RUNPOD_PUBLIC_IP=203.0.113.7\nE export RUNPOD_TCP_PORT_22=\"41022\"\nE RUNPOD_POD_ID=abc\nK \(Self.key) root@pod\n")
        #expect(endpoint == DiscoveredEndpoint(host: "203.0.113.7", port: 41022, hostKey: Self.key, podId: "abc"))
    }

    @Test(arguments: [
        "",                                                                       // nothing readable
        "E RUNPOD_TCP_PORT_22=41022\nK \(key)",                                   // no IP
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nK \(key)",                               // no port
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=0\nK \(key)",       // port out of range
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=70000\nK \(key)",
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=22x\nK \(key)",
        "E RUNPOD_PUBLIC_IP=-oProxyCommand=x\nE RUNPOD_TCP_PORT_22=22\nK \(key)", // option smuggling
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=22",                // no key
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=22\nK ssh-ed25519 notbase64!",
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=22\nK ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIE7yQ6nS8y3hGvJq1J3oQ3g1r0m5dA8mY2d8vGkQJ5cN",
        "E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=22\nK cat: no such file",
    ])
    func garbageIsBadData(answer: String) {
        #expect {
            try PodAddressProbe().parse(answer)
        } throws: { ($0 as? CCPodError)?.status == .badData }
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "needs an OpenSSH server (apt-get install openssh-server)"))
struct PodAddressProbeTests {
    @Test func learnsTheNewPortAndHostKeyAfterARestart() throws {
        let direct = try LoopbackSSHD()
        defer { direct.shutdown() }
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let pod = try PodRestartSimulation(direct: direct, proxy: proxy, podId: "pod42")
        let oldPort = direct.port, oldKey = direct.hostPublicKey
        try pod.restart()
        #expect(direct.port != oldPort)
        #expect(direct.hostPublicKey != oldKey)

        let probe = PodAddressProbe(paths: proxy.podPaths)
        let found = try probe.probe(through: try proxy.controlChannel())
        #expect(found.host == "127.0.0.1")
        #expect(found.port == direct.port)
        #expect(found.hostKey == direct.hostPublicKey)
        #expect(found.podId == "pod42")

        // The learned key is enough for a strict ssh to the new port.
        let knownHosts = proxy.podFolder.appendingPathComponent("known_hosts_direct").path
        try "[\(found.host)]:\(found.port) \(found.hostKey!)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let r = try ChildProcess.run("/usr/bin/ssh", direct.clientOptions(knownHosts: knownHosts) + ["\(direct.user)@127.0.0.1", "echo", "reached"])
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(r.stdoutText == "reached\n")
    }

    @Test func filesWithoutFinalNewlineAndPathsWithSpacesAreRead() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let folder = proxy.podFolder.appendingPathComponent("it's here", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let env = folder.appendingPathComponent("rp env").path
        let key = folder.appendingPathComponent("host key.pub").path
        try "RUNPOD_PUBLIC_IP=203.0.113.7\nRUNPOD_TCP_PORT_22=41999".write(toFile: env, atomically: true, encoding: .utf8)
        try PodAddressProbeParsingTests.key.write(toFile: key, atomically: true, encoding: .utf8)
        let found = try PodAddressProbe(environmentFile: env, hostKeyFile: key).probe(through: try proxy.controlChannel())
        #expect(found == DiscoveredEndpoint(host: "203.0.113.7", port: 41999, hostKey: PodAddressProbeParsingTests.key, podId: nil))
    }

    @Test func garbageFromThePodChangesNothing() throws {
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        try "export RUNPOD_PUBLIC_IP=127.0.0.1\nexport RUNPOD_TCP_PORT_22=99999\n".write(toFile: proxy.environmentFile, atomically: true, encoding: .utf8)
        try "ssh-ed25519 garbage\n".write(toFile: proxy.hostKeyFile, atomically: true, encoding: .utf8)
        #expect {
            try PodAddressProbe(paths: proxy.podPaths).probe(through: try proxy.controlChannel())
        } throws: { ($0 as? CCPodError)?.status == .badData }
    }
}
