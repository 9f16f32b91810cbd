@testable import CCPodKit
import Foundation
import Testing

/// Export and import with the sync semantics: deterministic files, appended lines, siblings, idempotence, git.
@Suite struct ExportImportTests {
    static let a = "5e0d3c2a-8f41-4b7e-9a26-1c7d2e9f4b10"
    static let b = "9f31aa07-1d2e-4c3b-8a59-0e6f7d8c9b2a"

    static func twoSessions(_ bed: ExportBed) throws {
        try bed.write(ExportBed.turn(a, 1, prompt: "Plan the data loader", answer: "Streaming shards.")
                      + ExportBed.turn(a, 2, prompt: "Add a test", answer: "Added."), "\(a).jsonl")
        try bed.write(ExportBed.line(["type": "assistant", "sessionId": a, "uuid": "s1", "message": ["role": "assistant", "content": "sub"]]),
                      "\(a)/subagents/agent-x1.jsonl")
        try bed.write(Data("line one\nno newline at the end".utf8), "\(a)/tool-results/toolu_1.txt")
        try bed.write(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF, 0xFE]), "\(a)/tool-results/image.png")
        try bed.write(ExportBed.turn(b, 3, prompt: "Profile the GPU kernel", answer: "Occupancy is 50 %."), "\(b).jsonl")
    }

    @Test("Exporting twice gives the same bytes; a longer session shows as appended lines")
    func deterministicAndAppendOnly() throws {
        let bed = try ExportBed()
        try Self.twoSessions(bed)
        try bed.export()
        let first = try Data(contentsOf: bed.exportFile)
        try bed.export()
        #expect(try Data(contentsOf: bed.exportFile) == first)

        try bed.append(ExportBed.turn(Self.b, 4, prompt: "Try a larger block", answer: "Occupancy is 75 %."), "\(Self.b).jsonl")
        try bed.export()
        let old = String(decoding: first, as: UTF8.self).split(separator: "\n")
        let new = String(decoding: try Data(contentsOf: bed.exportFile), as: UTF8.self).split(separator: "\n")
        // b started last, so it is the last session: only its record line changed (time range) and two lines were added before the end.
        #expect(new.count == old.count + 2)
        let changed = zip(old.dropLast(), new).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(changed.count == 1 && new[changed[0]].contains("\"record\":\"session\",\"id\":\"\(Self.b)\""), "changed lines: \(changed)")
        #expect(new.last == old.last)
        #expect(String(decoding: first, as: UTF8.self).split(separator: "\n")[0].contains("\"ccpodVersion\":\"\(CCPodVersion.string)\""))
    }

    @Test("Import creates, is idempotent, appends a longer version, and keeps every byte (text, binary, no final newline)")
    func importSemantics() throws {
        let bed = try ExportBed()
        try Self.twoSessions(bed)
        try bed.export()
        let report = try bed.importOther()
        #expect(report.sessions == 2 && report.count("created") == 5, "\(report.items)")
        for path in ["\(Self.a).jsonl", "\(Self.a)/subagents/agent-x1.jsonl", "\(Self.a)/tool-results/toolu_1.txt", "\(Self.a)/tool-results/image.png", "\(Self.b).jsonl"] {
            #expect(bed.read(path, in: bed.otherSlugDir) == bed.read(path), "\(path) differs")
        }
        // Private modes; nothing else in the slug folder (the staging folder is gone).
        let st = try #require(FileStat.of(bed.otherSlugDir.appendingPathComponent("\(Self.a).jsonl").path))
        #expect(st.permissions == 0o600)
        #expect(FileStat.of(bed.otherSlugDir.appendingPathComponent(Self.a).path)?.permissions == 0o700)
        #expect(ExportBed.files(under: bed.otherSlugDir).count == 5, "\(ExportBed.files(under: bed.otherSlugDir))")

        let before = ExportBed.files(under: bed.otherClaude).map { ($0, FileStat.of(bed.otherClaude.appendingPathComponent($0).path)) }
        let again = try bed.importOther()
        #expect(again.items.allSatisfy { $0.action == "unchanged" }, "\(again.items)")
        let after = ExportBed.files(under: bed.otherClaude).map { ($0, FileStat.of(bed.otherClaude.appendingPathComponent($0).path)) }
        #expect(before.map(\.0) == after.map(\.0) && zip(before, after).allSatisfy { $0.1 == $1.1 })

        try bed.append(ExportBed.turn(Self.a, 5, prompt: "Ship it", answer: "Shipped."), "\(Self.a).jsonl")
        try bed.export()
        let longer = try bed.importOther()
        #expect(longer.items.filter { $0.action == "appended" }.map(\.path) == ["projects/\(ProjectSlug.of(bed.otherProject))/\(Self.a).jsonl"], "\(longer.items)")
        #expect(bed.read("\(Self.a).jsonl", in: bed.otherSlugDir) == bed.read("\(Self.a).jsonl"))
    }

    @Test("A session that went another way here arrives as a titled sibling, once; a later longer export extends the sibling")
    func divergedMakesTitledSibling() throws {
        let bed = try ExportBed()
        let base = ExportBed.turn(Self.a, 1, prompt: "Tune the learning rate", answer: "Trying 3e-4.")
        try bed.write(base + ExportBed.turn(Self.a, 2, prompt: "On the laptop", answer: "Laptop line."), "\(Self.a).jsonl")
        let local = base + ExportBed.turn(Self.a, 3, prompt: "On the other machine", answer: "Other line.")
        try bed.write(local, "\(Self.a).jsonl", in: bed.otherSlugDir)
        try bed.export()
        let report = try bed.importOther()
        let siblingId = ImportApply.siblingId(of: Self.a, attempt: 1)
        #expect(report.items.map(\.action) == ["sibling"], "\(report.items)")
        #expect(bed.read("\(Self.a).jsonl", in: bed.otherSlugDir) == local, "the session here must not change")
        let sibling = String(decoding: bed.read("\(siblingId).jsonl", in: bed.otherSlugDir), as: UTF8.self)
        let expected = String(decoding: bed.read("\(Self.a).jsonl"), as: UTF8.self).replacingOccurrences(of: "\"sessionId\":\"\(Self.a)\"", with: "\"sessionId\":\"\(siblingId)\"")
        #expect(sibling.hasPrefix(expected))
        let title = try #require(sibling.split(separator: "\n").last)
        #expect(title == "{\"customTitle\":\"Tune the learning rate (from export)\",\"sessionId\":\"\(siblingId)\",\"type\":\"custom-title\"}")
        #expect(try SessionSummary.read(bed.otherSlugDir.appendingPathComponent("\(siblingId).jsonl")).title == "Tune the learning rate (from export)")

        #expect(try bed.importOther().items.allSatisfy { $0.action == "unchanged" })
        #expect(ExportBed.files(under: bed.otherSlugDir).count == 2)

        let more = ExportBed.turn(Self.a, 4, prompt: "More on the laptop", answer: "More.")
        try bed.append(more, "\(Self.a).jsonl")
        try bed.export()
        let extended = try bed.importOther()
        #expect(extended.items.map(\.action) == ["appended"], "\(extended.items)")
        let grown = String(decoding: bed.read("\(siblingId).jsonl", in: bed.otherSlugDir), as: UTF8.self)
        let moreRewritten = String(decoding: more, as: UTF8.self).replacingOccurrences(of: "\"sessionId\":\"\(Self.a)\"", with: "\"sessionId\":\"\(siblingId)\"")
        #expect(grown == sibling + moreRewritten)
        #expect(ExportBed.files(under: bed.otherSlugDir).count == 2)
    }

    @Test("export → git commit → import --from-git into another Claude dir, without touching the working tree")
    func throughGit() throws {
        let bed = try ExportBed()
        try Self.twoSessions(bed)
        let env = ["GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                   "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": bed.tmp.url.path]
        func git(_ args: [String]) throws -> ChildProcess.Output {
            let out = try ChildProcess.run("git", ["-C", bed.project] + args, environment: env)
            #expect(out.status == 0, "git \(args): \(out.stderrText)")
            return out
        }
        _ = try git(["init", "-q"])
        try bed.export()
        _ = try git(["add", ExportFormat.defaultFileName])
        _ = try git(["commit", "-q", "-m", "sessions"])
        // The working tree moves on: the file is changed and not committed.
        try Data("not an export\n".utf8).write(to: bed.exportFile)
        let status = try git(["status", "--porcelain"]).stdoutText

        let report = try bed.importOther(.git(revision: "HEAD", path: ExportFormat.defaultFileName, directory: bed.project))
        #expect(report.count("created") == 5, "\(report.items)")
        #expect(bed.read("\(Self.b).jsonl", in: bed.otherSlugDir) == bed.read("\(Self.b).jsonl"))
        #expect(try git(["status", "--porcelain"]).stdoutText == status)
        #expect(String(decoding: try Data(contentsOf: bed.exportFile), as: UTF8.self) == "not an export\n")

        let missing = try #require(throws: CCPodError.self) {
            try bed.importOther(.git(revision: "no-such-branch", path: ExportFormat.defaultFileName, directory: bed.project))
        }
        #expect(missing.status == .usage && missing.message.contains("no-such-branch"))
    }

    @Test("A secret in bytes that travel as base64 (not UTF-8) is replaced with the whole chunk; the file still imports")
    func secretInBinaryChunk() throws {
        let bed = try ExportBed()
        try bed.write(ExportBed.turn(Self.a, 1, prompt: "hello", answer: "fine"), "\(Self.a).jsonl")
        let token = "ghp_R8mK2pQ7vX4nL9sT3wY6zB1cD5fH0jA2eG4i"
        try bed.write(Data("before\n".utf8) + Data("latin-1 caf".utf8) + Data([0xE9]) + Data(" token \(token)\n".utf8) + Data("after\n".utf8),
                      "\(Self.a)/tool-results/out.log")
        let summary = try bed.export()
        #expect(summary.redactions == ["base64-github-token": 1], "\(summary.redactions)")
        #expect(!String(decoding: try Data(contentsOf: bed.exportFile), as: UTF8.self).contains(Data(token.utf8).base64EncodedString().prefix(20)))
        try bed.importOther()
        let imported = String(decoding: bed.read("\(Self.a)/tool-results/out.log", in: bed.otherSlugDir), as: UTF8.self)
        #expect(imported.hasPrefix("before\n[REDACTED:base64-github-token:") && imported.hasSuffix("]after\n") && !imported.contains(token), "\(imported)")
    }

    @Test("Hostile files are refused whole: a path outside the session, a cut-off file, a broken embedded line")
    func hostileExportsAreRefused() throws {
        let bed = try ExportBed()
        try Self.twoSessions(bed)
        try bed.export()
        let good = String(decoding: try Data(contentsOf: bed.exportFile), as: UTF8.self)
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let fileLine = try #require(lines.firstIndex { $0.contains("subagents/agent-x1.jsonl") && $0.contains("\"record\":\"file\"") })
        var cases: [(String, String)] = []
        var traversal = lines
        traversal[fileLine] = traversal[fileLine].replacingOccurrences(of: "\(Self.a)/subagents/agent-x1.jsonl", with: "../../../../outside.jsonl")
        cases.append(("traversal", traversal.joined(separator: "\n")))
        var otherSession = lines
        otherSession[fileLine] = otherSession[fileLine].replacingOccurrences(of: "\(Self.a)/subagents", with: "\(Self.b)/subagents")
        cases.append(("another session's folder", otherSession.joined(separator: "\n")))
        cases.append(("cut off", lines.dropLast(2).joined(separator: "\n") + "\n"))
        var broken = lines
        let jLine = try #require(lines.firstIndex { $0.hasPrefix("{\"j\":") })
        broken[jLine] = "{\"j\":{\"type\":\"user\",}"
        cases.append(("broken line", broken.joined(separator: "\n")))
        cases.append(("not an export", "{\"hello\":1}\n"))
        for (name, text) in cases {
            let file = bed.tmp.url.appendingPathComponent("hostile-\(name.count).jsonl")
            try Data(text.utf8).write(to: file)
            let error = try #require(throws: CCPodError.self, "\(name)") { try bed.importOther(.file(file.path)) }
            #expect(error.status == .badData, "\(name): \(error.message)")
            #expect(ExportBed.files(under: bed.otherClaude).isEmpty, "\(name) wrote \(ExportBed.files(under: bed.otherClaude))")
        }
        #expect(!FileManager.default.fileExists(atPath: bed.tmp.url.appendingPathComponent("outside.jsonl").path))
    }
}
