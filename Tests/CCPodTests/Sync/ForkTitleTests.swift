@testable import CCPodKit
import Foundation
import Testing

/// After a fork, each side has its original and the other side's continuation as a
/// sibling titled "… (from pod)" / "… (from laptop)", each paired with the other side's
/// original. Lines keep moving along those pairs; titles must not, and the pairs must
/// settle (no fork again) although their two files differ by a title line.
@Suite("Fork siblings after the fork")
struct ForkTitleTests {
    static let id = TranscriptFixtures.workSession
    static let title = "Resumable training — ViT-Tiny · CIFAR-10"
    var id: String { Self.id }

    /// The 2.1.x fixture session (it has a `/rename` title) pushed, then continued on both sides and forked.
    func forked() throws -> (bed: SyncTestBed, laptopSibling: String, podSibling: String) {
        let bed = try SyncTestBed()
        let fixture = TranscriptFixtures.claudeDir.appendingPathComponent("projects/\(TranscriptFixtures.tinyVitSlug)/\(id).jsonl")
        try SyncTestBed.write(try Data(contentsOf: fixture), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 100, text: "laptop"), to: bed.localTranscript(id))
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 3, start: 100, text: "pod"), to: bed.podTranscript(id))
        let report = try bed.run(.sync)
        #expect(report.count(.forked) == 1)
        #expect(report.exchanges == 2)
        let laptopSibling = try #require(SyncTestBed.transcripts(in: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)").first { $0 != "\(id).jsonl" })
        let podSibling = try #require(SyncTestBed.transcripts(in: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)").first { $0 != "\(id).jsonl" })
        return (bed, "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)/\(laptopSibling)",
                "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)/\(podSibling)")
    }

    static func title(_ path: String) throws -> String? { try SessionSummary.read(URL(fileURLWithPath: path)).title }
    static func sessionId(_ path: String) -> String { String(path.split(separator: "/").last!.dropLast(6)) }

    /// What claude appends when it resumes a session: its title again, then metadata (the fixture's shapes).
    static func resumeLines(session: String, title: String) -> Data {
        let escaped = title.replacingOccurrences(of: "\"", with: "\\\"")
        return Data("""
            {"type":"custom-title","customTitle":"\(escaped)","sessionId":"\(session)"}
            {"type":"mode","mode":"normal","sessionId":"\(session)"}
            {"type":"permission-mode","permissionMode":"default","sessionId":"\(session)"}

            """.utf8)
    }

    @Test func resumingASiblingNeverRenamesTheOtherSidesOriginal() throws {
        let (bed, laptopSibling, podSibling) = try forked()
        defer { bed.remove() }
        #expect(try Self.title(laptopSibling) == "\(Self.title) (from pod)")
        #expect(try Self.title(podSibling) == "\(Self.title) (from laptop)")
        // Claude resumes each sibling: it writes the sibling's title and metadata.
        try SyncTestBed.append(Self.resumeLines(session: Self.sessionId(laptopSibling), title: "\(Self.title) (from pod)"), to: laptopSibling)
        try SyncTestBed.append(Self.resumeLines(session: Self.sessionId(podSibling), title: "\(Self.title) (from laptop)"), to: podSibling)
        let report = try bed.run(.sync)
        #expect(report.count(.forked) == 0, "\(report.items)")
        #expect(report.exchanges == 1)
        #expect(report.count(.pushed) == 1 && report.count(.pulled) == 1, "\(report.items)")
        // Each original keeps its own title; the metadata lines crossed, under the original's id.
        for original in [bed.localTranscript(id), bed.podTranscript(id)] {
            #expect(try Self.title(original) == Self.title, "\(original)")
            let text = String(decoding: SyncTestBed.read(original), as: UTF8.self)
            #expect(text.contains("{\"type\":\"permission-mode\",\"permissionMode\":\"default\",\"sessionId\":\"\(id)\"}"))
            #expect(!text.contains("(from "))
        }
        #expect(try Self.title(laptopSibling) == "\(Self.title) (from pod)")
        #expect(try Self.title(podSibling) == "\(Self.title) (from laptop)")
        // Settled: nothing moves again, and growth keeps flowing along the pairs.
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })
        try SyncTestBed.append(SyncTestBed.lines(session: Self.sessionId(laptopSibling), count: 1, start: 200, text: "again"), to: laptopSibling)
        try SyncTestBed.append(SyncTestBed.lines(session: Self.sessionId(podSibling), count: 1, start: 300, text: "pod again"), to: podSibling)
        let again = try bed.run(.sync)
        #expect(again.count(.forked) == 0 && again.count(.pulled) == 1 && again.count(.pushed) == 1, "\(again.items)")
        #expect(String(decoding: SyncTestBed.read(bed.localTranscript(id)), as: UTF8.self).contains("pod again 300"))
        #expect(String(decoding: SyncTestBed.read(bed.podTranscript(id)), as: UTF8.self).contains("again 200"))
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })
    }

    /// A sibling that only gained its title line (claude opened it and wrote nothing else)
    /// moves on alone: nothing crosses, nothing stays pending.
    @Test func aTitleOnlyResumeStaysHere() throws {
        let (bed, laptopSibling, _) = try forked()
        defer { bed.remove() }
        let podOriginal = SyncTestBed.read(bed.podTranscript(id))
        try SyncTestBed.append(Data("{\"type\":\"custom-title\",\"customTitle\":\"Renamed here\",\"sessionId\":\"\(Self.sessionId(laptopSibling))\"}\n".utf8),
                               to: laptopSibling)
        let report = try bed.run(.sync)
        #expect(report.items.allSatisfy { $0.action == .inSync }, "\(report.items)")
        #expect(SyncTestBed.read(bed.podTranscript(id)) == podOriginal)
        #expect(try Self.title(laptopSibling) == "Renamed here")
        // Later lines after it still go, and land after the pod's own.
        try SyncTestBed.append(SyncTestBed.lines(session: Self.sessionId(laptopSibling), count: 1, start: 400, text: "after"), to: laptopSibling)
        #expect(try bed.run(.sync).count(.pushed) == 1)
        #expect(String(decoding: SyncTestBed.read(bed.podTranscript(id)), as: UTF8.self).contains("after 400"))
        #expect(try Self.title(bed.podTranscript(id)) == Self.title)
    }

    @Test func growthOnEitherSideOfAForkPairSettles() throws {
        let (bed, _, _) = try forked()
        defer { bed.remove() }
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 10, text: "more laptop"), to: bed.localTranscript(id))
        #expect(try bed.run(.sync).count(.pushed) == 1)
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })
        for i in 0..<2 {
            // The pod's original grows twice: the second time used to fork again (a hash derived from the wrong bytes).
            try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 20 + i, text: "more pod"), to: bed.podTranscript(id))
            let report = try bed.run(.sync)
            #expect(report.count(.forked) == 0 && report.count(.pulled) == 1, "\(report.items)")
        }
        // And the laptop's original, appended on the pod's sibling, is agreed by the pod's own hash.
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 30, text: "more laptop"), to: bed.localTranscript(id))
        #expect(try bed.run(.sync).count(.pushed) == 1)
        #expect(try bed.run(.status).items.allSatisfy { $0.action == .inSync })
    }

    @Test func titleLinesAreToldApart() {
        #expect(SiblingTitles.isTitleLine(Array("{\"type\":\"custom-title\",\"customTitle\":\"x\",\"sessionId\":\"s\"}".utf8)))
        #expect(SiblingTitles.isTitleLine(Array("{\"customTitle\":\"x (from pod)\",\"sessionId\":\"s\",\"type\":\"custom-title\"}".utf8)))
        // A prompt that talks about titles is not one.
        #expect(!SiblingTitles.isTitleLine(Array("{\"type\":\"user\",\"message\":{\"content\":\"the \\\"custom-title\\\" line\"}}".utf8)))
        #expect(!SiblingTitles.isTitleLine(Array("{\"type\":\"custom-title\"".utf8)))
        let kept = SiblingTitles.removing(from: Data("{\"type\":\"mode\"}\n{\"type\":\"custom-title\",\"customTitle\":\"x\"}\n{\"type\":\"user\"}\n".utf8))
        #expect(kept == Data("{\"type\":\"mode\"}\n{\"type\":\"user\"}\n".utf8))
    }
}
