import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The hooks with the real Claude Code: installed with `ccpod hooks install`, a session is
/// resumed and ended with /exit; the SessionEnd hook's background sync leaves its marker in
/// the hook log and the session's lines on a pod behind a real sshd; uninstall gives the
/// settings file back byte for byte.
@Suite("The real Claude Code runs ccpod's hooks",
       .enabled(if: RealClaude.available && LoopbackSSHD.isAvailable && ClaudeTestPaths.ccpodBinary != nil,
                "needs the real Claude Code, tmux, sshd and the built ccpod binary"))
struct HooksRealClaudeTests {
    @Test("SessionEnd syncs the ended session to the pod; uninstall restores settings.json")
    func sessionEndSyncs() async throws {
        let sshPod = try SSHTestPod()
        let bed = try ResumeBed()
        defer { bed.remove() }
        let binary = try #require(ClaudeTestPaths.ccpodBinary?.path)
        let podClaude = bed.root.appendingPathComponent("ssh-pod/claude").path
        var settings = sshPod.settings()
        settings.paths = PodPaths(claudeDir: podClaude, persistentDir: bed.root.appendingPathComponent("ssh-pod/persist").path,
                                  workspace: bed.root.appendingPathComponent("ssh-pod/workspace").path)
        _ = try PodRegistry(locations: sshPod.locations, recorder: sshPod.recorder).add(settings, makeDefault: false, trust: SSHTestPod.acceptNew)
        // What ccpod reads, in claude's environment and in ours.
        let ccpodEnv = ["XDG_CONFIG_HOME": sshPod.root.appendingPathComponent("config").path,
                        "XDG_STATE_HOME": sshPod.root.appendingPathComponent("state").path]
        let env = ccpodEnv.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": bed.home,
                                    "CLAUDE_CONFIG_DIR": bed.laptopClaude]) { $1 }

        let title = "Measure the wombat burrow humidity"
        var transcript = TranscriptWriter(sessionId: bed.sessionId, cwd: bed.laptopProject)
        let content = transcript.turn(prompt: title, answer: "The sensor reads 78 percent.")
        try SyncTestBed.write(content, to: bed.laptopTranscript(bed.sessionId))
        let settingsFile = bed.laptopClaude + "/settings.json"
        let original = Data("{\n  \"cleanupPeriodDays\": 90\n}\n".utf8)
        try original.write(to: URL(fileURLWithPath: settingsFile))

        let install = try ChildProcess.run(binary, ["hooks", "install", "--pod", "gpu"], environment: env)
        #expect(install.status == 0, "install: \(install.stderrText)")

        let claude = try RealClaude.Screen(label: "laptop", directory: bed.laptopProject, claudeDir: bed.laptopClaude, home: bed.home,
                                           arguments: ["--resume", bed.sessionId], environment: ccpodEnv)
        defer { claude.stop() }
        let (shown, screen) = await claude.waitFor(timeout: 90) { $0.contains("78 percent") }
        #expect(shown, "claude did not show the resumed session:\n\(screen)")
        let exit = await Self.exitTime(claude)
        #expect(exit != nil, "claude did not exit after /exit:\n\(claude.capture())")

        let log = HookLog(stateDir: CCPodLocations.resolve(environment: env).stateDir)
        let deadline = Date().addingTimeInterval(90)
        // The SessionEnd job's last line (SessionStart's pull writes its own lines too).
        func ended(_ text: String) -> [Substring] {
            text.split(separator: "\n").filter { $0.contains("hook: session-end ") && $0.contains(": finished with exit") }
        }
        while ended(log.tail()).isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        let text = log.tail()
        #expect(ended(text).count == 1 && ended(text).allSatisfy { $0.contains("finished with exit 0") }, "log:\n\(text)")
        #expect(text.contains("hook: session-start "), "log:\n\(text)")
        let podSlugDir = podClaude + "/projects/" + ProjectSlug.of(bed.laptopProject)
        let onPod = SyncTestBed.transcripts(in: podSlugDir).map { SyncTestBed.read(podSlugDir + "/" + $0) }
        #expect(onPod.contains { $0.starts(with: content) }, "pod has \(onPod.count) transcripts; log:\n\(text)")

        let uninstall = try ChildProcess.run(binary, ["hooks", "uninstall"], environment: env)
        #expect(uninstall.status == 0, "uninstall: \(uninstall.stderrText)")
        #expect(SyncTestBed.read(settingsFile) == original, "settings.json:\n\(String(decoding: SyncTestBed.read(settingsFile), as: UTF8.self))")

        // The same exit without hooks, for the delay the hook adds.
        let plain = try RealClaude.Screen(label: "plain", directory: bed.laptopProject, claudeDir: bed.laptopClaude, home: bed.home,
                                          arguments: ["--resume", bed.sessionId], environment: ccpodEnv)
        defer { plain.stop() }
        _ = await plain.waitFor(timeout: 90) { $0.contains("78 percent") }
        let baseline = await Self.exitTime(plain)
        print("claude exit after /exit: with ccpod's hooks \(exit.map { String(format: "%.3f", $0) } ?? "-") s, "
            + "without \(baseline.map { String(format: "%.3f", $0) } ?? "-") s")
    }

    /// Types /exit and returns how long claude took to end (nil: it did not, in 30 s).
    static func exitTime(_ claude: RealClaude.Screen) async -> Double? {
        claude.send(["/exit"])
        try? await Task.sleep(for: .milliseconds(300))
        let started = Date()
        claude.send(["Enter"])
        while claude.isRunning {
            if Date().timeIntervalSince(started) > 30 { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return Date().timeIntervalSince(started)
    }
}
