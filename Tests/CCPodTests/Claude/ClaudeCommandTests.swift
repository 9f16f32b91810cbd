import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `ccpod sessions` and `ccpod doctor`, run as the built binary against temporary folders.
@Suite struct ClaudeCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func ccpod(_ args: [String], tmp: ClaudeTempDir, env extra: [String: String] = [:]) throws -> Run {
        let binary = try #require(ClaudeTestPaths.ccpodBinary)
        var env = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": tmp.url.appendingPathComponent("home").path,
            "XDG_STATE_HOME": tmp.url.appendingPathComponent("state").path,
        ]
        for (k, v) in extra { env[k] = v }
        let out = try ChildProcess.run(binary.path, args, environment: env, directory: tmp.url.path)
        return Run(status: out.status, stdout: out.stdoutText, stderr: out.stderrText)
    }

    @Test(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func sessionsJSON() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        var options = SessionFixtures.Options()
        options.summary = "Version flag"
        try SessionFixtures.writeSession(in: config, projectPath: "/work/app", sessionId: "s-1", lines: 10, options: options)
        options.summary = nil
        options.entrypoint = "sdk-py"
        try SessionFixtures.writeSession(in: config, projectPath: "/work/other", sessionId: "s-2", lines: 6, options: options)

        let r = try Self.ccpod(["sessions", "--all", "--json", "--claude-dir", config.path], tmp: tmp)
        #expect(r.status == 0, "\(r.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 2)
        let byId = Dictionary(uniqueKeysWithValues: array.map { ($0["id"] as! String, $0) })
        #expect(byId["s-1"]?["title"] as? String == "Version flag")
        #expect(byId["s-1"]?["project"] as? String == "/work/app")
        #expect(byId["s-1"]?["hiddenFromPicker"] as? Bool == false)
        #expect(byId["s-2"]?["hiddenFromPicker"] as? Bool == true)
        #expect((byId["s-1"]?["lastActivity"] as? String)?.hasSuffix("Z") == true)
        // Sorted keys.
        let keys = r.stdout.split(separator: "\n").filter { $0.hasPrefix("    \"") }.prefix(15).map { $0.split(separator: "\"")[1] }
        #expect(keys == keys.sorted())

        // Second run (from the cache) gives the same answer; --project picks one folder; the table marks hidden ones.
        let again = try Self.ccpod(["sessions", "--all", "--json", "--claude-dir", config.path], tmp: tmp)
        #expect(again.stdout == r.stdout)
        let one = try Self.ccpod(["sessions", "--project", "/work/other", "--claude-dir", config.path], tmp: tmp)
        #expect(one.status == 0)
        #expect(one.stdout.contains("s-2") && !one.stdout.contains("s-1"))
        #expect(one.stdout.contains("hidden (sdk-py)"))
        #expect(one.stderr.contains("claude -p"))
    }

    @Test(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func usageAndMissingConfigDir() throws {
        let tmp = try ClaudeTempDir()
        let usage = try Self.ccpod(["sessions", "--all", "--project", "/x"], tmp: tmp)
        #expect(usage.status == 64)
        let missing = tmp.url.appendingPathComponent("no-such-dir").path
        let r = try Self.ccpod(["sessions", "--all"], tmp: tmp, env: ["CLAUDE_CONFIG_DIR": missing])
        #expect(r.status == 66)
        #expect(r.stderr.contains(missing))
        #expect(!FileManager.default.fileExists(atPath: missing))
        let d = try Self.ccpod(["doctor", "--claude-dir", missing], tmp: tmp)
        #expect(d.status == 66 && d.stderr.contains(missing))
    }

    @Test(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func doctorReportsAndRepairs() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        var options = SessionFixtures.Options()
        options.subagent = true
        let url = try SessionFixtures.writeSession(in: config, projectPath: "/p", sessionId: "s-1", lines: 8, options: options)
        let clean = try Data(contentsOf: url)
        chmod(url.path, 0o640)
        let clean1 = try Self.ccpod(["doctor", "--claude-dir", config.path], tmp: tmp)
        #expect(clean1.status == 0, "\(clean1.stdout)\(clean1.stderr)")

        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        handle.write(Data("[1,2]\n".utf8) + Data([0xFF, 0x0A]) + Data(#"{"type":"user","uuid":"torn"#.utf8))
        try handle.close()
        let damaged = try Data(contentsOf: url)
        let lineCount = clean.split(separator: 0x0A).count

        let check = try Self.ccpod(["doctor", "--claude-dir", config.path], tmp: tmp)
        #expect(check.status == 65)
        #expect(check.stdout.contains("\(url.path):\(lineCount + 1): JSON but not an object"))
        #expect(check.stdout.contains("\(url.path):\(lineCount + 2): invalid UTF-8"))
        #expect(check.stdout.contains("\(url.path):\(lineCount + 3): incomplete last line"))
        #expect(try Data(contentsOf: url) == damaged)  // checking changes nothing

        let json = try Self.ccpod(["doctor", "--json", "--claude-dir", config.path], tmp: tmp)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["findings"] as? [Any])?.count == 3)

        let repair = try Self.ccpod(["doctor", "--repair", "--claude-dir", config.path], tmp: tmp)
        #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
        #expect(try Data(contentsOf: url) == clean)
        let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
        // The removed bytes are in the backup, mirroring the path under the config dir.
        let backups = tmp.url.appendingPathComponent("state/ccpod/backups")
        let stamp = try #require(try FileManager.default.contentsOfDirectory(atPath: backups.path).first)
        #expect(stamp.hasPrefix("doctor-") && stamp.count == "doctor-YYYYmmdd-HHMMSS".count)
        let saved = backups.appendingPathComponent("\(stamp)/projects/-p/s-1.jsonl")
        #expect(try Data(contentsOf: saved) == damaged[clean.count...])
        #expect(repair.stdout.contains(saved.path))
        #expect(try Self.ccpod(["doctor", "--claude-dir", config.path], tmp: tmp).status == 0)
    }

    @Test(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func unreadableFileIsNamedAndLeftAlone() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        let url = try SessionFixtures.writeSession(in: config, projectPath: "/p", sessionId: "locked", lines: 6)
        let before = try Data(contentsOf: url)
        chmod(url.path, 0o000)
        defer { chmod(url.path, 0o600) }
        let r = try Self.ccpod(["doctor", "--repair", "--claude-dir", config.path], tmp: tmp)
        let s = try Self.ccpod(["sessions", "--all", "--claude-dir", config.path], tmp: tmp)
        if ClaudeTestPaths.isRoot {
            // root reads through mode 000: nothing to report.
            #expect(r.status == 0)
        } else {
            #expect(r.status == 65)
            #expect(r.stdout.contains(url.path) && r.stdout.contains("cannot read"))
            #expect(s.status == 65 && s.stderr.contains(url.path))
        }
        chmod(url.path, 0o600)
        #expect(try Data(contentsOf: url) == before)
    }
}

extension ClaudeCommandTests {
    /// `ccpod sessions --json | head -1`: the reader is gone before ccpod writes. ccpod
    /// must neither crash (Foundation's FileHandle.write traps on EPIPE) nor say more
    /// than nothing; it exits as the command would have.
    @Test(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func aReaderThatWentAwayDoesNotCrashCCPod() throws {
        let binary = try #require(ClaudeTestPaths.ccpodBinary)
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        try SessionFixtures.writeSession(in: config, projectPath: "/work/app", sessionId: "s-1", lines: 10)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        close(fds[0])
        let errPath = tmp.url.appendingPathComponent("stderr").path
        let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(errFD) }
        let env = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": tmp.url.appendingPathComponent("home").path,
            "XDG_STATE_HOME": tmp.url.appendingPathComponent("state").path,
        ]
        let child = try ChildProcess.spawn(binary.path, ["sessions", "--all", "--json", "--claude-dir", config.path],
                                           environment: env, stdin: .null, stdout: .fd(fds[1]), stderr: .fd(errFD))
        close(fds[1])
        let status = child.wait()
        let said = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(said)")
        #expect(!said.contains("Fatal error"), "\(said)")
    }
}
