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
