import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Three pods on three real sshd and this machine, sessions in every sync state between
/// them; `ccpod sessions --everywhere` run as the built binary.
final class ThreePodBed {
    let root: URL
    let claude: String
    let project: String
    var sshds: [String: LoopbackSSHD] = [:]
    let names = ["gpua", "gpub", "gpuc"]
    let env: [String: String]

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-ev-\(UUID().uuidString.prefix(6))")
        claude = root.appendingPathComponent("laptop/.claude").path
        project = root.appendingPathComponent("work/my_app").path
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: claude, withIntermediateDirectories: true)
        env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
               "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
               "XDG_STATE_HOME": root.appendingPathComponent("state").path,
               "CLAUDE_CONFIG_DIR": claude]
        let locations = CCPodLocations.resolve(environment: env)
        for name in names {
            let sshd = try LoopbackSSHD()
            sshds[name] = sshd
            let podRoot = podRootPath(name)
            try FileManager.default.createDirectory(atPath: podClaude(name), withIntermediateDirectories: true)
            let settings = PodSettings(
                name: name, direct: SSHEndpoint(user: sshd.user, host: "127.0.0.1", port: sshd.port),
                identity: sshd.clientKeyPath,
                paths: PodPaths(claudeDir: podClaude(name), persistentDir: podRoot + "/workspace/claude-sessions", workspace: podRoot + "/workspace"),
                sshOptions: ["-F", "/dev/null"])
            _ = try PodRegistry(locations: locations).add(settings, makeDefault: false, trust: SSHTestPod.acceptNew)
        }
    }

    func podRootPath(_ name: String) -> String { root.appendingPathComponent("pod-\(name)").path }
    func podClaude(_ name: String) -> String { podRootPath(name) + "/.claude" }
    var slug: String { ProjectSlug.of(project) }
    func local(_ id: String) -> String { "\(claude)/projects/\(slug)/\(id).jsonl" }
    func onPod(_ name: String, _ id: String) -> String { "\(podClaude(name))/projects/\(slug)/\(id).jsonl" }

    func lines(_ id: String, count: Int, start: Int = 0, text: String = "hello") -> Data {
        Data(String(decoding: SyncTestBed.lines(session: id, count: count, start: start, text: text), as: UTF8.self)
            .replacingOccurrences(of: SyncTestBed.localProject, with: project).utf8)
    }

    static func title(_ id: String, _ title: String) -> Data {
        Data("{\"type\":\"custom-title\",\"customTitle\":\"\(title)\",\"sessionId\":\"\(id)\"}\n".utf8)
    }

    @discardableResult
    func ccpod(_ args: [String], expect status: Int32? = 0) throws -> ChildProcess.Output {
        let binary = try #require(ClaudeTestPaths.ccpodBinary)
        let out = try ChildProcess.run(binary.path, args, environment: env, directory: project)
        if let status { #expect(out.status == status, "ccpod \(args.joined(separator: " ")): \(out.stderrText)") }
        return out
    }

    /// `sessions --everywhere --all --json`, decoded.
    func everywhere(_ extra: [String] = []) throws -> (json: [String: Any], stderr: String) {
        let out = try ccpod(["sessions", "--everywhere", "--all", "--json"] + extra)
        let json = try #require(try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any], "\(out.stdoutText)")
        return (json, out.stderrText)
    }

    static func session(_ json: [String: Any], _ id: String) -> [String: Any]? {
        (json["sessions"] as? [[String: Any]])?.first { $0["id"] as? String == id }
    }

    static func state(_ json: [String: Any], _ id: String, _ pod: String) -> String? {
        ((session(json, id)?["pods"] as? [[String: Any]])?.first { $0["pod"] as? String == pod })?["state"] as? String
    }

    deinit {
        let cm = root.appendingPathComponent("state/ccpod/cm").path
        for socket in (try? FileManager.default.contentsOfDirectory(atPath: cm)) ?? [] {
            _ = try? ChildProcess.run("ssh", ["-F", "/dev/null", "-o", "ControlPath=\(cm)/\(socket)", "-O", "exit", "placeholder"])
        }
        for sshd in sshds.values { sshd.shutdown() }
        try? FileManager.default.removeItem(at: root)
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"),
       .enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
struct SessionsEverywhereTests {
    static func id(_ n: Int) -> String { String(format: "%08d-2222-4333-8444-555555555555", n) }

    @Test func everyStateIsNamedAndAStoppedPodLeavesTheOthersShown() throws {
        let bed = try ThreePodBed()
        let (s1, s2, s3, s4, s5, s6) = (Self.id(1), Self.id(2), Self.id(3), Self.id(4), Self.id(5), Self.id(6))
        for sid in [s1, s2, s3, s4] { try SyncTestBed.write(bed.lines(sid, count: 4), to: bed.local(sid)) }
        // A fork and its sibling: titles differ only at the end.
        try SyncTestBed.write(bed.lines(s6, count: 4) + ThreePodBed.title(s6, "Plan the migration of the training data (fork)"), to: bed.local(s6))
        for pod in ["gpua", "gpub"] { try bed.ccpod(["push", "--all", "--pod", pod, "--busy-seconds", "0"]) }
        try bed.ccpod(["push", "--pod", "gpuc", "--session", s1, "--busy-seconds", "0"])
        // s2 grows here; s3 on gpua; s4 here and on gpub; s5 exists only on gpuc.
        try SyncTestBed.append(bed.lines(s2, count: 2, start: 4), to: bed.local(s2))
        try SyncTestBed.append(bed.lines(s3, count: 2, start: 4, text: "continued on gpua"), to: bed.onPod("gpua", s3))
        try SyncTestBed.append(bed.lines(s4, count: 2, start: 4), to: bed.local(s4))
        try SyncTestBed.append(bed.lines(s4, count: 2, start: 4, text: "other"), to: bed.onPod("gpub", s4))
        try SyncTestBed.write(bed.lines(s5, count: 2, text: "pod only") + ThreePodBed.title(s5, "Sweep \\u001b[31mred"), to: bed.onPod("gpuc", s5))
        // A claude holds s1 on gpub (this process stands in for it: its pid is alive there too).
        try FileManager.default.createDirectory(atPath: bed.podClaude("gpub") + "/sessions", withIntermediateDirectories: true)
        try Data("{\"pid\":\(getpid()),\"sessionId\":\"\(s1)\"}".utf8).write(to: URL(fileURLWithPath: bed.podClaude("gpub") + "/sessions/\(getpid()).json"))

        let (json, _) = try bed.everywhere()
        let expected: [(String, String, String?)] = [
            (s1, "gpua", "in-sync"), (s1, "gpub", "in-sync"), (s1, "gpuc", "in-sync"),
            (s2, "gpua", "ahead-here"), (s2, "gpub", "ahead-here"), (s2, "gpuc", "only-here"),
            (s3, "gpua", "ahead-there"), (s3, "gpub", "in-sync"),
            (s4, "gpua", "ahead-here"), (s4, "gpub", "diverged"),
            (s5, "gpuc", "only-there"), (s5, "gpua", nil),
        ]
        for (sid, pod, state) in expected {
            #expect(ThreePodBed.state(json, sid, pod) == state, "\(sid) on \(pod)")
        }
        let one = try #require(ThreePodBed.session(json, s1))
        #expect(one["live"] as? [String] == ["gpub"])
        #expect(one["places"] as? [String] == ["here", "gpua", "gpub", "gpuc"])
        let three = try #require(ThreePodBed.session(json, s3))
        #expect(three["newest"] as? [String] == ["gpua"])
        #expect(three["lastPrompt"] as? String == "continued on gpua 4")
        let five = try #require(ThreePodBed.session(json, s5))
        #expect(five["here"] as? Bool == false)
        #expect(five["newest"] as? [String] == ["gpuc"])
        #expect(five["title"] as? String == "Sweep \u{1b}[31mred")
        #expect(five["project"] as? String == bed.project)
        #expect(ThreePodBed.session(json, s6)?["title"] as? String == "Plan the migration of the training data (fork)")
        #expect((json["pods"] as? [[String: Any]])?.allSatisfy { $0["reachable"] as? Bool == true } == true)

        // The table: the escape never reaches the terminal, the fork's end stays visible.
        let table = try bed.ccpod(["sessions", "--everywhere", "--all"])
        #expect(!table.stdoutText.contains("\u{1b}"))
        #expect(table.stdoutText.contains("(fork)"))
        #expect(table.stdoutText.contains("ahead there"))

        // gpuc stops answering: one line says so, the others are still shown.
        bed.sshds["gpuc"]?.shutdown()
        let (after, stderr) = try bed.everywhere(["--timeout", "10"])
        #expect(stderr.contains("gpuc: left out of this listing"), "\(stderr)")
        #expect(stderr.split(separator: "\n").filter { $0.contains("left out of this listing") }.count == 1)
        #expect(ThreePodBed.state(after, s3, "gpua") == "ahead-there")
        #expect(ThreePodBed.state(after, s4, "gpub") == "diverged")
        #expect(ThreePodBed.session(after, s5) == nil)
        let gpuc = (after["pods"] as? [[String: Any]])?.first { $0["name"] as? String == "gpuc" }
        #expect(gpuc?["reachable"] as? Bool == false)
    }

    @Test func onePodNamedWithPod() throws {
        let bed = try ThreePodBed()
        let sid = Self.id(7)
        try SyncTestBed.write(bed.lines(sid, count: 4), to: bed.local(sid))
        try bed.ccpod(["push", "--pod", "gpub", "--busy-seconds", "0"])
        let out = try bed.ccpod(["sessions", "--pod", "gpub", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any])
        #expect((json["pods"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["gpub"])
        #expect(ThreePodBed.state(json, sid, "gpub") == "in-sync")

        // `ccpod pods`: every pod, its sessions and what is not in sync; a stopped one says so.
        try SyncTestBed.append(bed.lines(sid, count: 2, start: 4), to: bed.local(sid))
        bed.sshds["gpuc"]?.shutdown()
        let pods = try bed.ccpod(["pods", "--json"])
        let list = try #require(try JSONSerialization.jsonObject(with: pods.stdout) as? [[String: Any]], "\(pods.stdoutText)")
        #expect(list.compactMap { $0["name"] as? String } == ["gpua", "gpub", "gpuc"])
        let b = try #require(list.first { $0["name"] as? String == "gpub" })
        #expect(b["reachable"] as? Bool == true)
        #expect(b["sessions"] as? Int == 1)
        #expect(b["unsynced"] as? [String: Int] == ["ahead-here": 1])
        #expect(b["lastSync"] != nil)
        #expect(b["runs"] as? Int == 0)
        let a = try #require(list.first { $0["name"] as? String == "gpua" })
        #expect(a["sessions"] as? Int == 0)
        #expect(a["unsynced"] as? [String: Int] == ["only-here": 1])
        #expect(a["lastSync"] == nil)
        let c = try #require(list.first { $0["name"] as? String == "gpuc" })
        #expect(c["reachable"] as? Bool == false)
        #expect(c["error"] as? String != nil)
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"),
       .enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
struct PodDoctorTests {
    @Test func doctorWithPodChecksThePodsClaudeDirToo() throws {
        let bed = try ThreePodBed()
        let good = SessionsEverywhereTests.id(8), torn = SessionsEverywhereTests.id(9)
        try SyncTestBed.write(bed.lines(good, count: 3), to: bed.local(good))
        let clean = try bed.ccpod(["doctor", "--pod", "gpua"])
        #expect(clean.stderrText.contains("gpua: 0 session file(s) checked on the pod: no problems"), "\(clean.stderrText)")
        try SyncTestBed.write(bed.lines(good, count: 2) + Data("not json at all\n".utf8) + bed.lines(good, count: 1, start: 2), to: bed.onPod("gpua", good))
        try SyncTestBed.write(bed.lines(torn, count: 2) + Data("{\"type\":\"user\",\"mess".utf8), to: bed.onPod("gpua", torn))
        let out = try bed.ccpod(["doctor", "--pod", "gpua"], expect: ExitStatus.badData.rawValue)
        #expect(out.stdoutText.contains("projects/\(bed.slug)/\(good).jsonl:3: not a JSON object"), "\(out.stdoutText)")
        #expect(out.stdoutText.contains("projects/\(bed.slug)/\(torn).jsonl: the last line is incomplete"), "\(out.stdoutText)")
        #expect(out.stderrText.contains("the Claude dir on gpua has problems"))
        let json = try bed.ccpod(["doctor", "--pod", "gpua", "--json"], expect: ExitStatus.badData.rawValue)
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        // The torn last line is also not a JSON object: both are said.
        #expect(((object["pod"] as? [String: Any])?["findings"] as? [Any])?.count == 3)
        #expect((object["pod"] as? [String: Any])?["filesChecked"] as? Int == 2)
    }
}
