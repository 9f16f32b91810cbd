import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod hooks install|uninstall|status` on real files, and the hook Claude runs, as the
/// built binary.
@Suite struct HooksCommandTests {
    let root: URL
    let claudeDir: URL
    var settings: URL { claudeDir.appendingPathComponent("settings.json") }
    var env: [String: String] {
        ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
         "CLAUDE_CONFIG_DIR": claudeDir.path,
         "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
         "XDG_STATE_HOME": root.appendingPathComponent("state").path]
    }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-hooks-\(UUID().uuidString.prefix(8))")
        claudeDir = root.appendingPathComponent("claude")
        try FileManager.default.createDirectory(at: claudeDir, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    @Test("install, install again, uninstall: the file is byte-identical and keeps its mode")
    func installUninstall() throws {
        defer { remove() }
        let original = Data("{\n  \"model\": \"opus\",\n  \"hooks\": {\n    \"SessionEnd\": [ { \"hooks\": [ { \"type\": \"command\", \"command\": \"say bye\" } ] } ]\n  }\n}\n".utf8)
        try original.write(to: settings)
        chmod(settings.path, 0o640)
        try runCCPod(["hooks", "install"], env)
        let installed = try Data(contentsOf: settings)
        #expect(installed != original)
        try runCCPod(["hooks", "install"], env)
        #expect(try Data(contentsOf: settings) == installed, "a second install changed the file")
        let text = String(decoding: installed, as: UTF8.self)
        #expect(text.components(separatedBy: "hook session-end").count == 2)
        #expect(text.range(of: "say bye")!.lowerBound < text.range(of: "hook session-end")!.lowerBound)
        var info = stat()
        stat(settings.path, &info)
        #expect(info.st_mode & 0o777 == 0o640)
        try runCCPod(["hooks", "uninstall"], env)
        #expect(try Data(contentsOf: settings) == original)
        stat(settings.path, &info)
        #expect(info.st_mode & 0o777 == 0o640)
    }

    @Test("A settings file ccpod created goes away on uninstall")
    func createdFile() throws {
        defer { remove() }
        try runCCPod(["hooks", "install", "--pod", "gpu 1"], env)
        let text = String(decoding: try Data(contentsOf: settings), as: UTF8.self)
        #expect(text.contains("CCPOD_POD='gpu 1' "))
        try runCCPod(["hooks", "uninstall"], env)
        #expect(!FileManager.default.fileExists(atPath: settings.path))
    }

    @Test("Settings that are not valid JSON are refused with 65 and left untouched")
    func invalidJSON() throws {
        defer { remove() }
        let broken = Data("{ \"model\": \"opus\", ".utf8)
        try broken.write(to: settings)
        do {
            try runCCPod(["hooks", "install"], env)
            Issue.record("install accepted a broken settings.json")
        } catch let error as CCPodError {
            #expect(error.status == .badData)
            #expect(error.message.contains("not valid JSON"))
        }
        #expect(try Data(contentsOf: settings) == broken)
    }

    /// The hook Claude runs, with a pod that refuses connections: it must return at once,
    /// print nothing, and still leave its marker in the log when the background job ends.
    @Test("The hook returns at once, silently, even when the pod is down",
          .enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func hookReturnsAtOnce() throws {
        defer { remove() }
        let binary = try #require(ClaudeTestPaths.ccpodBinary?.path)
        var config = CCPodConfig()
        config.pods["down"] = PodSettings(name: "down", direct: SSHEndpoint(user: "root", host: "127.0.0.1", port: LoopbackSSHD.freePort()),
                                          sshOptions: ["-F", "/dev/null"])
        try config.save(to: CCPodLocations.resolve(environment: env))
        let project = root.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        let id = UUID().uuidString.lowercased()
        let input = Data("{\"session_id\":\"\(id)\",\"transcript_path\":\"/nowhere.jsonl\",\"cwd\":\"\(project.path)\",\"hook_event_name\":\"SessionEnd\",\"reason\":\"exit\"}".utf8)
        var hookEnv = env
        hookEnv["CCPOD_POD"] = "down"

        let started = Date()
        // ChildProcess.run waits for stdout and stderr to close, as Claude does.
        let output = try ChildProcess.run(binary, ["hook", "session-end"], input: input, environment: hookEnv)
        let seconds = Date().timeIntervalSince(started)
        print("ccpod hook session-end returned in \(String(format: "%.3f", seconds)) s")
        #expect(output.status == 0)
        #expect(output.stdout.isEmpty && output.stderr.isEmpty, "printed: \(output.stdoutText + output.stderrText)")
        #expect(seconds < 1, "the hook took \(seconds) s")

        let log = HookLog(stateDir: CCPodLocations.resolve(environment: env).stateDir)
        let deadline = Date().addingTimeInterval(60)
        while !log.tail().contains("session-end \(id): finished"), Date() < deadline { usleep(100_000) }
        let text = log.tail()
        #expect(text.contains("session-end \(id): started `ccpod sync --busy-seconds 0 --session \(id) --project \(project.path)`"), "log:\n\(text)")
        // 69 (unreachable) or 68 (and no way to find it again): the sync ran and failed.
        #expect(text.contains("session-end \(id): finished with exit 6"), "log:\n\(text)")

        // Garbage on stdin: still exit 0, silent.
        let garbage = try ChildProcess.run(binary, ["hook", "session-end"], input: Data("{not json".utf8), environment: hookEnv)
        #expect(garbage.status == 0 && garbage.stdout.isEmpty && garbage.stderr.isEmpty)
    }
}

/// `--where pod` on a `local:` pod: the pod's Claude gets a SessionEnd hook that records
/// the session that ended; the laptop reports it; a push of settings.json keeps the pod's
/// hook and never carries the laptop's.
@Suite struct PodHooksTests {
    @Test("install --where pod, the pod's hook records an ended session, push keeps it, uninstall restores the pod's settings")
    func podHook() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-podhooks-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let podRoot = root.appendingPathComponent("pod").path
        let claudeDir = root.appendingPathComponent("claude")
        let project = root.appendingPathComponent("project")
        for dir in [podRoot + "/root/.claude", podRoot + "/workspace", claudeDir.path, project.path] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                   "CLAUDE_CONFIG_DIR": claudeDir.path,
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        let pod = "local:\(podRoot)"
        let podSettings = podRoot + "/root/.claude/settings.json"
        let original = Data("{\"theme\": \"dark\"}\n".utf8)
        try original.write(to: URL(fileURLWithPath: podSettings))

        try runCCPod(["hooks", "install", "--where", "pod", "--pod", pod], env)
        let installed = String(decoding: SyncTestBed.read(podSettings), as: UTF8.self)
        let script = podRoot + "/workspace/claude-sessions/.ccpod/ccpod-hook.sh"
        #expect(installed.contains("\"command\": \"sh \(script) hook session-end\""), "\(installed)")
        #expect(FileManager.default.fileExists(atPath: script))

        // What Claude on the pod does when a session ends.
        let id = UUID().uuidString.lowercased()
        let hookInput = Data("{\"session_id\":\"\(id)\",\"cwd\":\"/workspace/x\",\"hook_event_name\":\"SessionEnd\"}".utf8)
        let ran = try ChildProcess.run("sh", ["-c", "sh \(script) hook session-end"], input: hookInput)
        #expect(ran.status == 0 && ran.stdout.isEmpty && ran.stderr.isEmpty)
        let bad = try ChildProcess.run("sh", ["-c", "sh \(script) hook session-end"], input: Data("{\"session_id\":\"$(reboot)\"}".utf8))
        #expect(bad.status == 0)
        let hooks = PodHooks(connection: LocalConnection(root: podRoot), podName: pod)
        #expect(try hooks.endedSessions().map(\.sessionId) == [id])

        // The laptop's settings (with the laptop's hooks) pushed: the pod keeps its own hook only.
        try runCCPod(["hooks", "install"], env)
        try runCCPod(["push", "--pod", pod, "--project", project.path], env)
        let pushed = String(decoding: SyncTestBed.read(podSettings), as: UTF8.self)
        #expect(pushed.contains("hook session-end") && pushed.contains(script), "\(pushed)")
        #expect(!pushed.contains("hook session-start"), "the laptop's hook reached the pod:\n\(pushed)")
        // `ccpod status` says so in one line.
        if let binary = ClaudeTestPaths.ccpodBinary?.path {
            let status = try ChildProcess.run(binary, ["status", "--pod", pod, "--project", project.path], environment: env)
            #expect(status.stdoutText.contains("hooks: installed (SessionStart, SessionEnd)"), "\(status.stdoutText) \(status.stderrText)")
            // The next sync says which sessions ended on the pod, once.
            let synced = try ChildProcess.run(binary, ["sync", "--pod", pod, "--project", project.path], environment: env)
            #expect(synced.stderrText.contains("on the pod, Claude ended 1 session since the last sync (\(id))"), "\(synced.stderrText)")
            #expect(try hooks.endedSessions().isEmpty)
            let again = try ChildProcess.run(binary, ["sync", "--pod", pod, "--project", project.path], environment: env)
            #expect(!again.stderrText.contains("Claude ended"), "\(again.stderrText)")
        }
        try runCCPod(["hooks", "uninstall"], env)

        try original.write(to: URL(fileURLWithPath: podSettings))
        try runCCPod(["hooks", "install", "--where", "pod", "--pod", pod], env)
        try runCCPod(["hooks", "uninstall", "--where", "pod", "--pod", pod], env)
        #expect(SyncTestBed.read(podSettings) == original)
        #expect(!FileManager.default.fileExists(atPath: script))
    }

    @Test("What the pod passes on about ended sessions is checked field by field")
    func endedWarnings() {
        let id = "1ac2ee2d-ec12-448e-9538-9bc0d075fd28"
        #expect(PodHooks.endedWarning("pod: hook-ended \(id) 2026-12-06T08:05:00Z") == PodHooks.Ended(time: "2026-12-06T08:05:00Z", sessionId: id))
        for bad in ["pod: hook-ended \(id)", "pod: hook-ended ../../etc 2026-12-06T08:05:00Z", "pod: hook-ended \(id) \u{1b}[2J",
                    "pod: hook-ended \(id) 2026 extra", "pod: autostop-note x", "hook-ended \(id) " + String(repeating: "1", count: 40)] {
            #expect(PodHooks.endedWarning(bad) == nil, "\(bad)")
        }
        let many = (0..<7).map { _ in PodHooks.Ended(time: "t", sessionId: UUID().uuidString.lowercased()) }
        #expect(PodHooks.sentence(many).contains("and 2 more"))
    }

    @Test("What a pod gets of settings.json: no laptop hooks, the pod's own added")
    func forPod() throws {
        let laptop = try #require(HookSettingsPlan.install(Data("{\"a\": 1}".utf8), commands: HookSettingsPlanTests.commands, origin: "s").result)
        let plain = HookSettingsPlan.forPod(laptop, podCommand: nil)
        #expect(try HookSettingsPlan.installed(plain, origin: "s").isEmpty)
        #expect((try JSONSerialization.jsonObject(with: plain) as? [String: Any])?["a"] as? Int == 1)
        let withPod = HookSettingsPlan.forPod(laptop, podCommand: "sh /w/.ccpod/ccpod-hook.sh hook session-end")
        #expect(try HookSettingsPlan.installed(withPod, origin: "s") == [.sessionEnd])
        #expect(String(decoding: withPod, as: UTF8.self).contains("/w/.ccpod/ccpod-hook.sh"))
        #expect(HookSettingsPlan.forPod(Data("not json".utf8), podCommand: "x") == Data("not json".utf8))
    }
}
