import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The connection to a real sshd is cut in the middle of a push or a pull (a relay
/// that drops after N bytes); the rerun converges, every line exactly once.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
struct ConnectionCutTests {
    static func session(_ n: Int) -> String { String(format: "%08d-1111-4222-8333-444444444444", n) }

    @Test func cutsMidStreamLeaveBothSidesValidAndTheRerunCompletes() throws {
        let pod = try SSHTestPod()
        defer { withExtendedLifetime(pod) {} }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let relay = try TCPRelay(targetPort: pod.sshd.port)
        defer { relay.stop() }
        var settings = pod.settings(port: relay.port)
        settings.paths = PodPaths(claudeDir: bed.podClaude, persistentDir: bed.podRoot + "/workspace/claude-sessions",
                                  workspace: bed.podRoot + "/workspace")
        _ = try PodRegistry(locations: pod.locations).add(settings, makeDefault: false, trust: SSHTestPod.acceptNew)
        let connection = try pod.connection()
        bed.connection = connection
        let sessions = 8
        var next = [Int](repeating: 0, count: sessions)
        func grow(_ side: String, _ tag: String) throws {
            for n in 0..<sessions {
                let lines = SyncTestBed.lines(session: Self.session(n), count: 60, start: next[n], text: tag + String(repeating: "y", count: 300))
                try SyncTestBed.append(lines, to: side == "local" ? bed.localTranscript(Self.session(n)) : bed.podTranscript(Self.session(n)))
                next[n] += 60
            }
        }
        for n in 0..<sessions {
            try SyncTestBed.write(Data(), to: bed.localTranscript(Self.session(n)))
        }
        try grow("local", "start")
        try bed.run(.push)
        func converged(_ note: String) {
            for n in 0..<sessions {
                let local = SyncTestBed.read(bed.localTranscript(Self.session(n)))
                let remote = SyncTestBed.read(bed.podTranscript(Self.session(n)))
                #expect(local == remote, "session \(n) differs after \(note)")
                #expect(local.last == 0x0A)
            }
        }
        converged("the first push")
        // Calibrate: the bytes one round of growth costs each way, on a fresh connection.
        connection.closeMaster()
        try grow("local", "calibrate-up")
        relay.resetCounters()
        try bed.run(.push)
        let upBytes = relay.bytesUpstream
        connection.closeMaster()
        try grow("pod", "calibrate-down")
        relay.resetCounters()
        try bed.run(.pull)
        let downBytes = relay.bytesDownstream
        converged("calibration")
        for fraction in [0.3, 0.6, 0.9] {
            for direction in [SyncOptions.Direction.push, .pull] {
                connection.closeMaster()
                try grow(direction == .push ? "local" : "pod", "\(direction)-\(fraction)")
                relay.cut = direction == .push ? .afterUpstreamBytes(Int(Double(upBytes) * fraction))
                                                : .afterDownstreamBytes(Int(Double(downBytes) * fraction))
                #expect(throws: CCPodError.self, "\(direction) cut at \(fraction)") { try bed.run(direction) }
                relay.cut = nil
                connection.closeMaster()
                try bed.run(direction)
                converged("\(direction) cut at \(Int(fraction * 100))%")
            }
        }
    }
}
