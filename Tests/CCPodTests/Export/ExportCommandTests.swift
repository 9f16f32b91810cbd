@testable import CCPodKit
import Foundation
import Testing

/// The commands as a user runs them (the built binary), and the real Claude Code as the judge of an import.
@Suite struct ExportCommandTests {
    static let id = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a"

    static func ccpod(_ args: [String], bed: ExportBed, directory: String) throws -> ChildProcess.Output {
        let binary = try #require(ClaudeTestPaths.ccpodBinary)
        let env = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": bed.tmp.url.appendingPathComponent("home").path,
            "XDG_STATE_HOME": bed.tmp.url.appendingPathComponent("state").path,
            "XDG_CONFIG_HOME": bed.tmp.url.appendingPathComponent("config").path,
        ]
        return try ChildProcess.run(binary.path, args, environment: env, directory: directory)
    }

    @Test("export --report, keygen, export --to, import --json through the binary", .enabled(if: ClaudeTestPaths.ccpodBinary != nil))
    func commands() throws {
        let bed = try ExportBed()
        try bed.write(ExportBed.turn(Self.id, 1, prompt: "deploy with token ghp_R8mK2pQ7vX4nL9sT3wY6zB1cD5fH0jA2eG4i", answer: "and AKIAQ3EGRT7LUVKX5N2P"), "\(Self.id).jsonl")
        let export = try Self.ccpod(["export", "--report", "--claude-dir", bed.claude.path], bed: bed, directory: bed.project)
        #expect(export.status == 0, "\(export.stderrText)")
        // The token is in the first prompt, so in the session's title too.
        #expect(export.stderrText.contains("3 secret(s) replaced") && export.stderrText.contains("github-token  2") && export.stderrText.contains("aws-access-key  1"),
                "\(export.stderrText)")
        #expect(!export.stderrText.contains("ghp_R8mK") && !export.stdoutText.contains("ghp_R8mK"))
        #expect(FileManager.default.fileExists(atPath: bed.exportFile.path))

        let keygen = try Self.ccpod(["keygen"], bed: bed, directory: bed.project)
        #expect(keygen.status == 0, "\(keygen.stderrText)")
        let publicKey = keygen.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(publicKey.hasPrefix("ccpodpk1"))
        let sealed = bed.tmp.url.appendingPathComponent("sealed.jsonl").path
        let encrypted = try Self.ccpod(["export", "--to", publicKey, "-o", sealed, "--json", "--claude-dir", bed.claude.path], bed: bed, directory: bed.project)
        #expect(encrypted.status == 0, "\(encrypted.stderrText)")
        #expect(encrypted.stdoutText.contains("\"encryptedTo\""))

        // The default identity (written by keygen) opens it.
        let imported = try Self.ccpod(["import", sealed, "--json", "--project", bed.otherProject, "--claude-dir", bed.otherClaude.path], bed: bed, directory: bed.project)
        #expect(imported.status == 0, "\(imported.stderrText)")
        let json = try #require(try JSONSerialization.jsonObject(with: imported.stdout) as? [String: Any])
        #expect(json["sessions"] as? Int == 1)
        let ssh = try Self.ccpod(["export", "--to", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7", "--claude-dir", bed.claude.path],
                                 bed: bed, directory: bed.project)
        #expect(ssh.status == 64 && ssh.stderrText.contains("ccpod keygen"))
    }

    @Test("The real Claude Code lists a session imported from git in the mapped project",
          .enabled(if: RealClaude.available && ClaudeTestPaths.ccpodBinary != nil, RealClaude.unavailableReason))
    func realClaudeListsImportedSession() async throws {
        let bed = try ExportBed()
        let title = "Calibrate the narwhal sonar array"
        var transcript = TranscriptWriter(sessionId: UUID().uuidString.lowercased(), cwd: bed.project)
        try bed.write(transcript.turn(prompt: title, answer: "Starting with the hydrophone gains.")
                      + transcript.turn(prompt: "Use the spare cable.", answer: "Done."), "\(transcript.sessionId).jsonl")
        let env = ["GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                   "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": bed.tmp.url.path]
        for args in [["init", "-q"]] { _ = try ChildProcess.run("git", ["-C", bed.project] + args, environment: env) }
        #expect(try Self.ccpod(["export", "--claude-dir", bed.claude.path], bed: bed, directory: bed.project).status == 0)
        for args in [["add", ExportFormat.defaultFileName], ["commit", "-q", "-m", "sessions"]] {
            #expect(try ChildProcess.run("git", ["-C", bed.project] + args, environment: env).status == 0)
        }
        // The teammate's clone of the repository, another Claude dir.
        let clone = bed.otherProject + "/repo"
        #expect(try ChildProcess.run("git", ["clone", "-q", bed.project, clone], environment: env).status == 0)
        let cloneResolved = ProjectSlug.resolvedPath(URL(fileURLWithPath: clone))
        let imported = try Self.ccpod(["import", "--from-git", "--claude-dir", bed.otherClaude.path], bed: bed, directory: cloneResolved)
        #expect(imported.status == 0, "\(imported.stderrText)")
        try RealClaude.prepareConfig(claudeDir: bed.otherClaude.path, trusted: [cloneResolved])
        let home = bed.tmp.url.appendingPathComponent("home").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let screen = try RealClaude.Screen(label: "import", directory: cloneResolved, claudeDir: bed.otherClaude.path, home: home, arguments: ["--resume"])
        defer { screen.stop() }
        let (listed, text) = await screen.waitFor(timeout: 90) { $0.contains(title) }
        #expect(listed, "claude --resume in \(cloneResolved) did not list \"\(title)\". Screen:\n\(text)")
    }
}
