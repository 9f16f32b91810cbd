import CCPodKit
import Foundation
import Testing

/// First contact with a session both sides have and no agreement yet: pull, push, sync
/// and status must tell the same story about each shape, in one exchange each.
@Suite("First contact: every command agrees on every shape")
struct FirstContactTests {
    static let id = "11111111-2222-4333-8444-555555555555"

    enum Shape: String, CaseIterable, Sendable {
        case equal, localPrefix, podPrefix, diverged, localEndsMidLine, podEndsMidLine

        /// (here, on the pod)
        var contents: (Data, Data) {
            let all = SyncTestBed.lines(session: FirstContactTests.id, count: 5)
            let three = SyncTestBed.lines(session: FirstContactTests.id, count: 3)
            let half = SyncTestBed.lines(session: FirstContactTests.id, count: 1, start: 3).prefix(40)
            switch self {
            case .equal: return (all, all)
            case .localPrefix: return (three, all)
            case .podPrefix: return (all, three)
            case .diverged:
                return (SyncTestBed.lines(session: FirstContactTests.id, count: 3, text: "mine"),
                        SyncTestBed.lines(session: FirstContactTests.id, count: 3, text: "theirs"))
            case .localEndsMidLine: return (three + half, all)
            case .podEndsMidLine: return (all, three + half)
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var shape: Shape
        var direction: SyncOptions.Direction
        var testDescription: String { "\(shape.rawValue), \(direction.rawValue)" }
    }

    static let cases: [Case] = Shape.allCases.flatMap { shape in
        [SyncOptions.Direction.pull, .push, .sync, .status].map { Case(shape: shape, direction: $0) }
    }

    @Test(arguments: cases)
    func firstContact(_ c: Case) throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let (here, there) = c.shape.contents
        try SyncTestBed.write(here, to: bed.localTranscript(Self.id))
        try SyncTestBed.write(there, to: bed.podTranscript(Self.id))
        let report = try bed.run(c.direction)
        #expect(report.exchanges == 1)
        #expect(report.items.count == 1)
        let item = try #require(report.items.first)
        let local = SyncTestBed.read(bed.localTranscript(Self.id))
        let pod = SyncTestBed.read(bed.podTranscript(Self.id))
        // The two lines one copy has beyond the other.
        let twoLines = max(here.count, there.count) - min(here.count, there.count)
        switch (c.shape, c.direction) {
        case (.equal, _):
            #expect(item.action == .inSync)
            #expect(local == here && pod == there)
        case (.localPrefix, .pull), (.localPrefix, .sync):
            // The pod's two more lines come home at once.
            #expect(item.action == .pulled)
            #expect(item.lines == 2 && item.bytes == Int64(twoLines))
            #expect(local == there && pod == there)
        case (.localPrefix, _):
            #expect(item.action == .podAhead)
            #expect(item.lines == 2 && item.bytes == Int64(twoLines))
            #expect(local == here && pod == there)
        case (.podPrefix, .push), (.podPrefix, .sync):
            // This side's two more lines are appended on the pod.
            #expect(item.action == .pushed)
            #expect(item.lines == 2 && item.bytes == Int64(twoLines))
            #expect(local == here && pod == here)
        case (.podPrefix, _):
            #expect(item.action == .localAhead)
            #expect(item.lines == 2 && item.bytes == Int64(twoLines))
            #expect(local == here && pod == there)
        case (.diverged, _), (.localEndsMidLine, _), (.podEndsMidLine, _):
            // Not whole lines of one another: nothing is overwritten or appended.
            #expect(item.action == .conflict)
            #expect(local == here && pod == there)
        }
        // Whatever was agreed holds: a sync then makes both sides one file (or leaves the conflict).
        let after = try bed.run(.sync)
        #expect(after.exchanges == 1)
        let conflict = [.diverged, .localEndsMidLine, .podEndsMidLine].contains(c.shape)
        #expect(after.items.map(\.action).allSatisfy { conflict ? $0 == .conflict : [.inSync, .pulled, .pushed].contains($0) })
        if !conflict {
            #expect(SyncTestBed.read(bed.localTranscript(Self.id)) == SyncTestBed.read(bed.podTranscript(Self.id)))
            #expect(try bed.run(.status).items.map(\.action) == [.inSync])
        }
    }

    /// A push that finds the pod ahead agrees on the common lines: the next pull moves the rest.
    @Test func aPushThatFindsThePodAheadLetsTheNextPullFastForward() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let (here, there) = Shape.localPrefix.contents
        try SyncTestBed.write(here, to: bed.localTranscript(Self.id))
        try SyncTestBed.write(there, to: bed.podTranscript(Self.id))
        #expect(try bed.run(.push).items.map(\.action) == [.podAhead])
        let pull = try bed.run(.pull)
        #expect(pull.items.map(\.action) == [.pulled])
        #expect(pull.items.first?.lines == 2)
        #expect(SyncTestBed.read(bed.localTranscript(Self.id)) == there)
    }

    /// Dry runs say what the real command would do, and change nothing.
    @Test func dryRunsTellTheFastForward() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let (here, there) = Shape.localPrefix.contents
        try SyncTestBed.write(here, to: bed.localTranscript(Self.id))
        try SyncTestBed.write(there, to: bed.podTranscript(Self.id))
        #expect(try bed.run(.pull, dryRun: true).items.map(\.action) == [.pulled])
        #expect(try bed.run(.push, dryRun: true).items.map(\.action) == [.podAhead])
        #expect(SyncTestBed.read(bed.localTranscript(Self.id)) == here)
        let (longer, shorter) = Shape.podPrefix.contents
        try SyncTestBed.write(longer, to: bed.localTranscript(Self.id))
        try SyncTestBed.write(shorter, to: bed.podTranscript(Self.id))
        #expect(try bed.run(.push, dryRun: true).items.map(\.action) == [.pushed])
        #expect(try bed.run(.pull, dryRun: true).items.map(\.action) == [.localAhead])
        #expect(SyncTestBed.read(bed.podTranscript(Self.id)) == shorter)
    }
}
