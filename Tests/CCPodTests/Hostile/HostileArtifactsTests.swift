import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The artifacts agent's listing and transfer answer, and the output of `runs` and
/// `check`, crafted by a hostile pod, against the real binary over a real sshd.
@Suite(.enabled(if: HostilePod.isAvailable, "sshd is not installed or ccpod was not built next to the tests"))
struct HostileArtifactsTests {
    typealias Row = HostileCase
    static let pull = ["artifacts", "pull", "--from", "/work/runs/r1", "--to", "{to}"]
    static let dryRun = pull + ["--dry-run"]
    static let bad = Row.bad, stalled = Row.stalled, prompt = Row.prompt
    static let good = Wire.goodListing
    static let max = Wire.max
    static let data = "D\t0\t5\tresults/a.txt\n\(Wire.hello)Z\t\(Wire.helloSha)\tresults/a.txt\n"

    /// Names say which agent (a row's name is its test's name in the run's output).
    static let rows: [Row] = artifactsRows.map { row in
        var named = row
        if row.exchange == .artifacts { named.name = "artifacts: " + row.name }
        return named
    }

    static let artifactsRows: [Row] = [
        // Sizes in the listing.
        Row(name: "two sizes that add past Int64", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(Wire.listing("R\tok\nV\t1000\nF\t\(max)\t1.0\tresults/a.bin\nF\t\(max)\t1.0\tresults/b.bin\n")),
            expect: bad, within: prompt),
        Row(name: "two sizes that add past Int64, dry run", command: dryRun, exchange: .artifacts,
            answer: Wire.artifacts(Wire.listing("R\tok\nV\t1000\nF\t\(max)\t1.0\tresults/a.bin\nF\t\(max)\t1.0\tresults/b.bin\n")),
            expect: bad, within: prompt),
        Row(name: "free space past Int64", command: dryRun, exchange: .artifacts,
            answer: Wire.artifacts(Wire.listing("R\tok\nV\t99999999999999999999\nF\t5\t1.0\tresults/a.txt\n")),
            expect: bad, within: prompt),
        Row(name: "a listing declared Int64.max long", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(Wire.listing("R\tok\n", declared: max)), expect: bad, within: prompt),
        Row(name: "a negative listing length", command: dryRun, exchange: .artifacts,
            answer: Wire.artifacts(Wire.listing("R\tok\n", declared: "-1")), expect: bad, within: prompt),
        Row(name: "data longer than the file asked for", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "D\t0\t\(max)\tresults/a.txt\n") + [.endless(line: "0000000000000000")],
            expect: bad, within: prompt, allowed: ["results/a.txt"]),

        // Paths.
        Row(name: "data for a path that climbs out", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "D\t0\t5\t../../home/.bashrc\n\(Wire.hello)Z\t\(Wire.helloSha)\t../../home/.bashrc\nEND\tok\n"),
            expect: bad, within: prompt),
        Row(name: "data for a file that was not listed", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "D\t0\t5\tresults/evil.sh\n\(Wire.hello)Z\t\(Wire.helloSha)\tresults/evil.sh\nEND\tok\n"),
            expect: bad, within: prompt),
        Row(name: "a batch naming a file that was not listed", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "B\t1\nF\t5\t\(Wire.helloSha)\tresults/evil.sh\n\(Wire.hello)END\tok\n"),
            expect: bad, within: prompt),

        // Endless answers.
        Row(name: "an endless listing", command: dryRun, exchange: .artifacts,
            answer: [.send(Data("CCPOD-ART \(Wire.artifactsVersion) none\nLIST none \(max)\nR\tok\n".utf8)),
                     .endless(line: "F\t1\t1.0\tresults/x")], expect: bad, within: Row.endless),
        Row(name: "endless listing warnings", command: pull, exchange: .artifacts,
            answer: [.send(Data("CCPOD-ART \(Wire.artifactsVersion) none\nLIST none \(max)\nR\tok\n".utf8)),
                     .endless(line: "W\tstill listing")], expect: bad, within: Row.endless),
        Row(name: "endless warnings in the answer", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "") + [.endless(line: "W\tstill copying")], expect: bad, within: Row.endless),

        // Stalled answers.
        Row(name: "the header then silence", command: pull, exchange: .artifacts,
            answer: [.send(Data("CCPOD-ART \(Wire.artifactsVersion) none\n".utf8)), .silence(seconds: 60)],
            expect: stalled, within: prompt, mentions: [Wire.podName]),
        Row(name: "half a listing then silence, dry run", command: dryRun, exchange: .artifacts,
            answer: [.send(Data("CCPOD-ART \(Wire.artifactsVersion) none\nLIST none 400\nR\tok\n".utf8)), .silence(seconds: 60)],
            expect: stalled, within: prompt),
        Row(name: "part of the data then silence", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "D\t0\t5\tresults/a.txt\nhe") + [.silence(seconds: 60)],
            // What arrived is kept in the part file for the next run to finish.
            expect: stalled, within: prompt, allowed: ["results/.a.txt.ccpod-part"]),
        Row(name: "silence after the request", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "") + [.silence(seconds: 60)], expect: stalled, within: prompt),

        // Bombs.
        Row(name: "a zstd listing that inflates to 1 GB", command: dryRun, exchange: .artifacts,
            answer: [.send(Data("CCPOD-ART \(Wire.artifactsVersion) zstd\nLIST zstd \(Wire.zstdBomb.count)\n".utf8) + Wire.zstdBomb)],
            expect: bad, within: prompt),
        Row(name: "a zstd answer of zeros", command: pull + ["--compress", "zstd"], exchange: .artifacts,
            answer: [.send(Data(Wire.listing("R\tok\nV\t1000000000\nF\t5\t1.0\tresults/a.txt\n", tools: "zstd").utf8)),
                     .readUntil(line: "END"), .send(Data("Y\n".utf8)), .bomb(tool: "zstd", count: 8 << 30, line: nil)],
            // zstd flushes the compressed zeros seconds apart: a stall (69) may come first.
            expect: bad.union(stalled), within: prompt),
        Row(name: "a zstd answer of endless warnings", command: pull + ["--compress", "zstd"], exchange: .artifacts,
            answer: [.send(Data(Wire.listing("R\tok\nV\t1000000000\nF\t5\t1.0\tresults/a.txt\n", tools: "zstd").utf8)),
                     .readUntil(line: "END"), .send(Data("Y\n".utf8)), .bomb(tool: "zstd", count: 4 << 30, line: "W\tx")],
            // On a loaded machine the pod-side zstd may not flush within the test's 3 s
            // inactivity timeout: a stall (69) is as bounded an outcome as the refusal.
            expect: bad.union(stalled), within: Row.endless),

        // Escapes.
        Row(name: "escapes in a listing warning", command: dryRun, exchange: .artifacts,
            answer: Wire.artifacts(Wire.listing("R\tok\nV\t1000\nW\tslow disk \(Wire.escapes)\nF\t5\t1.0\tresults/a.txt\n")),
            expect: [0], within: prompt, mentions: ["slow disk"]),
        Row(name: "escapes in a file name", command: dryRun, exchange: .artifacts,
            answer: Wire.artifacts(Wire.listing("R\tok\nV\t1000\nF\t5\t1.0\tresults/\u{202E}gnp.exe\u{9B}1m\n")),
            expect: [0, 65], within: prompt),
        Row(name: "escapes in the agent's failure", command: pull, exchange: .artifacts,
            answer: [.send(Data("CCPOD-ART \(Wire.artifactsVersion) failed\ncannot read \(Wire.escapes)\n".utf8))],
            expect: bad, within: prompt, mentions: ["cannot read"]),
        Row(name: "escapes in an answer warning", command: pull, exchange: .artifacts,
            answer: Wire.artifacts(good, answer: "W\tcopying \(Wire.escapes)\n" + data + "END\tok\n"),
            expect: [0], within: prompt, allowed: ["results/a.txt"], mentions: ["copying"]),

        // Not the agent, or another version of it.
        Row(name: "another protocol version", command: pull, exchange: .artifacts,
            answer: [.send(Data("CCPOD-ART \(Wire.artifactsVersion + 1) none\nLIST none 6\nR\tok\n".utf8))],
            expect: bad, within: prompt, mentions: ["protocol"]),
        Row(name: "a login banner", command: dryRun, exchange: .artifacts,
            answer: [.send(Data("Welcome to Ubuntu!\n".utf8))], expect: bad, within: prompt),

        // `ccpod runs` and `ccpod check` with endless or stalled output.
        Row(name: "runs: endless output", command: ["runs"], exchange: .runs,
            answer: [.endless(line: "run\tr1\t/work/runs/r1\tdeadbeef")], expect: bad, within: Row.endless),
        Row(name: "runs: silence", command: ["runs"], exchange: .runs,
            answer: [.silence(seconds: 60)], expect: stalled, within: prompt),
        Row(name: "runs: escapes", command: ["runs"], exchange: .runs,
            answer: [.send(Data("\(Wire.escapes)\n".utf8)), .honest], expect: [0, 65], within: prompt),
        Row(name: "runs: escapes in a run's fields and tmux session names", command: ["runs"], exchange: .runs,
            answer: [.send(Data(Self.runsWithEscapes.utf8))], expect: [0], within: prompt),
        Row(name: "check: endless output", command: ["check"], exchange: .check,
            answer: [.endless(line: "tool zstd 1")], expect: [65, 69], within: Row.endless),
        Row(name: "check: silence", command: ["check"], exchange: .check,
            answer: [.silence(seconds: 60)], expect: stalled, within: prompt),
        Row(name: "check: free space past Int64", command: ["check"], exchange: .check,
            answer: [.send(Data("df /dev/x 1 1 9223372036854775807 1% /work\n".utf8)), .honest], expect: [0, 65, 69], within: prompt),
        Row(name: "check: escapes in setup details", command: ["check"], exchange: .check,
            answer: [.send(Data(("step claude ok /usr/bin/\(Wire.escapes)\ninfo claude-version 2.1 \(Wire.escapes)\n"
                + "info gpu NVIDIA \(Wire.escapes)\ninfo tmux ccpod-\(Wire.escapes.filter { $0 != " " }) 1 1764000000\nlog \(Wire.escapes)\n").utf8)), .honest],
            expect: [0, 65, 69], within: prompt),
    ]

    /// A runs registry whose strings carry escapes (JSON `\\u001b` decodes to ESC), and a tmux session named with them.
    static let runsWithEscapes = "J\t{\"name\":\"r1\",\"folder\":\"r1_20261201-000000\",\"directory\":\"/work/runs/r1_20261201-000000\","
        + "\"created\":\"2026-12-01T00:00:00Z\\u001b[2J\",\"deployed\":\"2026-12-01T00:00:00Z\",\"tag\":\"ccpod/r1\\u001b]0;owned\\u0007\","
        + "\"commit\":\"0123456789abcdef\\u009b31m\",\"project\":\"/work/demo\\u202e\",\"snapshot\":false}\n"
        + "E\tr1_20261201-000000\nK\tr1_20261201-000000\t12\nT\tccpod-r1\u{1B}]0;owned\u{07}\u{202E}\t/work/runs/r1_20261201-000000/code\n"

    @Test(arguments: rows)
    func aCraftedArtifactsAnswer(_ row: HostileCase) throws {
        try HostileCheck.play(row)
    }
}
