import CCPodKit
import Foundation
import Testing

@Suite("Sync semantics against a local: pod")
struct SyncSemanticsTests {
    let id = "11111111-2222-4333-8444-555555555555"

    @Test func coldPushCopiesBytesIntoThePodSlug() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let content = SyncTestBed.lines(session: id, count: 10)
        try SyncTestBed.write(content, to: bed.localTranscript(id))
        let report = try bed.run(.push)
        #expect(report.exchanges == 1)
        #expect(report.items.map(\.action) == [.copiedToPod])
        #expect(SyncTestBed.read(bed.podTranscript(id)) == content)
        let mode = try FileManager.default.attributesOfItem(atPath: bed.podTranscript(id))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// Many new files (the pod flushes them by file system), one of them empty: each
    /// arrives byte for byte, and the hashes taken while they were sent are the ones
    /// the next sync agrees on (nothing moves again).
    @Test func manyNewFilesAndAnEmptyOneArriveAndStayInSync() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        var ids: [String] = []
        for i in 0..<40 {
            let session = String(format: "11111111-2222-4333-8444-%012d", i)
            ids.append(session)
            try SyncTestBed.write(SyncTestBed.lines(session: session, count: 1 + i % 7), to: bed.localTranscript(session))
        }
        let results = "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)/\(ids[0])/tool-results"
        try SyncTestBed.write(Data(), to: results + "/empty.txt")
        try SyncTestBed.write(Data("out\n".utf8), to: results + "/full.txt")
        let report = try bed.run(.push)
        #expect(report.exchanges == 1)
        for session in ids {
            #expect(SyncTestBed.read(bed.podTranscript(session)) == SyncTestBed.read(bed.localTranscript(session)))
        }
        let podResults = "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)/\(ids[0])/tool-results"
        #expect(FileManager.default.fileExists(atPath: podResults + "/empty.txt"))
        #expect(SyncTestBed.read(podResults + "/empty.txt").isEmpty)
        #expect(SyncTestBed.read(podResults + "/full.txt") == Data("out\n".utf8))
        let again = try bed.run(.sync)
        #expect(again.items.allSatisfy { $0.action == .inSync })
    }

    @Test func nothingChangedIsOneExchangeAndNoWrites() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 10), to: bed.localTranscript(id))
        try bed.run(.push)
        let report = try bed.run(.sync)
        #expect(report.exchanges == 1)
        #expect(report.items.allSatisfy { $0.action == .inSync })
    }

    @Test func localGrowthAppendsOnlyNewCompleteLines() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 10), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 3, start: 10), to: bed.localTranscript(id))
        // A torn line being written must not travel.
        try SyncTestBed.append(Data("{\"type\":\"user\",\"sessi".utf8), to: bed.localTranscript(id))
        let report = try bed.run(.push)
        #expect(report.items.first?.action == .pushed)
        #expect(report.items.first?.lines == 3)
        let expected = SyncTestBed.lines(session: id, count: 10) + SyncTestBed.lines(session: id, count: 3, start: 10)
        #expect(SyncTestBed.read(bed.podTranscript(id)) == expected)
    }

    /// A push appended its lines on the pod and was cut off before ccpod heard back; this
    /// side grew again since. The next push finds its first lines already there and
    /// appends only the rest: one continuation, no sibling.
    @Test func anAppendAlreadyPartlyThereIsFinishedNotForked() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let first = SyncTestBed.lines(session: id, count: 10)
        let cutOff = SyncTestBed.lines(session: id, count: 3, start: 10)
        let later = SyncTestBed.lines(session: id, count: 2, start: 13)
        try SyncTestBed.write(first, to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(cutOff, to: bed.localTranscript(id))
        // What the cut-off push had already done on the pod.
        try SyncTestBed.append(cutOff, to: bed.podTranscript(id))
        try SyncTestBed.append(later, to: bed.localTranscript(id))
        let report = try bed.run(.push)
        #expect(report.items.map(\.action) == [.pushed], "\(report.items)")
        #expect(SyncTestBed.read(bed.podTranscript(id)) == first + cutOff + later)
        #expect(SyncTestBed.read(bed.localTranscript(id)) == first + cutOff + later)
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })
    }

    /// The pod's copy is gone while this side grew: the append finds no file to finish
    /// (the agent does no arithmetic on a missing file's size) and the exchange ends well.
    @Test func anAppendToAFileGoneFromThePodEndsTheExchangeWell() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 10), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 3, start: 10), to: bed.localTranscript(id))
        try FileManager.default.removeItem(atPath: bed.podTranscript(id))
        let report = try bed.run(.push)
        #expect(report.exchanges >= 1)
        #expect(!report.items.contains { $0.action == .failed }, "\(report.items)")
        #expect(SyncTestBed.read(bed.localTranscript(id)).count > 0)
    }

    /// The pod's copy grew by other lines than the ones sent: not "partly there", so it
    /// is never spliced onto; both continuations are kept.
    @Test func aPodCopyThatWentAnotherWayIsNotTakenForAPartialAppend() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let first = SyncTestBed.lines(session: id, count: 10)
        try SyncTestBed.write(first, to: bed.localTranscript(id))
        try bed.run(.push)
        let mine = SyncTestBed.lines(session: id, count: 3, start: 10)
        // The same line numbers, other words: a partial append's size, not its bytes.
        let theirs = SyncTestBed.lines(session: id, count: 2, start: 10, text: "on the pod")
        try SyncTestBed.append(mine, to: bed.localTranscript(id))
        try SyncTestBed.append(theirs, to: bed.podTranscript(id))
        let report = try bed.run(.sync)
        #expect(report.items.contains { $0.action == .forked }, "\(report.items)")
        #expect(SyncTestBed.read(bed.podTranscript(id)).starts(with: first + theirs))
        #expect(SyncTestBed.read(bed.localTranscript(id)) == first + mine)
    }

    @Test func aSessionsStateFoldersOnThePodComeWithIt() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let other = "99999999-2222-4333-8444-555555555555"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.podTranscript(id))
        let pod = bed.podClaude
        try SyncTestBed.write(Data("v1\n".utf8), to: "\(pod)/file-history/\(id)/abc@v1")
        try SyncTestBed.write(Data("{}".utf8), to: "\(pod)/tasks/\(id)/1.json")
        try SyncTestBed.write(Data("[]".utf8), to: "\(pod)/todos/\(id)-agent-\(id).json")
        // Another session's state, not in scope: stays on the pod.
        try SyncTestBed.write(Data("v1\n".utf8), to: "\(pod)/file-history/\(other)/abc@v1")
        try SyncTestBed.write(Data("[]".utf8), to: "\(pod)/todos/\(other)-agent-\(other).json")
        try bed.run(.pull)
        let local = bed.localClaude
        #expect(SyncTestBed.read("\(local)/file-history/\(id)/abc@v1") == Data("v1\n".utf8))
        #expect(SyncTestBed.read("\(local)/tasks/\(id)/1.json") == Data("{}".utf8))
        #expect(SyncTestBed.read("\(local)/todos/\(id)-agent-\(id).json") == Data("[]".utf8))
        #expect(!FileManager.default.fileExists(atPath: "\(local)/file-history/\(other)"))
        #expect(!FileManager.default.fileExists(atPath: "\(local)/todos/\(other)-agent-\(other).json"))
    }

    @Test func podGrowthComesHomeByPull() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 5, start: 4), to: bed.podTranscript(id))
        let report = try bed.run(.pull)
        #expect(report.items.first?.action == .pulled)
        #expect(report.items.first?.lines == 5)
        #expect(SyncTestBed.read(bed.localTranscript(id)) == SyncTestBed.read(bed.podTranscript(id)))
        let again = try bed.run(.sync)
        #expect(again.items.allSatisfy { $0.action == .inSync })
    }

    @Test func bothGrewForksIntoResumableSiblingsOnBothSides() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let base = SyncTestBed.lines(session: id, count: 4)
        try SyncTestBed.write(base, to: bed.localTranscript(id))
        try bed.run(.push)
        let localMore = SyncTestBed.lines(session: id, count: 2, start: 4, text: "laptop")
        let podMore = SyncTestBed.lines(session: id, count: 3, start: 4, text: "pod")
        try SyncTestBed.append(localMore, to: bed.localTranscript(id))
        try SyncTestBed.append(podMore, to: bed.podTranscript(id))
        let report = try bed.run(.sync)
        #expect(report.count(.forked) == 1)
        #expect(report.exchanges == 2)
        // Each side keeps its own session untouched.
        #expect(SyncTestBed.read(bed.localTranscript(id)) == base + localMore)
        #expect(SyncTestBed.read(bed.podTranscript(id)) == base + podMore)
        // And has the other's continuation as a sibling with a new session id.
        let localFiles = SyncTestBed.transcripts(in: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)")
        let podFiles = SyncTestBed.transcripts(in: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)")
        #expect(localFiles.count == 2)
        #expect(podFiles.count == 2)
        let localSibling = localFiles.first { $0 != "\(id).jsonl" }!
        let siblingId = String(localSibling.dropLast(6))
        let siblingText = String(decoding: SyncTestBed.read("\(bed.localClaude)/projects/\(SyncTestBed.localSlug)/\(localSibling)"), as: UTF8.self)
        #expect(!siblingText.contains(id))
        #expect(siblingText.contains("pod 6"))
        #expect(siblingText.contains("\"customTitle\""))
        let rewrittenBack = siblingText.replacingOccurrences(of: siblingId, with: id)
        #expect(rewrittenBack.hasPrefix(String(decoding: base + podMore, as: UTF8.self)))
        // Nothing left to do, and growth on a sibling travels to its pair.
        let again = try bed.run(.sync)
        #expect(again.items.allSatisfy { $0.action == .inSync })
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 20, text: "later"), to: bed.podTranscript(id))
        let third = try bed.run(.sync)
        #expect(third.count(.pulled) == 1)
        let siblingNow = String(decoding: SyncTestBed.read("\(bed.localClaude)/projects/\(SyncTestBed.localSlug)/\(localSibling)"), as: UTF8.self)
        #expect(siblingNow.contains("later 20"))
        #expect(!siblingNow.contains(id))
    }

    @Test func newOnPodIsCopiedHomeUnderTheLocalSlug() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let podOnly = "99999999-2222-4333-8444-555555555555"
        let content = SyncTestBed.lines(session: podOnly, count: 6)
        try SyncTestBed.write(content, to: bed.podTranscript(podOnly))
        try SyncTestBed.write(Data("{\"a\":1}\n".utf8), to: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)/\(podOnly)/subagents/agent-a1.jsonl")
        let report = try bed.run(.pull)
        #expect(report.count(.copiedFromPod) == 2)
        #expect(SyncTestBed.read(bed.localTranscript(podOnly)) == content)
        #expect(FileManager.default.fileExists(atPath: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)/\(podOnly)/subagents/agent-a1.jsonl"))
    }

    @Test func deletionIsNeverPropagatedByDefault() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        try bed.run(.push)
        try FileManager.default.removeItem(atPath: bed.localTranscript(id))
        let report = try bed.run(.sync)
        #expect(report.items.first?.action == .deletedLocally)
        #expect(FileManager.default.fileExists(atPath: bed.podTranscript(id)))
        #expect(!FileManager.default.fileExists(atPath: bed.localTranscript(id)))
        let deleting = try bed.run(.push, delete: true)
        #expect(deleting.items.first?.action == .deletedFromPod)
        #expect(!FileManager.default.fileExists(atPath: bed.podTranscript(id)))
    }

    @Test func differentFilesWithoutHistoryAreAConflictNeverAnOverwrite() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let mine = SyncTestBed.lines(session: id, count: 3, text: "mine")
        let theirs = SyncTestBed.lines(session: id, count: 3, text: "theirs")
        try SyncTestBed.write(mine, to: bed.localTranscript(id))
        try SyncTestBed.write(theirs, to: bed.podTranscript(id))
        let report = try bed.run(.sync)
        #expect(report.conflicts == 1)
        #expect(SyncTestBed.read(bed.localTranscript(id)) == mine)
        #expect(SyncTestBed.read(bed.podTranscript(id)) == theirs)
    }

    @Test func identicalFilesWithoutHistoryAreAdopted() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let same = SyncTestBed.lines(session: id, count: 3)
        try SyncTestBed.write(same, to: bed.localTranscript(id))
        try SyncTestBed.write(same, to: bed.podTranscript(id))
        let report = try bed.run(.sync)
        #expect(report.items.map(\.action) == [.inSync])
        let again = try bed.run(.sync)
        #expect(again.items.map(\.action) == [.inSync])
    }

    @Test func statusReportsAheadWithoutMovingAnything() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 3), to: bed.podTranscript(id))
        let before = SyncTestBed.read(bed.localTranscript(id))
        let report = try bed.run(.status)
        #expect(report.items.first?.action == .podAhead)
        #expect(report.items.first?.lines == 2)
        #expect(SyncTestBed.read(bed.localTranscript(id)) == before)
    }

    @Test func busySessionsAreSkipped() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        let report = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .push, busySeconds: 60))
        #expect(report.items.first?.action == .busy)
        #expect(!FileManager.default.fileExists(atPath: bed.podTranscript(id)))
    }
}

@Suite("A writer appending during syncs")
struct ConcurrentWriterTests {
    @Test func onlyCompleteLinesEverTravel() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let id = "22222222-2222-4333-8444-555555555555"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        try bed.run(.push)
        let path = bed.localTranscript(id)
        let stop = Locked(false)
        let done = DispatchSemaphore(value: 0)
        // Claude-like writer: each line arrives in two writes with a pause in the middle.
        Thread.detachNewThread {
            var i = 3
            while !stop.current {
                let line = SyncTestBed.lines(session: id, count: 1, start: i)
                let cut = line.count / 2
                try? SyncTestBed.append(line.prefix(cut), to: path)
                usleep(3000)
                try? SyncTestBed.append(line.suffix(from: cut), to: path)
                usleep(1000)
                i += 1
            }
            done.signal()
        }
        for _ in 0..<25 {
            try bed.run(.push)
            let pod = SyncTestBed.read(bed.podTranscript(id))
            let local = SyncTestBed.read(path)
            #expect(pod.last == 0x0A, "a partial line reached the pod")
            #expect(local.starts(with: pod), "the pod is not a prefix of the local session")
        }
        stop.withLock { $0 = true }
        done.wait()
        try bed.run(.push)
        #expect(SyncTestBed.read(bed.podTranscript(id)) == SyncTestBed.read(path))
    }
}
