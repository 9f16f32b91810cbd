import Testing
import CCPodKit
@testable import CCPodKit

@Test func locationsFollowXDG() {
    let l = CCPodLocations.resolve(environment: ["HOME": "/h", "XDG_STATE_HOME": "/s"])
    #expect(l.stateDir.path == "/s/ccpod")
    #expect(l.configDir.path == "/h/.config/ccpod")
}

import CCPodTestSupport
import Foundation

@Test(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)")) func loopbackSSHDAcceptsTheTestKey() throws {
    let sshd = try LoopbackSSHD()
    defer { sshd.shutdown() }
    let kh = try sshd.writeKnownHosts()
    let r = try ChildProcess.run("/usr/bin/ssh", sshd.clientOptions(knownHosts: kh) + ["\(sshd.user)@127.0.0.1", "echo", "hello"])
    #expect(r.status == 0)
    #expect(r.stdoutText == "hello\n")
}
