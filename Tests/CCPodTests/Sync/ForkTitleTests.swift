import CCPodKit
import Foundation
import Testing

@Suite("Fork siblings after the fork")
struct ForkTitleTests {
    let id = "11111111-2222-4333-8444-555555555555"

    func forked() throws -> SyncTestBed {
        let bed = try SyncTestBed()
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 4, text: "laptop"), to: bed.localTranscript(id))
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 3, start: 4, text: "pod"), to: bed.podTranscript(id))
        #expect(try bed.run(.sync).count(.forked) == 1)
        return bed
    }

    @Test func growthOnEitherSideOfAForkPairSettles() throws {
        let bed = try forked()
        defer { bed.remove() }
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 10, text: "more laptop"), to: bed.localTranscript(id))
        let a = try bed.run(.sync)
        print("A", a.items.map { "\($0.action) \($0.path)" })
        let b = try bed.run(.sync)
        print("B", b.items.map { "\($0.action) \($0.path)" })
        #expect(b.items.allSatisfy { $0.action == .inSync })
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 20, text: "more pod"), to: bed.podTranscript(id))
        let c = try bed.run(.sync)
        print("C", c.items.map { "\($0.action) \($0.path)" })
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 21, text: "more pod"), to: bed.podTranscript(id))
        let d = try bed.run(.sync)
        print("D", d.items.map { "\($0.action) \($0.path)" })
        #expect(d.items.allSatisfy { [.inSync, .pulled].contains($0.action) })
    }
}
