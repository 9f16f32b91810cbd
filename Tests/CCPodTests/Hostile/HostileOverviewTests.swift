import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The overview's session notes (`N` records of a status exchange) crafted by a hostile pod:
/// `ccpod sessions --pod` refuses the pod's answer (one line on stderr, the listing of this
/// machine still shown, exit 0), never prints a byte of it raw, and stays bounded.
@Suite(.enabled(if: HostilePod.isAvailable, "sshd is not installed or ccpod was not built next to the tests"))
struct HostileOverviewTests {
    typealias Row = HostileCase
    static let sessions = ["sessions", "--all"]
    static let other = "projects/\(Wire.slug)/\(Wire.otherSession).jsonl"
    static let podOnly = "S\tnew\t5\t1.0\t0\t-\t\(other)\n"
    static let refused = ["left out of this listing", "invalid answer"]

    static let rows: [Row] = [
        Row(name: "escapes in a title and a prompt from the pod", command: sessions, exchange: .agent,
            answer: Wire.agent(podOnly + "N\tslug\t\(Wire.otherSession)\t\(Wire.slug)\nN\ttitle\t\(Wire.otherSession)\tplan \(Wire.escapes)\n"
                               + "N\tprompt\t\(Wire.otherSession)\tgo \\u001b[2J \(Wire.escapes)\n" + Wire.end),
            expect: [0], within: Row.prompt),
        Row(name: "a session note with a malformed id", command: sessions, exchange: .agent,
            answer: Wire.agent("N\ttitle\t../../etc\tx\n" + Wire.end), expect: [0], within: Row.prompt, mentions: refused),
        Row(name: "a session note longer than 600 bytes", command: sessions, exchange: .agent,
            answer: Wire.agent("N\ttitle\t\(Wire.otherSession)\t\(String(repeating: "x", count: 5000))\n" + Wire.end),
            expect: [0], within: Row.prompt, mentions: refused),
        Row(name: "a session note naming an unsafe project folder", command: sessions, exchange: .agent,
            answer: Wire.agent("N\tslug\t\(Wire.otherSession)\t..\n" + Wire.end), expect: [0], within: Row.prompt, mentions: refused),
        Row(name: "a session note of an unknown kind", command: sessions, exchange: .agent,
            answer: Wire.agent("N\tcommand\t\(Wire.otherSession)\trm -rf\n" + Wire.end), expect: [0], within: Row.prompt, mentions: refused),
        Row(name: "endless session notes", command: sessions, exchange: .agent,
            answer: Wire.agent("") + [.endless(line: "N\tlive\t\(Wire.otherSession)\t-")], expect: [0], within: Row.endless, mentions: refused),
    ]

    @Test(arguments: rows)
    func aCraftedOverviewAnswer(_ row: HostileCase) throws {
        try HostileCheck.play(row)
    }
}
