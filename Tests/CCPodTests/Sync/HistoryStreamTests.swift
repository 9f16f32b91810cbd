@testable import CCPodKit
import Foundation
import Testing

/// The streamed prompt-log merge gives what the whole-file merge gives.
@Suite("history.jsonl merged as a stream")
struct HistoryStreamTests {
    static func temp(_ data: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-hs-\(UUID().uuidString.prefix(8))").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Merges `incoming` into `own` through files, as a sync does.
    static func streamed(own: [Data], incoming: [Data], translation: HistoryTranslation = HistoryTranslation(mappings: []))
        throws -> (content: Data, added: Int, isAppend: Bool) {
        let ownFile = try temp(HistoryLog.content(own))
        let podFile = try temp(HistoryLog.content(incoming))
        defer {
            try? FileManager.default.removeItem(atPath: ownFile)
            try? FileManager.default.removeItem(atPath: podFile)
        }
        guard let local = try HistoryStream.readLocal(ownFile) else { throw CCPodError.io("no file") }
        var keys = local.keys
        let size = Int64(HistoryLog.content(incoming).count)
        let adding = try HistoryStream.missing(in: podFile, length: size, from: &keys, translation: translation)
        var out = Data()
        try HistoryStream.merge(own: ownFile, length: local.complete, incoming: adding, from: podFile, translation: translation) { out.append($0) }
        return (out, adding.count, adding.first.map { $0.timestamp >= local.latest } ?? true)
    }

    @Test func itAgreesWithTheWholeFileMerge() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<60 {
            func line(_ i: Int) -> Data {
                switch Int.random(in: 0..<10, using: &generator) {
                case 0: return Data("{\"type\":\"odd\",\"n\":\(i % 7)}".utf8)
                default: return HistoryLines.bytes("p\(i % 23)", Int64(1_000 + Int.random(in: 0..<40, using: &generator) * 10),
                                                   project: round % 2 == 0 ? "/a" : "/b")
                }
            }
            let own = (0..<Int.random(in: 0..<30, using: &generator)).map(line)
            let incoming = (0..<Int.random(in: 0..<30, using: &generator)).map(line)
            let whole = HistoryLog.merge(own: own, incoming: incoming)
            // The streamed merge drops repeated own keys as the whole-file one keeps them: compare on own lines as they are.
            let stream = try Self.streamed(own: own, incoming: incoming)
            #expect(stream.content == whole.content, "round \(round)")
            #expect(stream.added == whole.added.count, "round \(round)")
            if !whole.added.isEmpty { #expect(stream.isAppend == whole.isAppend, "round \(round)") }
        }
    }

    @Test func aLineOverTheLimitIsKeptAsItIsButNotParsed() throws {
        let huge = Data(("{\"display\":\"" + String(repeating: "x", count: HistoryStream.lineLimit + 10) + "\",\"timestamp\":5,\"project\":\"/a\"}").utf8)
        let small = HistoryLines.bytes("hi", 10, project: "/a")
        // Arrives whole, placed last (no timestamp read), and once only.
        let first = try Self.streamed(own: [small], incoming: [huge, huge])
        #expect(first.content == HistoryLog.content([small, huge]))
        #expect(first.added == 1)
        let again = try Self.streamed(own: [small, huge], incoming: [huge])
        #expect(again.added == 0)
        #expect(again.content == HistoryLog.content([small, huge]))
    }

    @Test func linesAcrossChunkBoundariesAndEmptyLinesAndATornTail() throws {
        var text = Data()
        var expected: [Data] = []
        for i in 0..<3000 {
            let line = HistoryLines.bytes(String(repeating: "y", count: i % 700), Int64(i))
            expected.append(line)
            text.append(line)
            text.append(0x0A)
            if i % 500 == 0 { text.append(0x0A) }
        }
        text.append(Data("{\"torn".utf8))
        let file = try Self.temp(text)
        defer { try? FileManager.default.removeItem(atPath: file) }
        var seen: [Data] = []
        try HistoryStream.forEachLine(file, length: Int64(text.count)) { line in
            seen.append(line.bytes ?? Data())
            let bytes = try FileRanges.data(file, offset: line.offset, length: line.length)
            #expect(bytes == line.bytes)
        }
        #expect(seen == expected)
    }
}
