@testable import CCPodKit
import Foundation
import Testing

/// The complete lines of a log: up to and including its last newline, wherever that
/// newline is against the steps the file is read back in (4 KiB, then 16, then 64).
@Suite("Complete length of a log")
struct CompleteLengthTests {
    @Test func theLastNewlineIsFoundAtAnyDistanceFromTheEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-complete-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("log.jsonl").path
        // Bytes after the last newline: none, within the first step, on each step's edge, far back.
        for tail in [0, 1, 4095, 4096, 4097, 20_479, 20_480, 20_481, 86_015, 86_016, 86_017, 300_000] {
            for head in [0, 1, 5000] {
                var data = Data(repeating: UInt8(ascii: "a"), count: head)
                data.append(0x0A)
                data.append(Data(repeating: UInt8(ascii: "b"), count: tail))
                try data.write(to: URL(fileURLWithPath: file))
                #expect(try LocalTree.completeLength(file, size: Int64(data.count)) == Int64(head + 1), "head \(head), tail \(tail)")
            }
            // No newline at all.
            try Data(repeating: UInt8(ascii: "c"), count: tail + 1).write(to: URL(fileURLWithPath: file))
            #expect(try LocalTree.completeLength(file, size: Int64(tail + 1)) == 0)
        }
        #expect(try LocalTree.completeLength(file, size: 0) == 0)
        // A size past the end: the file is shorter than asked.
        try Data("x\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: CCPodError.self) { _ = try LocalTree.completeLength(file, size: 10) }
    }
}
