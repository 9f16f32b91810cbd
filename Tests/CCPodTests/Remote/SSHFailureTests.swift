import CCPodKit
import Foundation
import Testing

@Suite struct SSHFailureTests {
    @Test(arguments: [
        ("ssh: connect to host 203.0.113.7 port 41022: Connection refused\r\n", SSHFailure.connectionRefused),
        ("ssh: connect to host 203.0.113.7 port 41022: Connection timed out\r\n", .unreachable),
        ("ssh: connect to host 203.0.113.7 port 41022: No route to host\r\n", .unreachable),
        ("ssh: Could not resolve hostname nope.invalid: Name or service not known\r\n", .unreachable),
        ("root@127.0.0.1: Permission denied (publickey).\r\n", .authenticationRefused),
        ("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n", .hostKeyChanged),
        ("No ED25519 host key is known for gpu and you have requested strict checking.\r\nHost key verification failed.\r\n", .hostKeyUnknown),
        ("Connection closed by 127.0.0.1 port 22\r\n", .connectionLost),
        ("kex_exchange_identification: read: Connection reset by peer\r\n", .connectionLost),
        ("", .connectionLost),
    ])
    func classifiesSSHErrors(stderr: String, expected: SSHFailure) {
        #expect(SSHConnection.classify(status: 255, stderr: stderr) == expected)
    }

    @Test func otherStatusesAreTheRemoteCommands() {
        #expect(SSHConnection.classify(status: 1, stderr: "Connection refused") == nil)
        #expect(SSHConnection.classify(status: 255, stderr: "agent: bad frame\n") == nil)
    }

    @Test func explanationsNameTheFix() throws {
        let locations = CCPodLocations(configDir: URL(fileURLWithPath: "/nonexistent/c"), stateDir: URL(fileURLWithPath: "/nonexistent/s"))
        let ssh = try SSHConnection(settings: PodSettings(name: "gpu", direct: SSHEndpoint(user: "root", host: "203.0.113.7", port: 41022)),
                                    locations: locations)
        #expect(ssh.explain(.connectionRefused).message.contains("ccpod check --pod gpu"))
        #expect(ssh.explain(.hostKeyChanged).message.contains("/nonexistent/s/known_hosts/gpu"))
        #expect(ssh.explain(.hostKeyChanged).message.contains("ccpod pod trust gpu"))
        #expect(ssh.explain(.unreachable).message.contains("root@203.0.113.7:41022"))
        #expect(ssh.explain(.authenticationRefused).status == .unavailable)
    }

    @Test func aLongStateDirFallsBackToAShortControlPath() throws {
        let long = "/tmp/" + String(repeating: "d", count: 80)
        let locations = CCPodLocations(configDir: URL(fileURLWithPath: long + "/c"), stateDir: URL(fileURLWithPath: long + "/s"))
        let ssh = try SSHConnection(settings: PodSettings(name: "gpu", direct: SSHEndpoint(user: "root", host: "h")), locations: locations)
        #expect(ssh.controlDirectory == SSHConnection.sharedControlDirectory)
        #expect(ssh.controlPath.utf8.count + 17 < 104)
        let short = CCPodLocations(configDir: URL(fileURLWithPath: "/s/c"), stateDir: URL(fileURLWithPath: "/s/state"))
        let ssh2 = try SSHConnection(settings: PodSettings(name: "gpu", direct: SSHEndpoint(user: "root", host: "h")), locations: short)
        #expect(ssh2.controlPath == "/s/state/cm/" + ssh2.target.controlIdentity)
        #expect(ssh2.target.controlIdentity.count == SSHTarget.controlIdentityLength)
    }

    @Test func shellQuoting() {
        #expect(ShellQuote.quote("/workspace") == "/workspace")
        #expect(ShellQuote.quote("a b") == "'a b'")
        #expect(ShellQuote.quote("it's") == "'it'\\''s'")
        #expect(ShellQuote.quote("") == "''")
        #expect(ShellQuote.quote("$HOME") == "'$HOME'")
    }
}
