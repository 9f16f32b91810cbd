import CCPodTestSupport
import Crypto
import Foundation
import Testing

@testable import CCPodKit

@Suite struct ClaudeReaderTests {
    func lines(_ text: String, bufferSize: Int = 1 << 20) throws -> ([JSONLLine], JSONLFileReport) {
        let tmp = try ClaudeTempDir()
        let url = try tmp.write(Array(text.utf8), "f.jsonl")
        return try JSONLReader(url: url, bufferSize: bufferSize, lineHashes: true).allLines()
    }

    @Test func validatesJSONGrammar() throws {
        let good = [
            #"{}"#, #"{"a":1}"#, #" { "a" : [1, -2.5e+3, 0, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9"], "b": {} } "#,
            #"{"a":"é🚀日本"}"#, "{\"a\":1}\r", #"{"a":[[],[{}]]}"#, #"{"n":-0.0E-1}"#,
        ]
        let bad = [
            #"{"a":}"#, #"{"a":1,}"#, #"{"a" 1}"#, #"{'a':1}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":tru}"#,
            #"{"a":"\x"}"#, #"{"a":"\u12"}"#, #"{"a":1}}"#, #"{"a":1} {}"#, #"{"a":[1,2}"#, "{\"a\":\"\t\"}",
            #"{"a":-}"#, #"{"a":1e}"#, #"{"a":NaN}"#, #"{"#,
        ]
        for (i, text) in good.enumerated() {
            let (l, _) = try lines(text + "\n")
            #expect(l.count == 1 && l[0].problem == nil, "good[\(i)]: \(text)")
        }
        for (i, text) in bad.enumerated() {
            let (l, _) = try lines(text + "\n")
            #expect(l.count == 1 && l[0].problem == .notJSON, "bad[\(i)]: \(text)")
        }
        let (other, _) = try lines("[1]\n\"s\"\n42\nnull\n\n   \n")
        #expect(other.map(\.problem) == [.notObject, .notObject, .notObject, .notObject, .blank, .blank])
    }

    @Test func invalidUTF8IsReportedWithItsLineNumber() throws {
        let tmp = try ClaudeTempDir()
        let cases: [[UInt8]] = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80]]
        for bytes in cases {
            let url = try tmp.write(Array(#"{"a":1}"#.utf8) + [0x0A] + Array(#"{"a":""#.utf8) + bytes + Array(#""}"#.utf8) + [0x0A], "u.jsonl")
            let (l, _) = try JSONLReader(url: url).allLines()
            #expect(l.map(\.problem) == [nil, .invalidUTF8], "\(bytes)")
            #expect(l[1].number == 2)
        }
        // Outside a string too.
        let url = try tmp.write([0xFF, 0x0A], "v.jsonl")
        #expect(try JSONLReader(url: url).allLines().0.map(\.problem) == [.invalidUTF8])
    }

    @Test func tornTailIsNotALine() throws {
        let (l, report) = try lines("{\"uuid\":\"a\"}\n{\"uuid\":\"b\"}\n{\"uuid\":\"c")
        #expect(l.count == 2)
        #expect(report.completeLength == 26)
        #expect(report.tailLength == 10)
        #expect(report.hasIncompleteTail)
        // A valid object without its newline is still an incomplete tail.
        let (_, r2) = try lines("{}\n{}")
        #expect(r2.lineCount == 1 && r2.tailLength == 2)
    }

    @Test func emptyFile() throws {
        let (l, report) = try lines("")
        #expect(l.isEmpty)
        #expect(report == JSONLFileReport(size: 0, completeLength: 0, lineCount: 0))
        let tmp = try ClaudeTempDir()
        let summary = try SessionSummary.read(try tmp.write([], "e.jsonl"))
        #expect(summary.title == nil && summary.lineCount == 0 && summary.badLineCount == 0)
    }

    @Test func identityIsUUIDElseSHA256OfTheBytes() throws {
        let second = #"{"type":"summary","summary":"x"}"#
        let (l, _) = try lines("{\"type\":\"user\",\"uuid\":\"u-1\"}\n" + second + "\n")
        #expect(l[0].identity == "u-1")
        #expect(l[1].identity == "sha256:" + SHA256Hex.of(Data(second.utf8)))
        #expect(l[1].offset == 29 && l[1].length == Int64(second.utf8.count))
    }

    @Test func fieldsWithEscapesAreDecodedAndNestedOnesIgnored() throws {
        let text = #"{"message":{"uuid":"inner","type":"x"},"type":"user","cwd":"/a\/b \"q\" \u00e9\ud83d\ude80","uuid":"outer"}"#
        let (l, _) = try lines(text + "\n")
        #expect(l[0].uuid == "outer")
        #expect(l[0].type == "user")
        #expect(l[0].cwd == "/a/b \"q\" é🚀")
        #expect(l[0].message.map { String(decoding: $0, as: UTF8.self) } == #"{"uuid":"inner","type":"x"}"#)
    }

    /// Every buffer size gives the same lines: chunk boundaries fall everywhere.
    @Test func tinyBuffersGiveTheSameAnswer() throws {
        var options = SessionFixtures.Options()
        options.subagent = false
        options.rewindAndCompaction = true
        options.summary = "Sum \"mary\" é"
        let data = SessionFixtures.transcript(sessionId: "abc", cwd: "/w/p", options: options)
            + Data("[1]\n".utf8) + Data([0xFF, 0x0A]) + Data("{\"x".utf8)
        let tmp = try ClaudeTempDir()
        let url = tmp.url.appendingPathComponent("t.jsonl")
        try data.write(to: url)
        let (reference, refReport) = try JSONLReader(url: url, lineHashes: true).allLines()
        for size in [16, 17, 31, 64, 100, 333] {
            let (l, report) = try JSONLReader(url: url, bufferSize: size, lineHashes: true).allLines()
            #expect(report == refReport)
            #expect(l.map(\.identity) == reference.map(\.identity), "buffer \(size)")
            #expect(l.map(\.problem) == reference.map(\.problem), "buffer \(size)")
            #expect(l.map(\.type) == reference.map(\.type), "buffer \(size)")
            #expect(l.map(\.message) == reference.map(\.message), "buffer \(size)")
        }
        #expect(reference.suffix(2).map(\.problem) == [.notObject, .invalidUTF8])
    }

    @Test func twentyMegabyteLineWithBoundedBuffer() throws {
        let tmp = try ClaudeTempDir()
        let url = tmp.url.appendingPathComponent("big.jsonl")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        handle.write(Data(#"{"type":"user","message":{"role":"user","content":""#.utf8))
        let chunk = Data(String(repeating: "é0123456789 ", count: 10_000).utf8)
        var written = 0
        while written < 20_000_000 { handle.write(chunk); written += chunk.count }
        handle.write(Data(#""},"uuid":"big-1","timestamp":"2026-01-02T03:04:05.678Z"}"#.utf8))
        handle.write(Data("\n{\"type\":\"summary\",\"summary\":\"after\"}\n".utf8))
        try handle.close()

        let (l, report) = try JSONLReader(url: url, bufferSize: 1 << 20, lineHashes: true).allLines()
        #expect(l.count == 2)
        #expect(l[0].problem == nil)
        #expect(l[0].uuid == "big-1")
        #expect(l[0].message == nil)  // over the capture cap: not kept
        #expect(l[0].length > 20_000_000)
        #expect(report.tailLength == 0)
        let summary = try SessionSummary.read(url)
        #expect(summary.title == "after")
        #expect(summary.lastTimestamp == ISOTimestamp.parse("2026-01-02T03:04:05.678Z"))
    }

    @Test func titleRules() throws {
        func title(_ lines: [String]) throws -> SessionSummary {
            let tmp = try ClaudeTempDir()
            return try SessionSummary.read(try tmp.write(Array((lines.joined(separator: "\n") + "\n").utf8), "s.jsonl"))
        }
        let meta = #"{"type":"user","isMeta":true,"message":{"role":"user","content":"meta text"}}"#
        let command = #"{"type":"user","message":{"role":"user","content":"<command-message>init</command-message>\n<command-name>/init</command-name>\n<command-args>now</command-args>"}}"#
        let toolResult = #"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"out"}]}}"#
        let prompt = #"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"  Fix   the\nbuild  "}]}}"#
        let summary = #"{"type":"summary","summary":"Old summary"}"#
        let summary2 = #"{"type":"summary","summary":"New summary"}"#
        let custom1 = #"{"type":"custom-title","customTitle":"Named once","sessionId":"s"}"#
        let custom2 = #"{"type":"custom-title","customTitle":"Named twice","sessionId":"s"}"#

        #expect(try title([meta, command, toolResult, prompt]).title == "Fix the build")
        #expect(try title([meta, command, toolResult]).title == "/init now")
        #expect(try title([prompt, summary, summary2]).title == "New summary")
        #expect(try title([prompt, summary, custom1, custom2]).title == "Named twice")
        #expect(try title([prompt, summary, custom1, custom2]).summary == "Old summary")
        #expect(try title([meta]).title == nil)
    }

    @Test func timestampsCwdsAndEntrypoint() throws {
        let tmp = try ClaudeTempDir()
        let url = try tmp.write(Array("""
            {"type":"user","cwd":"/a","entrypoint":"sdk-cli","timestamp":"2026-01-01T00:00:05Z","sessionId":"s1"}
            {"type":"assistant","cwd":"/b","timestamp":"2026-01-01T00:00:01.5Z","sessionId":"s1"}
            {"type":"assistant","cwd":"/a","timestamp":"2026-01-01T01:00:00+01:00"}

            """.utf8), "t.jsonl")
        let s = try SessionSummary.read(url)
        #expect(s.cwds == ["/a", "/b"])
        #expect(s.entrypoint == "sdk-cli")
        #expect(s.isHiddenFromPicker)
        #expect(s.firstTimestamp == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(s.lastTimestamp == Date(timeIntervalSince1970: 1_767_225_605))
        #expect(s.sessionIds == ["s1"])
        #expect(s.lineCount == 3 && s.badLineCount == 0)
        #expect(ISOTimestamp.parse("2025-11-08T12:00:00.123Z") == Date(timeIntervalSince1970: 1_762_603_200.123))
        #expect(ISOTimestamp.parse("yesterday") == nil)
    }

    @Test func unreadableFileIsBadDataNamingIt() throws {
        let tmp = try ClaudeTempDir()
        let missing = tmp.url.appendingPathComponent("missing.jsonl")
        do {
            _ = try SessionSummary.read(missing)
            Issue.record("expected an error")
        } catch let error as CCPodError {
            #expect(error.status == .badData)
            #expect(error.message.contains(missing.path))
        }
    }
}
