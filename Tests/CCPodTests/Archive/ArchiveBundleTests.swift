@testable import CCPodKit
import Foundation
import Testing

/// The archive file itself: a tar through zstd or gzip that ccpod reads back and `tar` reads too.
@Suite("Archive bundle")
struct ArchiveBundleTests {
    @Test("Long names, an empty file and a large one: written, verified, read back, and listed by tar", arguments: [Compression.zstd, .gzip])
    func roundTrip(_ compression: Compression) throws {
        guard ChildProcess.exists(compression.rawValue) else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-bundle-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        // Over 256 bytes in all: only a pax header can hold it.
        let long = "projects/" + String(repeating: "-very-long-project-slug", count: 8)
            + "/aaaaaaaa-2222-4333-8444-555555555555/subagents/agent-" + String(repeating: "b", count: 40) + ".jsonl"
        var contents: [String: Data] = [
            long: Data("{\"type\":\"user\"}\n".utf8),
            "todos/empty.json": Data(),
            "projects/-p/big.jsonl": Data((0..<1_600_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }),
        ]
        for (path, data) in contents {
            let url = root.appendingPathComponent("claude/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
        let archive = root.appendingPathComponent("a." + ArchiveBundle.fileExtension(compression))
        let written = try ArchiveBundle.write(root: root.appendingPathComponent("claude").path, paths: contents.keys.sorted(),
                                              to: archive, compression: compression)
        #expect(written.files.count == 3)
        try ArchiveBundle.verify(archive, compression: compression, files: written.files)
        var read: [String: Data] = [:]
        try ArchiveBundle.read(archive, compression: compression) { name, _ in
            read[name] = Data()
            return { chunk in read[name]!.append(contentsOf: chunk) }
        }
        #expect(read == contents)
        // tar itself reads it.
        let listed = try ChildProcess.run("tar", ["-t", compression == .zstd ? "--zstd" : "-z", "-f", archive.path])
        #expect(listed.status == 0, "\(listed.stderrText)")
        #expect(Set(listed.stdoutText.split(separator: "\n").map(String.init)) == Set(contents.keys))
        // A file that no longer matches what the index says is caught.
        var wrong = written.files
        wrong[0].sha256 = String(repeating: "0", count: 64)
        #expect(throws: CCPodError.self) { try ArchiveBundle.verify(archive, compression: compression, files: wrong) }
        contents.removeAll()
    }
}
