import CCPodKit
import Foundation
import Testing

@Suite struct TerminalTextTests {
    @Test func controlsEscapesAndBidiOverridesBecomeVisible() {
        let hostile = "ok\u{1B}]0;pwned\u{07}\u{1B}[2J\u{9B}31m\u{202E}txt.exe\u{7F}\u{2066}\r"
        let shown = TerminalText.escape(hostile)
        #expect(shown == "ok\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u202etxt.exe\\u007f\\u2066\\u000d")
        for scalar in shown.unicodeScalars {
            #expect(scalar.value >= 0x20 && scalar.value < 0x7F, "\(scalar.value) left raw")
        }
    }

    @Test func layoutIsKeptOnlyWhenAsked() {
        #expect(TerminalText.escape("a\tb\nc") == "a\\u0009b\\u000ac")
        #expect(TerminalText.escape("a\tb\nc", keepingLayout: true) == "a\tb\nc")
        #expect(TerminalText.escape("plain text, ünïcode and emoji 🚀") == "plain text, ünïcode and emoji 🚀")
    }

    @Test func jsonPassedThroughDecodesToTheSameValues() throws {
        struct Item: Codable, Equatable { var path: String; var detail: String }
        let item = Item(path: "projects/-x/\u{202E}lmth.jsonl", detail: "pod said \u{1B}[31m\u{85}red\u{7F}")
        let encoded = String(decoding: try JSONEncoder().encode(item), as: UTF8.self)
        let shown = TerminalText.escape(encoded, keepingLayout: true)
        #expect(!shown.unicodeScalars.contains { $0.value == 0x202E || $0.value == 0x85 || $0.value == 0x7F || $0.value == 0x1B })
        #expect(try JSONDecoder().decode(Item.self, from: Data(shown.utf8)) == item)
    }
}
