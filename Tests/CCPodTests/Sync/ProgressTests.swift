import CCPodCLI
import CCPodKit
import Foundation
import Testing

@Suite("Progress on stderr")
struct ProgressTests {
    typealias Snapshot = TransferProgress.Snapshot

    @Test func theLineShowsFilesBytesRateAndTimeLeft() {
        let s = Snapshot(filesDone: 3, filesTotal: 12, bytesDone: 1_048_576, bytesTotal: 4 * 1_048_576)
        #expect(ProgressLine.text(s, elapsed: 2) == "3/12 files · 1.0 MB / 4.0 MB · 512.0 KB/s · 6 s left")
        // No rate before there is anything to measure.
        #expect(ProgressLine.text(Snapshot(filesTotal: 2, bytesTotal: 900), elapsed: 0) == "0/2 files · 0 B / 900 B")
        #expect(ProgressLine.duration(125) == "2 min 5 s")
        #expect(ProgressLine.duration(3 * 3600 + 65) == "3 h 1 min")
    }

    /// A clock the test moves by hand, and what the display wrote.
    final class Fake: Sendable {
        let now = Locked(0.0)
        let written = Locked([String]())
    }

    @Test func drawsAtMostEveryIntervalAndClearsBeforeTheSummary() {
        let fake = Fake()
        let display = TerminalProgress(isTerminal: true, interval: 0.1, clock: { fake.now.current }) { line in fake.written.withLock { $0.append(line) } }
        let s = Snapshot(filesDone: 0, filesTotal: 1, bytesDone: 10, bytesTotal: 100)
        display.update(s)
        fake.now.withLock { $0 = 0.05 }
        display.update(s)  // too soon: not drawn
        fake.now.withLock { $0 = 0.12 }
        display.update(s)
        #expect(fake.written.current.count == 2)
        #expect(fake.written.current.allSatisfy { $0.hasPrefix("\r\u{1B}[K0/1 files") })
        display.clear()
        display.clear()  // once is enough
        #expect(fake.written.current.last == "\r\u{1B}[K")
        #expect(fake.written.current.count == 3)
    }

    @Test func nothingAtAllWhenStderrIsNotATerminal() {
        let fake = Fake()
        let display = TerminalProgress(isTerminal: false, clock: { fake.now.current }) { line in fake.written.withLock { $0.append(line) } }
        #expect(display.meter() == nil)
        display.update(Snapshot(filesDone: 1, filesTotal: 1, bytesDone: 1, bytesTotal: 1))
        display.clear()
        #expect(fake.written.current.isEmpty)
    }

    @Test func theCountsComeFromTheStreamItself() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let id = "11111111-2222-4333-8444-555555555555"
        let other = "22222222-2222-4333-8444-555555555555"
        let mine = SyncTestBed.lines(session: id, count: 50)
        let theirs = SyncTestBed.lines(session: other, count: 80)
        try SyncTestBed.write(mine, to: bed.localTranscript(id))
        try SyncTestBed.write(theirs, to: bed.podTranscript(other))
        let seen = Locked([Snapshot]())
        var engine = bed.engine()
        engine.progress = TransferProgress { snapshot in seen.withLock { $0.append(snapshot) } }
        bed.connection = engine.connection
        let report = try engine.run(scope: bed.scope, options: SyncOptions(direction: .sync, busySeconds: 0))
        #expect(report.count(.copiedToPod) == 1 && report.count(.copiedFromPod) == 1)
        let last = try #require(seen.current.last)
        #expect(last == Snapshot(filesDone: 2, filesTotal: 2, bytesDone: Int64(mine.count + theirs.count), bytesTotal: Int64(mine.count + theirs.count)))
        // It moved while the bytes did, never backwards.
        let done = seen.current.map(\.bytesDone)
        #expect(done == done.sorted())
        #expect(seen.current.count > 3)
    }
}
