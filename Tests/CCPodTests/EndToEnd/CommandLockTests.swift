import CCPodKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real binary against a lock this test holds: `--no-wait` exits 75 naming the
/// holder; without it, ccpod waits, says whom for, and goes on once it is free.
@Suite(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
struct CommandLockTests {
    @Test func aSecondCcpodWaitsForTheFirstOrExits75() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-lk-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        let claude = root.appendingPathComponent("claude")
        try FileManager.default.createDirectory(at: claude.appendingPathComponent("projects/-x"), withIntermediateDirectories: true)
        try Data("{\"type\":\"user\",\"sessionId\":\"s\"}\n".utf8)
            .write(to: claude.appendingPathComponent("projects/-x/7f2e1c3a-5b6d-4e8f-9a0b-1c2d3e4f5a6b.jsonl"))
        let state = root.appendingPathComponent("state")
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path, "XDG_STATE_HOME": state.path]
        let pod = "local:\(root.path)/pod"
        let args = ["push", "--all", "--pod", pod, "--claude-dir", claude.path, "--busy-seconds", "0"]
        let held = try OperationLock.acquire([.pod(pod)], stateDir: state.appendingPathComponent("ccpod"),
                                             purpose: "syncing with \(pod)")

        let refused = try ChildProcess.run(ClaudeTestPaths.ccpodBinary!.path, args + ["--no-wait"], environment: env)
        #expect(refused.status == 75)
        #expect(refused.stderrText.contains("ccpod pid \(getpid()), syncing with \(pod)"), "\(refused.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: "\(root.path)/pod/root/.claude/projects"), "it worked without the lock")

        // Without --no-wait: it waits, says so, and finishes once the lock is released.
        let done = DispatchSemaphore(value: 0)
        let result = Locked<ChildProcess.Output?>(nil)
        Thread.detachNewThread {
            result.withLock { $0 = try? ChildProcess.run(ClaudeTestPaths.ccpodBinary!.path, args, environment: env) }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 2.5) == .timedOut, "the second ccpod did not wait")
        held.forEach { $0.release() }
        #expect(done.wait(timeout: .now() + 30) == .success)
        let waited = try #require(result.current)
        #expect(waited.status == 0, "\(waited.stderrText)")
        #expect(waited.stderrText.contains("waiting for ccpod pid \(getpid()), syncing with \(pod)"))
        #expect(FileManager.default.fileExists(atPath: "\(root.path)/pod/root/.claude/projects/-x/7f2e1c3a-5b6d-4e8f-9a0b-1c2d3e4f5a6b.jsonl"))
    }
}

/// The pod's own lock: a ccpod with a state dir of its own (another laptop) waits
/// while another agent works on the pod's Claude dir.
@Suite(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
struct PodLockTests {
    @Test func anAgentWaitsForTheOneWorkingOnThePod() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-pl-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        let claude = root.appendingPathComponent("claude")
        let session = "projects/-x/7f2e1c3a-5b6d-4e8f-9a0b-1c2d3e4f5a6b.jsonl"
        try FileManager.default.createDirectory(at: claude.appendingPathComponent("projects/-x"), withIntermediateDirectories: true)
        try Data("{\"type\":\"user\",\"sessionId\":\"s\"}\n".utf8).write(to: claude.appendingPathComponent(session))
        let podState = root.appendingPathComponent("pod/workspace/claude-sessions/.ccpod")
        try FileManager.default.createDirectory(at: podState, withIntermediateDirectories: true)
        // Another agent holds the pod's lock for 3 s (flock, as the agent takes it).
        let holder = try ChildProcess.spawn("/bin/sh", ["-c", "exec 9>>\"$1\"; flock 9; touch \"$1.held\"; sleep 3", "sh",
                                                        podState.appendingPathComponent("agent.lock").path])
        let held = podState.appendingPathComponent("agent.lock.held").path
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: held) && Date() < deadline { usleep(20_000) }
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": root.appendingPathComponent("other-laptop-state").path]
        let started = Date()
        let out = try ChildProcess.run(ClaudeTestPaths.ccpodBinary!.path,
                                       ["push", "--all", "--pod", "local:\(root.path)/pod", "--claude-dir", claude.path, "--busy-seconds", "0"],
                                       environment: env)
        let took = Date().timeIntervalSince(started)
        _ = holder.wait()
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(took >= 2, "the agent did not wait for the pod's lock (took \(took) s)")
        #expect(FileManager.default.fileExists(atPath: "\(root.path)/pod/root/.claude/\(session)"))
    }
}
