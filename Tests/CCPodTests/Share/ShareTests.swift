@testable import CCPodKit
import Foundation
import Testing

/// `ccpod share push|pull` against a bare git repository in a temporary folder, two people.
@Suite(.enabled(if: ShareBed.gitAvailable, "git is not installed")) struct ShareTests {
    static let sessionA = "5e0d6c1a-9b8f-4e7d-a6c5-b4a3f2e1d0c9"
    static let sessionB = "6f1e7d2b-0c9a-4f8e-b7d6-c5b4a3f2e1d0"

    static func turns(_ id: String, _ range: Range<Int>, _ topic: String) -> Data {
        range.reduce(into: Data()) { $0 += ExportBed.turn(id, $1, prompt: "\(topic) step \($1)", answer: "done with \(topic) \($1)") }
    }

    @Test("Push from alice, pull in bob: a sibling titled (from alice); again: nothing; alice grows it: bob's sibling grows, no duplicate")
    func pushPullGrow() throws {
        let share = try ShareBed()
        let bed = share.bed
        try bed.write(Self.turns(Self.sessionA, 0..<3, "Tune the sonar"), "\(Self.sessionA).jsonl")
        let first = try share.alice.push(try share.options("alice"))
        #expect(first.action == "pushed" && first.sessions == 1 && first.path == "sessions/alice/app/sessions.jsonl")
        #expect(try share.git(["ls-tree", "-r", "--name-only", "main"]).split(separator: "\n") == ["sessions/alice/app/sessions.jsonl", "sessions/alice/owner"])
        #expect(try share.alice.push(try share.options("alice")).action == "unchanged")

        let pulled = try share.bob.pull(try share.options("bob"))
        #expect(pulled.users.map(\.user) == ["alice"] && pulled.users[0].status == "imported", "\(pulled.users)")
        let sibling = ImportApply.siblingId(of: Self.sessionA, attempt: 1, origin: "alice")
        #expect(share.bobTranscripts == ["\(sibling).jsonl"])
        let summary = try SessionSummary.read(bed.otherSlugDir.appendingPathComponent("\(sibling).jsonl"))
        #expect(summary.title == "Tune the sonar step 0 (from alice)", "\(summary.title ?? "nil")")
        let before = bed.read("\(sibling).jsonl", in: bed.otherSlugDir)

        let again = try share.bob.pull(try share.options("bob"))
        #expect(again.users[0].items.allSatisfy { $0.action == "unchanged" }, "\(again.users[0].items)")
        #expect(bed.read("\(sibling).jsonl", in: bed.otherSlugDir) == before)

        try bed.append(Self.turns(Self.sessionA, 3..<5, "Tune the sonar"), "\(Self.sessionA).jsonl")
        #expect(try share.alice.push(try share.options("alice")).action == "pushed")
        let grown = try share.bob.pull(try share.options("bob"))
        #expect(grown.users[0].items.contains { $0.action == "appended" }, "\(grown.users[0].items)")
        #expect(share.bobTranscripts == ["\(sibling).jsonl"])
        let after = String(decoding: bed.read("\(sibling).jsonl", in: bed.otherSlugDir), as: UTF8.self)
        #expect(after.hasPrefix(String(decoding: before, as: UTF8.self)) && after.contains("Tune the sonar step 4"))
        #expect(!after.contains(Self.sessionA), "the sibling's lines carry its own id")

        // Bob shares his own session; alice's sibling in his folder is not pushed back.
        try bed.write(Self.turns(Self.sessionB, 0..<2, "Calibrate the array"), "\(Self.sessionB).jsonl", in: bed.otherSlugDir)
        let bobPush = try share.bob.push(try share.options("bob"))
        #expect(bobPush.sessions == 1 && bobPush.leftOut == [sibling], "\(bobPush)")
        let alicePull = try share.alice.pull(try share.options("alice"))
        #expect(alicePull.users.map(\.user) == ["bob"])
        let fromBob = ImportApply.siblingId(of: Self.sessionB, attempt: 1, origin: "bob")
        #expect(FileStat.of(bed.slugDir.appendingPathComponent("\(fromBob).jsonl").path) != nil)
        #expect(FileStat.of(bed.slugDir.appendingPathComponent("\(ImportApply.siblingId(of: sibling, attempt: 1, origin: "bob")).jsonl").path) == nil)
    }

    @Test("Bob cannot write alice's folder: a push as alice with bob's key is refused (exit 77) and the remote is unchanged")
    func othersFolderRefused() throws {
        let share = try ShareBed()
        try share.bed.write(Self.turns(Self.sessionA, 0..<2, "Tune"), "\(Self.sessionA).jsonl")
        _ = try share.alice.push(try share.options("alice"))
        let tip = try share.git(["rev-parse", "main"])
        try share.bed.write(Self.turns(Self.sessionB, 0..<2, "Overwrite"), "\(Self.sessionB).jsonl", in: share.bed.otherSlugDir)
        var options = try share.options("bob", key: share.bobKey)
        options.user = "alice"
        let error = try #require(throws: CCPodError.self) { try share.bob.push(options) }
        #expect(error.status == .notPermitted && error.message.contains("belongs to another key"), "\(error.message)")
        #expect(try share.git(["rev-parse", "main"]) == tip)
    }

    @Test("Others pushed between fetch and push: the push is rejected, ccpod fetches and commits again on top")
    func retryAfterRejectedPush() throws {
        let share = try ShareBed()
        try share.bed.write(Self.turns(Self.sessionA, 0..<2, "Tune"), "\(Self.sessionA).jsonl")
        try share.bed.write(Self.turns(Self.sessionB, 0..<2, "Calibrate"), "\(Self.sessionB).jsonl", in: share.bed.otherSlugDir)
        let bobOptions = try share.options("bob")
        var alice = share.alice
        let bob = share.bob
        alice.beforePush = { attempt in if attempt == 1 { _ = try bob.push(bobOptions) } }
        let summary = try alice.push(try share.options("alice"))
        #expect(summary.action == "pushed" && summary.attempts == 2, "\(summary)")
        let files = try share.git(["ls-tree", "-r", "--name-only", "main"]).split(separator: "\n").map(String.init)
        #expect(files == ["sessions/alice/app/sessions.jsonl", "sessions/alice/owner", "sessions/bob/app/sessions.jsonl", "sessions/bob/owner"])
    }

    @Test("Encrypted to the team's recipients: bob opens it, carol (not a recipient) skips it, git holds no plain text")
    func encryptedToRecipients() throws {
        let share = try ShareBed()
        try share.bed.write(Self.turns(Self.sessionA, 0..<3, "Secret plan"), "\(Self.sessionA).jsonl")
        let bob = try ExportRecipient.parse(share.bobKey.path + ".pub")
        let pushed = try share.alice.push(try share.options("alice", recipients: [bob]))
        #expect(pushed.encryptedTo.count == 2)
        let blob = try share.git(["show", "main:sessions/alice/app/sessions.jsonl"])
        #expect(blob.hasPrefix("ccpod-encrypted-export") && !blob.contains("Secret plan"))
        #expect(try share.alice.push(try share.options("alice", recipients: [bob])).action == "unchanged")

        let pulled = try share.bob.pull(try share.options("bob"))
        #expect(pulled.users.first?.status == "imported" && share.bobTranscripts.count == 1, "\(pulled.users)")
        let carolKey = share.bed.tmp.url.appendingPathComponent("keys/carol")
        try ExportIdentity.generate().write(to: carolKey)
        var carol = try share.options("carol", key: carolKey)
        carol.stateDir = share.bed.tmp.url.appendingPathComponent("state-carol")
        let skipped = try ShareRun(claudeDir: share.bed.otherClaude).pull(carol)
        #expect(skipped.users.first?.status == "skipped", "\(skipped.users)")
    }

    @Test("Hostile files in the repository are refused, the others still imported, nothing written outside the project")
    func hostileRemote() throws {
        let share = try ShareBed()
        try share.bed.write(Self.turns(Self.sessionA, 0..<2, "Honest work"), "\(Self.sessionA).jsonl")
        _ = try share.alice.push(try share.options("alice"))
        let header = ExportFormat.headerLine(project: nil, scrubbed: true, fileHistory: false)
        let huge = header + "\n{\"record\":\"session\",\"id\":\"x\"}" + String(repeating: "A", count: 9 << 20) + "\n"
        let escape = header + "\n{\"record\":\"session\",\"id\":\"../../../etc\",\"files\":[]}\n{\"record\":\"end\",\"sessions\":1}\n"
        try share.commitToRemote([
            "sessions/mallory/app/sessions.jsonl": Data("symlink:../../../../../../etc/passwd".utf8),
            "sessions/eve/app/sessions.jsonl": Data(huge.utf8),
            "sessions/trudy/app/sessions.jsonl": Data(escape.utf8),
            "sessions/.hidden/app/sessions.jsonl": Data("x\n".utf8),
        ])
        let report = try share.bob.pull(try share.options("bob"))
        let byUser = Dictionary(uniqueKeysWithValues: report.users.map { ($0.user, $0) })
        #expect(byUser["alice"]?.status == "imported", "\(report.users)")
        for user in ["mallory", "eve", "trudy", ".hidden"] {
            #expect(byUser[user]?.status == "refused", "\(user): \(String(describing: byUser[user]))")
        }
        #expect(byUser["mallory"]?.detail?.contains("not a regular file") == true)
        #expect(byUser["eve"]?.detail?.contains("too long") == true, "\(byUser["eve"]?.detail ?? "")")
        #expect(share.bobTranscripts.count == 1)
        #expect(ExportBed.files(under: share.bed.otherClaude).allSatisfy { $0.hasPrefix("projects/\(ProjectSlug.of(share.bed.otherProject))/") })

        // Someone rewrites alice's folder with their own key: bob, who saw alice's key before, refuses it.
        let mallory = try ExportIdentity.generate().recipient
        try share.commitToRemote(["sessions/alice/owner": Data((mallory.encoded + "\n").utf8),
                                  "sessions/alice/app/sessions.jsonl": Data(escape.utf8)])
        let rewritten = try share.bob.pull(try share.options("bob"))
        let alice = try #require(rewritten.users.first { $0.user == "alice" })
        #expect(alice.status == "refused" && alice.detail?.contains("was owned by key") == true, "\(alice)")
        #expect(ExportBed.files(under: share.bed.otherClaude).allSatisfy { $0.hasPrefix("projects/\(ProjectSlug.of(share.bed.otherProject))/") })
    }

    @Test("[share] in config.toml: parsed, unknown keys named, kept when the config is saved")
    func config() throws {
        let text = """
            [share]
            remote = "git@example.com:team/sessions.git"
            user = "alice"
            recipients = ["ccpodpk1AAAA"]
            remot = "typo"
            """
        let config = try CCPodConfig.parse(text)
        #expect(config.share == ShareSettings(remote: "git@example.com:team/sessions.git", user: "alice", recipients: ["ccpodpk1AAAA"]))
        let warnings = ConfigKeyCheck.configWarnings(text, origin: "config.toml")
        #expect(warnings.count == 1 && warnings[0].contains("share.remot") && warnings[0].contains("did you mean `remote`"), "\(warnings)")
        #expect(try CCPodConfig.parse(try config.serialized()).share == config.share)
        #expect(throws: CCPodError.self) { try CCPodConfig.parse("[share]\nuser = \"../x\"\n") }
        #expect(ShareNames.sanitize("Jane Doe") == "Jane-Doe" && ShareNames.sanitize("..") == nil)
    }
}
