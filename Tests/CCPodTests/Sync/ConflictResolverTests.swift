import CCPodKit
import Foundation
import Testing

@Suite("ccpod resolve")
struct ConflictResolverTests {
    let id = "11111111-2222-4333-8444-555555555555"
    let other = "33333333-2222-4333-8444-555555555555"

    @Test func takingASideBacksUpWhatItReplacesAndSyncsAgain() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let mine = SyncTestBed.lines(session: id, count: 3, text: "mine")
        let theirs = SyncTestBed.lines(session: id, count: 4, text: "theirs")
        try SyncTestBed.write(mine, to: bed.localTranscript(id))
        try SyncTestBed.write(theirs, to: bed.podTranscript(id))
        let mine2 = SyncTestBed.lines(session: other, count: 2, text: "mine")
        let theirs2 = SyncTestBed.lines(session: other, count: 2, text: "theirs")
        try SyncTestBed.write(mine2, to: bed.localTranscript(other))
        try SyncTestBed.write(theirs2, to: bed.podTranscript(other))
        #expect(try bed.run(.sync).conflicts == 2)
        let resolver = ConflictResolver(engine: bed.engine())
        #expect(resolver.conflicts().count == 2)

        let local = try resolver.take(.local, path: "projects/\(SyncTestBed.localSlug)/\(id).jsonl", scope: bed.scope)
        #expect(SyncTestBed.read(bed.podTranscript(id)) == mine)
        #expect(SyncTestBed.read(local.backup) == theirs)

        let pod = try resolver.take(.pod, path: "projects/\(SyncTestBed.localSlug)/\(other).jsonl", scope: bed.scope)
        #expect(SyncTestBed.read(bed.localTranscript(other)) == theirs2)
        #expect(SyncTestBed.read(pod.backup) == mine2)

        #expect(resolver.conflicts().isEmpty)
        let after = try bed.run(.sync)
        #expect(after.items.allSatisfy { $0.action == .inSync }, "\(after.items)")
    }
}

@Suite("ccpod resolve --keep-both")
struct KeepBothTests {
    let id = "11111111-2222-4333-8444-555555555555"

    /// Every line of a session names it, and its last title says where it came from.
    static func expectResumable(_ path: String, id: String, titled suffix: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = SyncTestBed.read(path).split(separator: 0x0A).map { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
        #expect(!lines.isEmpty && lines.allSatisfy { $0?["sessionId"] as? String == id }, "\(path)", sourceLocation: sourceLocation)
        if let suffix {
            let title = lines.last { $0?["type"] as? String == "custom-title" }??["customTitle"] as? String
            #expect(title?.hasSuffix("(\(suffix))") == true, "\(String(describing: title))", sourceLocation: sourceLocation)
        }
    }

    @Test func keepsBothVersionsAsResumableSessionsOnEachSide() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let mine = SyncTestBed.lines(session: id, count: 3, text: "mine")
        let theirs = SyncTestBed.lines(session: id, count: 4, text: "theirs")
        try SyncTestBed.write(mine, to: bed.localTranscript(id))
        try SyncTestBed.write(theirs, to: bed.podTranscript(id))
        #expect(try bed.run(.sync).conflicts == 1)
        let resolver = ConflictResolver(engine: bed.engine())
        let path = "projects/\(SyncTestBed.localSlug)/\(id).jsonl"
        #expect(resolver.conflictPath(for: id) == path)
        let kept = try resolver.keepBoth(path: path, scope: bed.scope)
        #expect(resolver.conflicts().isEmpty)

        // Nothing replaced; each side has its own version and the other's as a sibling.
        #expect(SyncTestBed.read(bed.localTranscript(id)) == mine)
        #expect(SyncTestBed.read(bed.podTranscript(id)) == theirs)
        #expect(SyncTestBed.transcripts(in: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)") .count == 2)
        #expect(SyncTestBed.transcripts(in: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)").count == 2)
        let localSibling = bed.localTranscript(kept.localSiblingId)
        let podSibling = bed.podTranscript(kept.podSiblingId)
        Self.expectResumable(localSibling, id: kept.localSiblingId, titled: "from pod")
        Self.expectResumable(podSibling, id: kept.podSiblingId, titled: "from laptop")
        Self.expectResumable(bed.localTranscript(id), id: id)
        Self.expectResumable(bed.podTranscript(id), id: id)
        let back = String(decoding: SyncTestBed.read(localSibling), as: UTF8.self).replacingOccurrences(of: kept.localSiblingId, with: id)
        #expect(back.hasPrefix(String(decoding: theirs, as: UTF8.self)))

        // The next sync has nothing to do, and each continuation travels to its sibling.
        let after = try bed.run(.sync)
        #expect(after.items.allSatisfy { $0.action == .inSync }, "\(after.items)")
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 10, text: "pod later"), to: bed.podTranscript(id))
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 10, text: "laptop later"), to: bed.localTranscript(id))
        let third = try bed.run(.sync)
        #expect(third.count(.pulled) == 1 && third.count(.pushed) == 1, "\(third.items)")
        #expect(String(decoding: SyncTestBed.read(localSibling), as: UTF8.self).contains("pod later 10"))
        #expect(String(decoding: SyncTestBed.read(podSibling), as: UTF8.self).contains("laptop later 10"))
        Self.expectResumable(localSibling, id: kept.localSiblingId)
        Self.expectResumable(podSibling, id: kept.podSiblingId)
    }

    @Test func onlySessionsCanBeKeptTwice() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let memory = "projects/\(SyncTestBed.localSlug)/memory/notes.md"
        try SyncTestBed.write(Data("mine\n".utf8), to: "\(bed.localClaude)/\(memory)")
        try SyncTestBed.write(Data("theirs\n".utf8), to: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)/memory/notes.md")
        #expect(try bed.run(.sync).conflicts == 1)
        #expect(throws: CCPodError.self) { try ConflictResolver(engine: bed.engine()).keepBoth(path: memory, scope: bed.scope) }
        #expect(SyncTestBed.read("\(bed.localClaude)/\(memory)") == Data("mine\n".utf8))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: InterruptionTests.binary), "the ccpod binary is not built"))
    func theCommandKeepsBothBySessionId() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        bed.scope = SyncScope(projects: [], all: true)
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3, text: "mine"), to: "\(bed.localClaude)/projects/p/\(id).jsonl")
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3, text: "theirs"), to: "\(bed.podClaude)/projects/p/\(id).jsonl")
        let run = InterruptionTests.Run(bed: bed)
        func ccpod(_ args: [String]) throws -> ChildProcess.Output {
            try ChildProcess.run(InterruptionTests.binary, args + ["--all", "--claude-dir", bed.localClaude, "--pod", "local:\(bed.podRoot)", "--busy-seconds", "0"], environment: run.env)
        }
        #expect(try ccpod(["sync"]).status == 2)
        let resolve = try ccpod(["resolve", "--keep-both", id])
        #expect(resolve.status == 0, "\(resolve.stderrText)")
        #expect(resolve.stdoutText == "kept-both  projects/p/\(id).jsonl\n")
        #expect(resolve.stderrText.contains("nothing was replaced"))
        #expect(SyncTestBed.transcripts(in: "\(bed.localClaude)/projects/p").count == 2)
        #expect(SyncTestBed.transcripts(in: "\(bed.podClaude)/projects/p").count == 2)
        #expect(try ccpod(["sync"]).status == 0)
        #expect(try ccpod(["resolve", "--keep-both", "--take", "pod"]).status == 64)
    }
}
