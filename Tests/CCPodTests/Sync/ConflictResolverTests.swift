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
