@testable import CCPodCLI
@testable import CCPodKit
import Foundation
import Testing

/// What a sync says about itself: counts in the right number, a fork's bytes both ways,
/// and a dry run that tells what `sync` would do.
@Suite("Sync summaries tell the truth")
struct SyncRenderingTests {
    static func report(_ items: [SyncItem], exchanges: Int = 1, dryRun: Bool = false) -> SyncReport {
        SyncReport(mode: "sync", pod: "p", dryRun: dryRun, items: items, exchanges: exchanges, seconds: 0.5, warnings: [])
    }

    @Test func oneIsSingular() {
        let one = Self.report([SyncItem(path: "a", action: .inSync)])
        #expect(SyncRendering.summary(one).contains("everything in sync (1 file)"))
        #expect(SyncRendering.summary(one).contains("· 1 exchange ·"))
        let two = Self.report([SyncItem(path: "a", action: .inSync), SyncItem(path: "b", action: .inSync)], exchanges: 2)
        #expect(SyncRendering.summary(two).contains("everything in sync (2 files)"))
        #expect(SyncRendering.summary(two).contains("· 2 exchanges ·"))
        #expect(SyncRendering.summary(Self.report([SyncItem(path: "a", action: .conflict)])).contains("1 conflict ·"))
        #expect(SyncRendering.summary(Self.report([SyncItem(path: "a", action: .conflict), SyncItem(path: "b", action: .conflict)]))
                .contains("2 conflicts"))
        #expect(SyncRendering.line(SyncItem(path: "a", action: .pushed, lines: 1, bytes: 10), dryRun: false).contains("+1 line "))
        #expect(SyncRendering.line(SyncItem(path: "a", action: .pushed, lines: 2, bytes: 10), dryRun: false).contains("+2 lines"))
    }

    @Test func aForkCountsBothExchanges() {
        let fork = Self.report([SyncItem(path: "a", action: .forked, lines: 3, bytes: 300, sentBytes: 2048)], exchanges: 2)
        #expect(fork.bytesDown == 300)
        #expect(fork.bytesUp == 2048)
        #expect(SyncRendering.summary(fork).contains("2.0 KB up, 300 B down"))
    }

    /// A real fork against a `local:` pod: the sibling sent in the second exchange is counted up.
    @Test func aRealForkCountsTheSiblingSent() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let id = "11111111-2222-4333-8444-555555555555"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 4, text: "laptop"), to: bed.localTranscript(id))
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 3, start: 4, text: "pod"), to: bed.podTranscript(id))
        // The dry run says it would fork, and moves nothing.
        let dry = try bed.run(.sync, dryRun: true)
        #expect(dry.items.map(\.action) == [.forked])
        #expect(dry.items.first?.detail?.contains("would") == true)
        #expect(SyncRendering.line(dry.items[0], dryRun: true).hasPrefix("would: forked"))
        let report = try bed.run(.sync)
        #expect(report.exchanges == 2)
        let podSibling = try #require(SyncTestBed.transcripts(in: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)").first { $0 != "\(id).jsonl" })
        let sent = SyncTestBed.read("\(bed.podClaude)/projects/\(SyncTestBed.podSlug)/\(podSibling)").count
        #expect(report.bytesUp == Int64(sent))
        #expect(report.bytesDown > 0)
    }
}
