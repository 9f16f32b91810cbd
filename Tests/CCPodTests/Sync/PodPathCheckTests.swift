@testable import CCPodKit
import Testing

/// The one check every path from a pod (and every stored agreement) passes, against a
/// plain statement of the rule written independently of its byte-level implementation.
@Suite("Pod path check")
struct PodPathCheckTests {
    static func reference(_ path: String, tabAndNewline: Bool) -> Bool {
        if path.isEmpty || path.hasPrefix("/") || path.utf8.count > 4096 { return false }
        for scalar in path.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7f {
            if !(tabAndNewline && (scalar == "\t" || scalar == "\n")) { return false }
        }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    static let cases = [
        "projects/-a/5e0d.jsonl", "", "/", "/etc/passwd", "a", ".", "..", "...", "a/.", "a/..", "./a", "../a", "a/../b",
        "a/./b", "a//b", "a/", "a/...", "a/..b", "a/b..", ".hidden/x", "a/.b/c", "tab\there", "new\nline", "nul\u{0}x",
        "del\u{7f}x", "esc\u{1b}[31m", "é/ü/日本", "\u{85}next-line", "a/\u{2e}\u{2e}", String(repeating: "x", count: 4096),
        String(repeating: "x", count: 4097), String(repeating: "é", count: 2049), "..\t/x", "x/..\n",
    ]

    @Test(arguments: cases)
    func agreesWithTheRule(_ path: String) {
        #expect(PodPathCheck.isSafeRelative(path) == Self.reference(path, tabAndNewline: false))
        #expect(PodPathCheck.isSafeRelative(path, allowingTabAndNewline: true) == Self.reference(path, tabAndNewline: true))
    }

    @Test func refusesWhatCouldEscape() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a/..", "", "a//b", "x\u{0}y"] { #expect(!PodPathCheck.isSafeRelative(bad)) }
        #expect(PodPathCheck.isSafeRelative("projects/-home-u-p/5e0d.jsonl"))
        #expect(!PodPathCheck.isSafeRelative("a\tb"))
        #expect(AncestorStore.isStorablePath("a\tb"))
    }
}
