import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod launch` and `ccpod attach` for real: the built binary on a PTY (a pane of a
/// private laptop-side tmux server), ssh -t to the loopback sshd, tmux on the pod (its
/// own server), a stand-in claude.
@Suite(.enabled(if: LoopbackSSHD.isAvailable && launchTestBinary != nil && ChildProcess.exists("tmux"),
                "needs sshd, tmux and the built ccpod"))
struct LaunchTests {
    let sid = "5e55e55e-0000-4000-8000-00000000000a"

    @Test func launchBringsTheLinesHomeExitCodesPassAndARestartIsRepaired() async throws {
        let bed = try LaunchTestBed()
        try bed.writeLocalSession(sid, lines: 3)
        try bed.startInTerminal(["launch", "--pod-path", bed.podProject], tag: "1")
        let running1 = await bed.waitUntil { bed.standInRunning }
        let early1 = running1 ? "" : await bed.waitForExit(tag: "1", timeout: 1).stderr
        #expect(running1, "\(early1)")

        // While Claude runs: the credential is in no command line and on no disk of the pod.
        let ps = try ChildProcess.run("ps", ["-eo", "args"]).stdoutText
        #expect(!ps.contains(bed.secret))
        let grep = try ChildProcess.run("grep", ["-rqF", bed.secret, bed.podDir, bed.control, bed.root.path + "/state"])
        #expect(grep.status == 1, "the credential was found on the pod's disk under \(bed.podDir)")
        // ...but it reached claude.
        let seen = try String(contentsOfFile: bed.control + "/auth-seen", encoding: .utf8)
        #expect(seen.hasPrefix(SHA256Hex.of(Data(bed.secret.utf8))))

        try bed.release(exitCode: 7)
        let first = await bed.waitForExit(tag: "1")
        #expect(first.status == 7, "\(first.stderr)")
        #expect(first.stderr.contains("Claude exited with status 7"))
        let lines = bed.localLines(sid)
        #expect(lines.count == 4)
        #expect(lines.last?.contains("work done on the pod") == true)
        let log = try String(contentsOfFile: bed.control + "/log", encoding: .utf8)
        #expect(log == "continue \(sid)\n")

        // The pod restarts: container disk wiped, persistent dir kept. The next launch repairs it and continues.
        try bed.simulateRestart()
        try bed.startInTerminal(["launch"], tag: "2")  // the pod path is remembered
        let running2 = await bed.waitUntil { bed.standInRunning }
        let early2 = running2 ? "" : await bed.waitForExit(tag: "2", timeout: 1).stderr
        #expect(running2, "\(early2)")
        try bed.release(exitCode: 0)
        let second = await bed.waitForExit(tag: "2")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("setup: projects"))
        #expect(second.stderr.contains("setup: claude"))
        #expect(bed.localLines(sid).count == 5)
        #expect(bed.podSessions().isEmpty)
    }

    @Test func aDroppedConnectionLeavesClaudeRunningAndAttachFindsIt() async throws {
        let bed = try LaunchTestBed()
        try bed.writeLocalSession(sid, lines: 2)
        try bed.startInTerminal(["launch", "--pod-path", bed.podProject], tag: "1")
        #expect(await bed.waitUntil { bed.standInRunning })
        #expect(await bed.waitUntil { bed.podTmux(["list-clients"])?.stdoutText.isEmpty == false })
        guard let master = try bed.masterPid() else { Issue.record("no ssh master"); return }
        kill(master, SIGKILL)
        let dropped = await bed.waitForExit(tag: "1")
        #expect(dropped.status == 69, "\(dropped.stderr)")
        #expect(dropped.stderr.contains("ccpod attach"))
        #expect(bed.podSessions() == [bed.tmuxSession])
        #expect(bed.standInRunning)

        // Detach from a second terminal: launch-style ending says Claude still runs.
        try bed.startInTerminal(["attach"], tag: "2")
        #expect(await bed.waitUntil { bed.podTmux(["list-clients"])?.stdoutText.isEmpty == false })
        _ = bed.podTmux(["detach-client", "-s", bed.tmuxSession])
        let detached = await bed.waitForExit(tag: "2")
        #expect(detached.status == 0, "\(detached.stderr)")
        #expect(detached.stderr.contains("still running on the pod"))

        // Attach again; Claude ends with 3; attach passes it through.
        try bed.startInTerminal(["attach"], tag: "3")
        #expect(await bed.waitUntil { bed.podTmux(["list-clients"])?.stdoutText.isEmpty == false })
        try bed.release(exitCode: 3)
        let ended = await bed.waitForExit(tag: "3")
        #expect(ended.status == 3, "\(ended.stderr)")
        #expect(bed.localLines(sid).count == 3)
        #expect(bed.podSessions().isEmpty)
    }

    @Test func persistAuthStoresItPrivatelyAndForgetAuthRemovesIt() async throws {
        let bed = try LaunchTestBed()
        try bed.startInTerminal(["launch", "--new", "--persist-auth", "--pod-path", bed.podProject], tag: "1")
        #expect(await bed.waitUntil { bed.standInRunning })
        try bed.release(exitCode: 0)
        #expect(await bed.waitForExit(tag: "1").status == 0)
        let file = bed.persistentDir + "/auth.env"
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains(bed.secret))
        // A launch without the variable here still authenticates from the stored file.
        try bed.startInTerminal(["launch"], tag: "2", auth: false)
        #expect(await bed.waitUntil { bed.standInRunning })
        #expect(try String(contentsOfFile: bed.control + "/auth-seen", encoding: .utf8).hasPrefix(SHA256Hex.of(Data(bed.secret.utf8))))
        try bed.release(exitCode: 0)
        #expect(await bed.waitForExit(tag: "2").status == 0)
        let forget = try bed.ccpod(["setup", "--forget-auth"])
        #expect(forget.status == 0)
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test func badInputLeavesNothingBehind() throws {
        let bed = try LaunchTestBed()
        let noMapping = try bed.ccpod(["launch"])
        #expect(noMapping.status == 64)
        #expect(noMapping.stderrText.contains("--pod-path"))
        #expect(noMapping.stderrText.contains("pod_path"))

        let missing = try bed.ccpod(["launch", "--session", "0badbad0-0000-4000-8000-000000000000", "--pod-path", bed.podProject])
        #expect(missing.status == 64)
        #expect(missing.stderrText.contains("no session 0badbad0-0000-4000-8000-000000000000"), "\(missing.stderrText)")
        #expect(bed.podSessions().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: bed.podProject))

        let both = try bed.ccpod(["launch", "--new", "--session", sid])
        #expect(both.status == 64)

        let folder = try bed.ccpod(["launch", "--pod", "local:\(bed.root.path)/x", "--pod-path", "/w"])
        #expect(folder.status == 64)

        let none = try bed.ccpod(["attach"])
        #expect(none.status == 69)
        #expect(none.stderrText.contains("ccpod launch"))
    }
}
