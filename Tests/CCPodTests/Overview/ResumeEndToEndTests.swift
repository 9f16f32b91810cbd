import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod resume` for real: the built binary, three pods on real sshd, the bundled real
/// Claude Code in a private tmux server (here) and a stand-in claude in the pod's tmux (`--on`).
@Suite(.enabled(if: LoopbackSSHD.isAvailable && ClaudeTestPaths.ccpodBinary != nil, "needs sshd and the built ccpod"))
struct ResumeEndToEndTests {
    @Test(.enabled(if: RealClaude.available, RealClaude.unavailableReason))
    func aSessionContinuedOnAPodIsPulledAndResumedHereWithItsNewestLine() async throws {
        let bed = try ThreePodBed()
        let sid = UUID().uuidString.lowercased()
        let title = "Calibrate the quokka telescope array"
        var transcript = TranscriptWriter(sessionId: sid, cwd: bed.project)
        let first = transcript.turn(prompt: title, answer: "I will start with the mount alignment.")
        try SyncTestBed.write(first, to: bed.local(sid))
        try bed.ccpod(["push", "--pod", "gpub", "--busy-seconds", "0"])
        try bed.ccpod(["push", "--pod", "gpua", "--busy-seconds", "0"])
        // The conversation went on on gpub.
        let newest = "Realign the secondary mirror by 0.3 degrees"
        try SyncTestBed.append(transcript.turn(prompt: newest, answer: "Mirror realigned; fringes are sharp now."), to: bed.onPod("gpub", sid))
        try RealClaude.prepareConfig(claudeDir: bed.claude, trusted: [bed.project])

        let listing = try bed.everywhere()
        #expect(ThreePodBed.state(listing.json, sid, "gpub") == "ahead-there")
        #expect(ThreePodBed.session(listing.json, sid)?["newest"] as? [String] == ["gpub"])

        // `ccpod resume quokka` in a terminal: it pulls from gpub and becomes claude --resume.
        let terminal = try PrivateTerminal(directory: bed.project, environment: bed.env.merging([
            "CCPOD_CLAUDE_BIN": RealClaude.binary!, "ANTHROPIC_API_KEY": RealClaude.apiKey, "TERM": "xterm-256color",
            "LANG": "C.UTF-8", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        ]) { $1 }, command: [ClaudeTestPaths.ccpodBinary!.path, "resume", "quokka"])
        defer { terminal.stop() }
        let (shown, screen) = await terminal.waitFor(timeout: 90) { $0.contains("Realign the secondary mirror") }
        #expect(shown, "claude did not show the newest line within 90 s. Screen:\n\(screen)")
        let here = String(decoding: SyncTestBed.read(bed.local(sid)), as: UTF8.self)
        #expect(here.contains(newest), "the pod's continuation was not pulled")
        // claude replaced ccpod in the pane: the process resuming the session is claude.
        let ps = try ChildProcess.run("ps", ["-eo", "args"]).stdoutText
        #expect(ps.split(separator: "\n").contains { $0.contains("--resume \(sid)") && !$0.contains("ccpod") })
    }

    @Test(.enabled(if: ChildProcess.exists("tmux") && launchTestBinary != nil, "needs tmux"))
    func onAPodItRunsInCCPodsTmuxWithResumeAndARunningOneIsLeftAlone() async throws {
        let bed = try LaunchTestBed()
        let sid = "5e55e55e-0000-4000-8000-0000000000b1"
        try bed.writeLocalSession(sid, lines: 3)
        try Data("pod_path = \"\(bed.podProject)\"\n".utf8).write(to: URL(fileURLWithPath: bed.localProject + "/.ccpod.toml"))

        let out = try bed.ccpod(["resume", String(sid.prefix(10)), "--on", "gpu"])
        #expect(out.status == 0, "\(out.stderrText)")
        let running = await bed.waitUntil { bed.standInRunning }
        #expect(running, "\(out.stderrText)")
        #expect(bed.podSessions() == [bed.tmuxSession])
        let panes = bed.podTmux(["list-panes", "-a", "-F", "#{pane_pid}"])?.stdoutText ?? ""
        let ps = try ChildProcess.run("ps", ["-eo", "ppid,pid,args"]).stdoutText
        #expect(ps.contains("claude --resume \(sid)"), "no claude --resume \(sid) among the processes; panes \(panes)")
        let log = try String(contentsOfFile: bed.control + "/log", encoding: .utf8)
        #expect(log == "resume \(sid)\n")
        #expect(FileManager.default.fileExists(atPath: bed.claudeDir + "/projects/\(bed.podSlug)/\(sid).jsonl"))

        // Again while it runs: ccpod names it and leaves it alone.
        let again = try bed.ccpod(["resume", sid, "--on", "gpu"])
        #expect(again.status == ExitStatus.busy.rawValue, "\(again.stderrText)")
        #expect(again.stderrText.contains("left alone"))
        #expect(try String(contentsOfFile: bed.control + "/log", encoding: .utf8) == "resume \(sid)\n")
        try bed.release(exitCode: 0)
    }

    @Test func anAmbiguousNameListsTheCandidates() throws {
        let bed = try ThreePodBed()
        for (n, title) in [(1, "Plan the migration"), (2, "Plan the migration (fork)")] {
            let sid = String(format: "%08d-2222-4333-8444-555555555555", n)
            try SyncTestBed.write(bed.lines(sid, count: 2) + ThreePodBed.title(sid, title), to: bed.local(sid))
        }
        let out = try bed.ccpod(["resume", "plan the"], expect: ExitStatus.usage.rawValue)
        #expect(out.stderrText.contains("00000001-2222-4333-8444-555555555555"))
        #expect(out.stderrText.contains("00000002-2222-4333-8444-555555555555"))
        #expect(out.stderrText.contains("(fork)"))
    }
}

/// A command in a pane of a private tmux server (never the user's), its screen readable.
final class PrivateTerminal {
    let socket = "ccpod-rt-\(UUID().uuidString.prefix(10).lowercased())"
    private var panePid: pid_t?

    init(directory: String, environment: [String: String], command: [String]) throws {
        var script = "#!/bin/sh\n"
        for (k, v) in environment.sorted(by: { $0.key < $1.key }) { script += "export \(k)=\(ShellQuote.quote(v))\n" }
        script += "cd \(ShellQuote.quote(directory))\nexec " + command.map(ShellQuote.quote).joined(separator: " ") + "\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket).sh").path
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let out = try ChildProcess.run("tmux", ["-u", "-L", socket, "new-session", "-d", "-x", "160", "-y", "45", "-P", "-F", "#{pane_pid}",
                                                "exec sh \(file)"])
        guard out.status == 0 else { throw CCPodError.failure("tmux: \(out.stderrText)") }
        panePid = pid_t(out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func capture() -> String {
        (try? ChildProcess.run("tmux", ["-L", socket, "capture-pane", "-p", "-t", "0"]))?.stdoutText ?? ""
    }

    func waitFor(timeout: Double, _ done: (String) -> Bool) async -> (ok: Bool, screen: String) {
        let deadline = Date().addingTimeInterval(timeout)
        var screen = capture()
        while !done(screen) {
            if Date() >= deadline { return (false, screen) }
            try? await Task.sleep(for: .milliseconds(500))
            screen = capture()
        }
        return (true, screen)
    }

    func stop() {
        _ = try? ChildProcess.run("tmux", ["-L", socket, "kill-server"])
        // The pane's process (claude, which replaced ccpod) ends with the server, or is made to.
        if let pid = panePid, pid > 0 {
            for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("\(socket).sh").path)
    }
}
