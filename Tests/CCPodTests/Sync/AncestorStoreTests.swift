@testable import CCPodKit
import Foundation
import Testing

@Suite("The ancestor store")
struct AncestorStoreTests {
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-anc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static let pairs = [
        AncestorPair(localPath: "projects/-a/1.jsonl", podPath: "projects/-b/1.jsonl",
                     local: FileVersion(size: 10, sha256: String(repeating: "a", count: 64)),
                     pod: FileVersion(size: 10, sha256: String(repeating: "a", count: 64)),
                     localSeen: LocalStat(size: 10, mtimeNs: 1_796_156_490_341_507_848, inode: 16_253_002),
                     podSeen: PodStat(size: 10, mtime: "1796161999.6816683360")),
        // A fork's sibling: other session ids, other hashes, nothing seen yet.
        AncestorPair(localPath: "projects/-a/2.jsonl", podPath: "projects/-b/3.jsonl", localSessionId: "2", podSessionId: "3",
                     local: FileVersion(size: 0, sha256: String(repeating: "b", count: 64)),
                     pod: FileVersion(size: 7, sha256: String(repeating: "c", count: 64)), localSeen: nil, podSeen: nil),
        // Names with the characters the format escapes.
        AncestorPair(localPath: "projects/-a/memory/100%\tsure\nyes.md", podPath: "projects/-b/memory/%25 literal.md",
                     local: FileVersion(size: 1, sha256: String(repeating: "d", count: 64)),
                     pod: FileVersion(size: 1, sha256: String(repeating: "d", count: 64)),
                     localSeen: LocalStat(size: 1, mtimeNs: 0, inode: 1), podSeen: PodStat(size: 1, mtime: "0.0")),
    ]

    @Test func pairsSurviveASaveAndALoad() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var store = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        for pair in Self.pairs { store.set(pair) }
        try store.save()
        let loaded = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        #expect(loaded.pairs == store.pairs)
        #expect(loaded.pair(pod: "projects/-b/3.jsonl")?.localPath == "projects/-a/2.jsonl")
        let text = try String(contentsOf: dir.appendingPathComponent("ancestors.tsv"), encoding: .utf8)
        #expect(text.split(separator: "\n").count == 1 + Self.pairs.count, "one line a pair: \(text)")
    }

    @Test func theJSONStoreOfAnEarlierVersionIsReadAndReplacedOnSave() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        struct Legacy: Codable { var version: Int; var pairs: [AncestorPair] }
        try JSONEncoder().encode(Legacy(version: 1, pairs: Self.pairs)).write(to: dir.appendingPathComponent("ancestors.json"))
        var store = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        #expect(store.pairs.count == Self.pairs.count)
        #expect(store.pair(local: Self.pairs[2].localPath) == Self.pairs[2])
        store.remove(local: Self.pairs[0].localPath)
        try store.save()
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("ancestors.json").path))
        #expect(try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv")).pairs.count == Self.pairs.count - 1)
    }

    /// Only a file that is not a store of this format at all is refused (a newer
    /// ccpod's store must not be overwritten by an older one).
    @Test(arguments: ["", "ccpod-ancestors 1\n", "ccpod-ancestors 2x\n", "ccpod-ancestors 3\nx\n", "{\"version\":1}"])
    func aFileThatIsNotAStoreIsRefusedWithAnActionableError(_ text: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(text.utf8).write(to: dir.appendingPathComponent("ancestors.tsv"))
        #expect {
            _ = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        } throws: { error in
            "\(error)".contains("move it aside")
        }
    }

    static let sha = String(repeating: "a", count: 64)

    /// A damaged line is dropped with a warning naming the store and the line; every
    /// other record loads.
    @Test(arguments: [
        "a\tb\n", "\n", String(repeating: "x\t", count: 10) + "x\n",
        "projects/a\tprojects/b\t-\t-\t1\tx\t1\tx\t1,2\t-\t-\n", "bad%zz\tp\t-\t-\t1\t\(sha)\t1\t\(sha)\t-\t-\t-\n",
        // What a pod could once get saved: a seen stat of size and mtime `-`.
        "projects/a\tprojects/b\t-\t-\t1\t\(sha)\t1\t\(sha)\t-\t5\t-\n",
        "projects/a\tprojects/b\t-\t-\t-1\t\(sha)\t1\t\(sha)\t-\t-\t-\n",
        "projects/a\tprojects/b\t-\t-\t1\t\(sha.uppercased())\t1\t\(sha)\t-\t-\t-\n",
        "../a\tprojects/b\t-\t-\t1\t\(sha)\t1\t\(sha)\t-\t-\t-\n",
        "projects/a\t/etc/b\t-\t-\t1\t\(sha)\t1\t\(sha)\t-\t-\t-\n",
        "projects/a\tprojects/b\tx y\t-\t1\t\(sha)\t1\t\(sha)\t-\t-\t-\n",
        "projects/a\tprojects/b\t-\t-\t1\t\(sha)\t1\t\(sha)\t-\t5\t17x\n",
        // A last line cut short (no newline).
        "projects/a\tprojects/b\t-\t-\t1\t\(sha)\t1\t\(sha)\t-\t-\t-",
    ])
    func aDamagedLineIsDroppedWithAWarningAndTheRestLoads(_ line: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = String(decoding: AncestorStore.encode([Self.pairs[0], Self.pairs[1]]), as: UTF8.self)
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false)
        // header, first good pair, the damaged line, second good pair (the torn line last).
        let text = line.hasSuffix("\n") ? "\(lines[0])\n\(lines[1])\n\(line)\(lines[2])\n" : "\(lines[0])\n\(lines[1])\n\(lines[2])\n\(line)"
        try Data(text.utf8).write(to: dir.appendingPathComponent("ancestors.tsv"))
        let store = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        #expect(store.pairs.count == 2)
        #expect(store.pair(local: Self.pairs[0].localPath) == Self.pairs[0])
        #expect(store.pair(local: Self.pairs[1].localPath) == Self.pairs[1])
        #expect(store.warnings.count == 1, "\(store.warnings)")
        #expect(store.warnings.first?.contains("ancestors.tsv, line \(line.hasSuffix("\n") ? 3 : 4)") == true, "\(store.warnings)")
    }

    /// A record that is not well formed is never recorded, so it can never be saved.
    @Test func anInvalidRecordIsNotRecorded() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var store = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        let good = Self.pairs[0]
        var bad: [AncestorPair] = []
        for change in [
            { (p: inout AncestorPair) in p.local.size = -1 }, { p in p.pod.size = -5 }, { p in p.local.sha256 = "x" },
            { p in p.pod.sha256 = Self.sha.uppercased() }, { p in p.localPath = "../x.jsonl" }, { p in p.podPath = "/etc/passwd" },
            { p in p.localPath = "" }, { p in p.podSessionId = "a\tb" }, { p in p.localSessionId = "-" },
        ] as [(inout AncestorPair) -> Void] {
            var pair = good
            change(&pair)
            bad.append(pair)
        }
        for pair in bad {
            let recorded = store.set(pair)
            #expect(!recorded, "\(pair)")
        }
        #expect(store.pairs.isEmpty)
        #expect(store.warnings.count == bad.count)
        // A seen stat the pod did not give in full only spares a read: left out, the agreement kept.
        var unseen = good
        unseen.podSeen = PodStat(size: 10, mtime: "-")
        let recorded = store.set(unseen)
        #expect(recorded)
        #expect(store.pair(local: good.localPath)?.podSeen == nil)
        try store.save()
        let loaded = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.pairs.count == 1)
    }

    /// A damaged line never stops a sync: the run says so and compares that file by content.
    @Test func aSyncRunsOnWithADamagedLine() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let id = "11111111-2222-4333-8444-555555555555"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        try bed.run(.push)
        let file = bed.engine().ancestorsFile
        var text = try String(contentsOf: file, encoding: .utf8)
        text += "projects/x\tprojects/y\t-\t-\t-\t-\t-\t-\t-\t-\t-\n"
        try Data(text.utf8).write(to: file)
        let report = try bed.run(.sync)
        #expect(report.warnings.contains { $0.contains("dropped") }, "\(report.warnings)")
        #expect(report.items.allSatisfy { $0.action == .inSync }, "\(report.items)")
        #expect(try AncestorStore(file: file).warnings.isEmpty)
    }
}
