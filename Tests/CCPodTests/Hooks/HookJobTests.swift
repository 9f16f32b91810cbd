import CCPodKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The hook's background job: it waits for Claude to let go of the session, and a
/// command that runs too long is ended at the time limit.
@Suite struct HookJobTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-hookjob-\(UUID().uuidString.prefix(8))")

    @Test("A command past the time limit is ended and the log says so")
    func timeLimit() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let log = HookLog(stateDir: root)
        let job = HookJob(log: log, claudeDir: nil, sessionId: nil, timeLimit: 1)
        let status = job.run(label: "session-end x", "/bin/sh", ["-c", "sleep 30"])
        #expect(status == 128 + SIGTERM)
        #expect(log.tail().contains("hook: session-end x: stopped after the time limit of 1 s"), "\(log.tail())")
    }

    @Test("The command starts only once the session's claude has ended (its sessions/<pid>.json names a live process)")
    func waitsForRelease() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // A process that is not our child (so it is gone, not a zombie, when it ends) stands for claude.
        let started = try ChildProcess.run("/bin/sh", ["-c", "sleep 1.5 >/dev/null 2>&1 & echo $!"])
        let pid = try #require(Int32(started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let claudeDir = root.appendingPathComponent("claude")
        let id = UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(at: claudeDir.appendingPathComponent("sessions"), withIntermediateDirectories: true)
        try Data("{\"pid\":\(pid),\"sessionId\":\"\(id)\"}".utf8).write(to: claudeDir.appendingPathComponent("sessions/\(pid).json"))
        let job = HookJob(log: HookLog(stateDir: root), claudeDir: claudeDir, sessionId: id, timeLimit: 60)
        #expect(job.run(label: "session-end \(id)", "/bin/true", []) == 0)
        #expect(kill(pid, 0) != 0, "the job ran while the session's claude was still running")
    }
}
