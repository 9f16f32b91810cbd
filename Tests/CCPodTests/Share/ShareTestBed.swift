@testable import CCPodKit
import Foundation

/// A bare git repository as the team's remote, and two people (alice with `ExportBed`'s
/// first Claude dir and project, bob with the second), each with a key and a state dir.
final class ShareBed: @unchecked Sendable {
    let bed: ExportBed
    let remote: String
    let aliceKey: URL
    let bobKey: URL
    let env: [String: String]

    init() throws {
        bed = try ExportBed()
        let tmp = bed.tmp.url
        let home = tmp.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": home.path, "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"]
        remote = tmp.appendingPathComponent("team.git").path
        let out = try ChildProcess.run("git", ["init", "--bare", "--quiet", remote], environment: env)
        guard out.status == 0 else { throw CCPodError.failure("git init: \(out.stderrText)") }
        aliceKey = tmp.appendingPathComponent("keys/alice")
        bobKey = tmp.appendingPathComponent("keys/bob")
        try ExportIdentity.generate().write(to: aliceKey)
        try ExportIdentity.generate().write(to: bobKey)
    }

    static var gitAvailable: Bool { ChildProcess.exists("git") }

    func options(_ user: String, key: URL? = nil, recipients: [ExportRecipient] = []) throws -> ShareOptions {
        let isAlice = user == "alice"
        let tmp = bed.tmp.url
        var options = ShareOptions(remote: remote, user: user, projectPath: isAlice ? bed.project : bed.otherProject, projectName: "app",
                                   stateDir: tmp.appendingPathComponent("state-\(user)"), environment: env)
        let keyURL = key ?? (isAlice ? aliceKey : bobKey)
        options.identity = try ExportIdentity.load(keyURL)
        options.identityPath = keyURL.path
        options.recipients = recipients
        return options
    }

    /// Alice's and bob's Claude dirs (as `ShareRun`s).
    var alice: ShareRun { ShareRun(claudeDir: bed.claude) }
    var bob: ShareRun { ShareRun(claudeDir: bed.otherClaude) }

    /// git in the remote (bare) repository.
    func git(_ args: [String]) throws -> String {
        let out = try ChildProcess.run("git", ["-C", remote] + args, environment: env)
        guard out.status == 0 else { throw CCPodError.failure("git \(args.joined(separator: " ")): \(out.stderrText)") }
        return out.stdoutText
    }

    /// Commits `files` (path → content; a `symlink:` content makes a symlink) to the remote's
    /// main branch from a scratch clone, as a hostile or careless teammate would.
    func commitToRemote(_ files: [String: Data]) throws {
        let clone = bed.tmp.url.appendingPathComponent("scratch-\(UUID().uuidString.prefix(6))").path
        let run = { (args: [String]) throws in
            let out = try ChildProcess.run("git", args, environment: self.env)
            guard out.status == 0 else { throw CCPodError.failure("git \(args.joined(separator: " ")): \(out.stderrText)") }
        }
        try run(["clone", "--quiet", "--branch", "main", remote, clone])
        for (path, content) in files {
            let url = URL(fileURLWithPath: clone + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let text = String(decoding: content.prefix(8), as: UTF8.self)
            if text.hasPrefix("symlink:") {
                try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: String(decoding: content.dropFirst(8), as: UTF8.self))
            } else {
                try content.write(to: url)
            }
        }
        try run(["-C", clone, "add", "-A"])
        try run(["-C", clone, "commit", "--quiet", "-m", "by hand"])
        try run(["-C", clone, "push", "--quiet", "origin", "HEAD:refs/heads/main"])
    }

    /// The `.jsonl` files in bob's project folder.
    var bobTranscripts: [String] { ExportBed.files(under: bed.otherSlugDir).filter { $0.hasSuffix(".jsonl") && !$0.contains("/") } }
}
