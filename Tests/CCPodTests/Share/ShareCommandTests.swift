@testable import CCPodKit
import Foundation
import Testing

/// `ccpod share push|pull` as a user runs them: the built binary, [share] in each person's config.toml.
@Suite(.enabled(if: ShareBed.gitAvailable && ClaudeTestPaths.ccpodBinary != nil, "git or the ccpod binary is missing"))
struct ShareCommandTests {
    static func person(_ share: ShareBed, _ user: String) throws -> [String: String] {
        let tmp = share.bed.tmp.url
        var env = share.env
        env["XDG_CONFIG_HOME"] = tmp.appendingPathComponent("cli-config-\(user)").path
        env["XDG_STATE_HOME"] = tmp.appendingPathComponent("cli-state-\(user)").path
        let dir = tmp.appendingPathComponent("cli-config-\(user)/ccpod")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("[share]\nremote = \"\(share.remote)\"\nuser = \"\(user)\"\n".utf8).write(to: dir.appendingPathComponent("config.toml"))
        return env
    }

    static func ccpod(_ args: [String], env: [String: String], directory: String) throws -> ChildProcess.Output {
        try ChildProcess.run(try #require(ClaudeTestPaths.ccpodBinary).path, args, environment: env, directory: directory)
    }

    @Test("keygen, share push as alice, share pull --json as bob; a symlink planted in the repository: exit 65, alice's sessions still imported")
    func pushAndPull() throws {
        let share = try ShareBed()
        let bed = share.bed
        try bed.write(ShareTests.turns(ShareTests.sessionA, 0..<2, "Map the reef"), "\(ShareTests.sessionA).jsonl")
        let alice = try Self.person(share, "alice"), bob = try Self.person(share, "bob")
        for env in [alice, bob] { #expect(try Self.ccpod(["keygen"], env: env, directory: bed.project).status == 0) }

        let noKey = try Self.ccpod(["share", "push", "--name", "app", "--claude-dir", bed.claude.path], env: share.env, directory: bed.project)
        #expect(noKey.status == 64 && noKey.stderrText.contains("--remote"), "\(noKey.stderrText)")
        let push = try Self.ccpod(["share", "push", "--name", "app", "--claude-dir", bed.claude.path], env: alice, directory: bed.project)
        #expect(push.status == 0 && push.stderrText.contains("pushed 1 session(s)"), "\(push.stderrText)")

        let pull = try Self.ccpod(["share", "pull", "--name", "app", "--json", "--claude-dir", bed.otherClaude.path], env: bob, directory: bed.otherProject)
        #expect(pull.status == 0, "\(pull.stderrText)")
        let json = try #require(try JSONSerialization.jsonObject(with: pull.stdout) as? [String: Any])
        let users = try #require(json["users"] as? [[String: Any]])
        #expect(users.map { $0["user"] as? String } == ["alice"])
        #expect(share.bobTranscripts.count == 1)

        try share.commitToRemote(["sessions/mallory/app/sessions.jsonl": Data("symlink:/etc/passwd".utf8)])
        let hostile = try Self.ccpod(["share", "pull", "--name", "app", "--claude-dir", bed.otherClaude.path], env: bob, directory: bed.otherProject)
        #expect(hostile.status == 65 && hostile.stderrText.contains("mallory") && hostile.stderrText.contains("not a regular file"), "\(hostile.stderrText)")
        #expect(hostile.stderrText.contains("alice: 1 session(s)"), "\(hostile.stderrText)")
    }
}

/// The real Claude Code as the judge of a pull: it lists the sibling, titled "(from alice)", in bob's project.
@Suite(.enabled(if: ShareBed.gitAvailable && RealClaude.available, RealClaude.unavailableReason))
struct ShareRealClaudeTests {
    @Test("claude --resume in bob's project lists alice's session pulled from the share repository")
    func realClaudeListsPulledSession() async throws {
        let share = try ShareBed()
        let bed = share.bed
        let title = "Calibrate the walrus hydrophones"
        var transcript = TranscriptWriter(sessionId: UUID().uuidString.lowercased(), cwd: bed.project)
        try bed.write(transcript.turn(prompt: title, answer: "Gains set.") + transcript.turn(prompt: "Log the noise floor.", answer: "Logged."),
                      "\(transcript.sessionId).jsonl")
        #expect(try share.alice.push(try share.options("alice")).action == "pushed")
        let pulled = try share.bob.pull(try share.options("bob"))
        #expect(pulled.users.first?.status == "imported")
        try RealClaude.prepareConfig(claudeDir: bed.otherClaude.path, trusted: [bed.otherProject])
        let home = bed.tmp.url.appendingPathComponent("home").path
        let screen = try RealClaude.Screen(label: "share", directory: bed.otherProject, claudeDir: bed.otherClaude.path, home: home, arguments: ["--resume"])
        defer { screen.stop() }
        let (listed, text) = await screen.waitFor(timeout: 90) { $0.contains("(from alice)") }
        #expect(listed, "claude --resume in \(bed.otherProject) did not list the session from alice. Screen:\n\(text)")
    }
}
