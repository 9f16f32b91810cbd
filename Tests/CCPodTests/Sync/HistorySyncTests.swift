import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `history.jsonl` lines in Claude Code's shape.
enum HistoryLines {
    static func line(_ text: String, _ ts: Int64, project: String = SyncTestBed.localProject) -> String {
        "{\"display\":\"\(text)\",\"pastedContents\":{},\"timestamp\":\(ts),\"project\":\"\(project)\"}\n"
    }

    static func data(_ lines: [String]) -> Data { Data(lines.joined().utf8) }

    /// One line without its newline.
    static func bytes(_ text: String, _ ts: Int64, project: String = SyncTestBed.localProject) -> Data {
        Data(Data(line(text, ts, project: project).utf8).dropLast())
    }

    /// The `display` values of a log, in order.
    static func displays(_ path: String) -> [String] {
        SyncTestBed.read(path).split(separator: 0x0A).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any]
        }.compactMap { $0["display"] as? String }
    }

    static func projects(_ path: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in SyncTestBed.read(path).split(separator: 0x0A) {
            if let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
               let d = o["display"] as? String, let p = o["project"] as? String { out[d] = p }
        }
        return out
    }
}

@Suite("HistoryLog: keys, timestamps, merge")
struct HistoryLogTests {
    @Test func keyIgnoresOnlyTheProjectAndTimestampIsTheNumber() {
        let a = HistoryLines.bytes("hi \\\"x\\\" \\\"timestamp\\\":9", 1_700_000_000_123, project: "/a")
        let b = HistoryLines.bytes("hi \\\"x\\\" \\\"timestamp\\\":9", 1_700_000_000_123, project: "/workspace/b")
        #expect(HistoryLog.key(a) == HistoryLog.key(b))
        #expect(HistoryLog.timestamp(a) == 1_700_000_000_123)
        #expect(HistoryLog.timestamp(Data("{\"display\":\"x\"}".utf8)) == nil)
    }

    @Test func mergeKeepsOwnLinesAndPlacesNewOnesByTime() {
        func l(_ s: String, _ ts: Int64) -> Data { HistoryLines.bytes(s, ts) }
        let own = [l("a", 100), l("c", 300), Data("{\"type\":\"odd\"}".utf8), l("e", 500)]
        let merge = HistoryLog.merge(own: own, incoming: [l("f", 600), l("b", 200), l("c", 300), l("d", 300), l("b", 200)])
        #expect(merge.lines == [l("a", 100), l("b", 200), l("c", 300), Data("{\"type\":\"odd\"}".utf8), l("d", 300), l("e", 500), l("f", 600)])
        #expect(merge.added.count == 3)
        #expect(!merge.isAppend)
        #expect(HistoryLog.merge(own: own, incoming: [l("g", 700)]).isAppend)
        #expect(HistoryLog.merge(own: own, incoming: own).added.isEmpty)
    }

    @Test func translationSwapsOnlyTheMappedProject() {
        let t = HistoryTranslation(mappings: [ProjectMapping(localSlug: "l", podSlug: "p", localPath: "/Users/me/app", podPath: "/workspace/runs/app/code")])
        let line = Data(HistoryLines.line("x", 1, project: "/Users/me/app").utf8)
        let sub = Data(HistoryLines.line("x", 1, project: "/Users/me/app/sub").utf8)
        let other = Data(HistoryLines.line("x", 1, project: "/Users/me/apple").utf8)
        #expect(t.toPod(line) == Data(HistoryLines.line("x", 1, project: "/workspace/runs/app/code").utf8))
        #expect(t.toPod(sub) == Data(HistoryLines.line("x", 1, project: "/workspace/runs/app/code/sub").utf8))
        #expect(t.toPod(other) == other)
        #expect(t.toLocal(t.toPod(line)) == line)
    }
}

@Suite("history.jsonl merged by line")
struct HistorySyncTests {
    static func bed(mapped: Bool = false) throws -> SyncTestBed {
        var bed = try SyncTestBed()
        if mapped {
            bed.scope = SyncScope(projects: [ProjectMapping(localSlug: SyncTestBed.localSlug, podSlug: SyncTestBed.podSlug,
                                                            localPath: SyncTestBed.localProject, podPath: SyncTestBed.podProject)])
        }
        return bed
    }

    static func local(_ bed: SyncTestBed) -> String { bed.localClaude + "/history.jsonl" }
    static func pod(_ bed: SyncTestBed) -> String { bed.podClaude + "/history.jsonl" }

    static func expectNoDuplicates(_ path: String, _ note: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        let all = HistoryLines.displays(path)
        #expect(all.count == Set(all).count, "duplicates in \(path) \(note): \(all)", sourceLocation: sourceLocation)
    }

    @Test func unionAcrossPushPullAndSyncInOneExchangeEach() throws {
        let bed = try Self.bed()
        defer { bed.remove() }
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("a", 100), HistoryLines.line("c", 300)]), to: Self.local(bed))
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("b", 200), HistoryLines.line("d", 400)]), to: Self.pod(bed))

        let push = try bed.run(.push)
        #expect(push.exchanges == 1)
        #expect(push.items.contains { $0.path == "history.jsonl" && $0.action == .pushed && $0.lines == 2 })
        #expect(HistoryLines.displays(Self.pod(bed)) == ["a", "b", "c", "d"])
        #expect(HistoryLines.displays(Self.local(bed)) == ["a", "c"])  // a push never writes here

        let pull = try bed.run(.pull)
        #expect(pull.exchanges == 1)
        #expect(pull.items.contains { $0.action == .pulled && $0.lines == 2 })
        #expect(HistoryLines.displays(Self.local(bed)) == ["a", "b", "c", "d"])

        // Both sides add prompts, then one sync.
        try SyncTestBed.append(Data(HistoryLines.line("e", 500).utf8), to: Self.local(bed))
        try SyncTestBed.append(Data(HistoryLines.line("f", 600).utf8), to: Self.pod(bed))
        let sync = try bed.run(.sync)
        #expect(sync.exchanges == 1)
        #expect(HistoryLines.displays(Self.local(bed)) == ["a", "b", "c", "d", "e", "f"])
        #expect(HistoryLines.displays(Self.pod(bed)) == ["a", "b", "c", "d", "e", "f"])

        let again = try bed.run(.sync)
        #expect(again.exchanges == 1)
        #expect(again.items.allSatisfy { $0.action == .inSync }, "\(again.items)")
        let mode = try FileManager.default.attributesOfItem(atPath: Self.local(bed))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func repeatedOneWayRunsNeverDuplicateAndNothingIsLost() throws {
        let bed = try Self.bed()
        defer { bed.remove() }
        var ts: Int64 = 1000
        func add(_ text: String, to path: String) throws {
            ts += 10
            let line = Data(HistoryLines.line(text, ts).utf8)
            if FileManager.default.fileExists(atPath: path) { try SyncTestBed.append(line, to: path) } else { try SyncTestBed.write(line, to: path) }
        }
        var expected: Set<String> = []
        for round in 0..<4 {
            try add("laptop \(round)", to: Self.local(bed)); expected.insert("laptop \(round)")
            try add("pod \(round)", to: Self.pod(bed)); expected.insert("pod \(round)")
            for direction in [SyncOptions.Direction.push, .push, .pull, .pull, .push, .sync, .sync] {
                try bed.run(direction)
                Self.expectNoDuplicates(Self.local(bed), "after \(direction)")
                Self.expectNoDuplicates(Self.pod(bed), "after \(direction)")
            }
            #expect(Set(HistoryLines.displays(Self.local(bed))) == expected)
            #expect(Set(HistoryLines.displays(Self.pod(bed))) == expected)
        }
        // Without ccpod's memory (a lost state folder, a new laptop): still no duplicates.
        try FileManager.default.removeItem(at: bed.state)
        try bed.run(.sync)
        Self.expectNoDuplicates(Self.local(bed))
        Self.expectNoDuplicates(Self.pod(bed))
        #expect(Set(HistoryLines.displays(Self.pod(bed))) == expected)
    }

    @Test func aRunThatNeverHeardBackIsCompletedWithoutDuplicates() throws {
        let bed = try Self.bed()
        defer { bed.remove() }
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("a", 100)]), to: Self.local(bed))
        try bed.run(.sync)
        let ancestors = SyncTestBed.read(bed.engine().ancestorsFile.path)
        try SyncTestBed.append(Data(HistoryLines.line("b", 200).utf8), to: Self.local(bed))
        try SyncTestBed.append(Data(HistoryLines.line("c", 300).utf8), to: Self.pod(bed))
        try bed.run(.sync)
        // As if that sync wrote both sides but died before it recorded anything.
        try ancestors.write(to: bed.engine().ancestorsFile)
        try SyncTestBed.append(Data(HistoryLines.line("d", 400).utf8), to: Self.pod(bed))
        for direction in [SyncOptions.Direction.push, .pull, .sync] {
            try bed.run(direction)
            Self.expectNoDuplicates(Self.local(bed))
            Self.expectNoDuplicates(Self.pod(bed))
        }
        #expect(HistoryLines.displays(Self.local(bed)) == ["a", "b", "c", "d"])
        #expect(HistoryLines.displays(Self.pod(bed)) == ["a", "b", "c", "d"])
    }

    @Test func onlyCompleteLinesTravelAndATornLogIsNotRewritten() throws {
        let bed = try Self.bed()
        defer { bed.remove() }
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("a", 100)]) + Data("{\"display\":\"hal".utf8), to: Self.local(bed))
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("b", 50)]), to: Self.pod(bed))
        try bed.run(.sync)
        #expect(HistoryLines.displays(Self.pod(bed)) == ["b", "a"])
        // The local file is being written: the pod's line waits, the torn line stays as it was.
        #expect(String(decoding: SyncTestBed.read(Self.local(bed)), as: UTF8.self).hasSuffix("{\"display\":\"hal"))
        try SyncTestBed.append(Data("f\",\"pastedContents\":{},\"timestamp\":150,\"project\":\"/x\"}\n".utf8), to: Self.local(bed))
        try bed.run(.sync)
        #expect(HistoryLines.displays(Self.local(bed)) == ["b", "a", "half"])
        #expect(HistoryLines.displays(Self.pod(bed)) == ["b", "a", "half"])
    }

    @Test func mappedProjectsAreTranslatedBothWays() throws {
        let bed = try Self.bed(mapped: true)
        defer { bed.remove() }
        let other = "/Users/me/elsewhere"
        try SyncTestBed.write(HistoryLines.data([
            HistoryLines.line("here", 100),
            HistoryLines.line("below", 110, project: SyncTestBed.localProject + "/sub"),
            HistoryLines.line("other", 120, project: other),
        ]), to: Self.local(bed))
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("on pod", 200, project: SyncTestBed.podProject)]), to: Self.pod(bed))
        try bed.run(.sync)
        let onPod = HistoryLines.projects(Self.pod(bed))
        #expect(onPod["here"] == SyncTestBed.podProject)
        #expect(onPod["below"] == SyncTestBed.podProject + "/sub")
        #expect(onPod["other"] == other)
        #expect(onPod["on pod"] == SyncTestBed.podProject)
        let here = HistoryLines.projects(Self.local(bed))
        #expect(here["on pod"] == SyncTestBed.localProject)
        #expect(here["here"] == SyncTestBed.localProject)

        // The project moves to another folder on the pod: no prompt comes back twice.
        var moved = bed
        moved.scope = SyncScope(projects: [ProjectMapping(localSlug: SyncTestBed.localSlug, podSlug: "-workspace-runs-b-code",
                                                          localPath: SyncTestBed.localProject, podPath: "/workspace/runs/b/code")])
        try FileManager.default.removeItem(at: bed.state)
        try SyncTestBed.append(Data(HistoryLines.line("later", 300).utf8), to: Self.local(bed))
        try moved.run(.sync)
        Self.expectNoDuplicates(Self.local(bed))
        Self.expectNoDuplicates(Self.pod(bed))
        #expect(HistoryLines.projects(Self.pod(bed))["later"] == "/workspace/runs/b/code")
    }

    @Test func dryRunAndStatusWriteNothing() throws {
        let bed = try Self.bed()
        defer { bed.remove() }
        let mine = HistoryLines.data([HistoryLines.line("a", 100)])
        let theirs = HistoryLines.data([HistoryLines.line("b", 200)])
        try SyncTestBed.write(mine, to: Self.local(bed))
        try SyncTestBed.write(theirs, to: Self.pod(bed))
        let dry = try bed.run(.sync, dryRun: true)
        #expect(dry.items.contains { $0.path == "history.jsonl" && $0.action == .pushed })
        #expect(dry.items.contains { $0.path == "history.jsonl" && $0.action == .pulled })
        let status = try bed.run(.status)
        #expect(status.items.contains { $0.action == .localAhead })
        #expect(status.items.contains { $0.action == .podAhead })
        #expect(SyncTestBed.read(Self.local(bed)) == mine)
        #expect(SyncTestBed.read(Self.pod(bed)) == theirs)
        #expect(!FileManager.default.fileExists(atPath: bed.engine().ancestorsFile.path))
    }

    @Test func aSingleSessionLeavesTheLogAlone() throws {
        var bed = try Self.bed()
        defer { bed.remove() }
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("a", 100)]), to: Self.local(bed))
        bed.scope.sessionId = "11111111-2222-4333-8444-555555555555"
        let report = try bed.run(.push)
        #expect(!report.items.contains { $0.path == "history.jsonl" })
        #expect(!FileManager.default.fileExists(atPath: Self.pod(bed)))
    }
}

@Suite("history.jsonl over a real sshd", .enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct HistoryOverSSHTests {
    @Test func pushPullAndSyncCarryTheLogInOneExecEach() throws {
        let (pod, bed, _) = try SyncOverSSHTests.sshBed()
        defer { withExtendedLifetime(pod) {} }
        defer { bed.remove() }
        let local = HistorySyncTests.local(bed), remote = HistorySyncTests.pod(bed)
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("a", 100), HistoryLines.line("c", 300)]), to: local)
        try SyncTestBed.write(HistoryLines.data([HistoryLines.line("b", 200)]), to: remote)
        for direction in [SyncOptions.Direction.push, .pull] {
            pod.recorder.reset()
            try bed.run(direction)
            #expect(pod.recorder.count == 1)
        }
        #expect(HistoryLines.displays(local) == ["a", "b", "c"])
        #expect(HistoryLines.displays(remote) == ["a", "b", "c"])
        try SyncTestBed.append(Data(HistoryLines.line("d", 400).utf8), to: local)
        try SyncTestBed.append(Data(HistoryLines.line("e", 500).utf8), to: remote)
        pod.recorder.reset()
        try bed.run(.sync)
        #expect(pod.recorder.count == 1)
        #expect(HistoryLines.displays(local) == ["a", "b", "c", "d", "e"])
        #expect(HistoryLines.displays(remote) == ["a", "b", "c", "d", "e"])
        pod.recorder.reset()
        let nothing = try bed.run(.sync)
        #expect(pod.recorder.count == 1)
        #expect(nothing.items.allSatisfy { $0.action == .inSync })
    }
}

@Suite("history.jsonl when ccpod is killed", .serialized)
struct HistoryInterruptionTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: InterruptionTests.binary), "the ccpod binary is not built"))
    func killedSyncsNeverDuplicateOrLoseAPrompt() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let local = HistorySyncTests.local(bed), remote = HistorySyncTests.pod(bed)
        let pad = String(repeating: "x", count: 300)
        var expected: Set<String> = []
        var ts: Int64 = 1_700_000_000_000
        func add(_ count: Int, _ side: String, to path: String) throws {
            var lines: [String] = []
            for i in 0..<count {
                ts += 7
                lines.append(HistoryLines.line("\(side) \(ts) \(i) \(pad)", ts))
                expected.insert("\(side) \(ts) \(i) \(pad)")
            }
            let data = HistoryLines.data(lines)
            if FileManager.default.fileExists(atPath: path) { try SyncTestBed.append(data, to: path) } else { try SyncTestBed.write(data, to: path) }
        }
        try add(1000, "laptop", to: local)
        try add(1000, "pod", to: remote)
        let run = InterruptionTests.Run(bed: bed)
        let full = try run.complete("sync").seconds
        for point in 0..<10 {
            try add(150, "laptop", to: local)
            try add(150, "pod", to: remote)
            try run.killed(point % 2 == 0 ? "sync" : "push", after: max(0.002, full * Double(point) / 10))
            try run.complete("sync")
            for path in [local, remote] {
                let all = HistoryLines.displays(path)
                #expect(all.count == Set(all).count, "duplicates in \(path) after kill point \(point)")
                #expect(Set(all) == expected, "\(path) misses prompts after kill point \(point)")
                #expect(SyncTestBed.read(path).last == 0x0A)
            }
        }
    }
}
