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

    @Test(arguments: [
        "", "ccpod-ancestors 1\n", "ccpod-ancestors 2\na\tb\n", "ccpod-ancestors 2\n\n", "ccpod-ancestors 2x\n", "ccpod-ancestors 2\n" + String(repeating: "x\t", count: 10) + "x\n",
        "ccpod-ancestors 2\nprojects/a\tprojects/b\t-\t-\t1\tx\t1\tx\t1,2\t-\t-\n", "ccpod-ancestors 2\nbad%zz\tp\t-\t-\t1\tx\t1\tx\t-\t-\t-\n",
        // A last line cut short (no newline): a torn store is refused, not half read.
        "ccpod-ancestors 2\nprojects/a\tprojects/b\t-\t-\t1\tx\t1\tx\t-\t-\t-",
    ])
    func aDamagedStoreIsRefusedWithAnActionableError(_ text: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(text.utf8).write(to: dir.appendingPathComponent("ancestors.tsv"))
        #expect {
            _ = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        } throws: { error in
            "\(error)".contains("move it aside")
        }
    }
}
