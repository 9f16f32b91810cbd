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
        let terminal = try RealClaude.Screen(label: "resume", directory: bed.project, claudeDir: bed.claude,
                                             home: bed.env["HOME"] ?? bed.project, arguments: ["resume", "quokka"],
                                             environment: bed.env.merging(["CCPOD_CLAUDE_BIN": RealClaude.binary!]) { $1 },
                                             executable: ClaudeTestPaths.ccpodBinary!.path)
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
