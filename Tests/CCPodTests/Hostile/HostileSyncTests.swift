@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The sync agent's answer crafted by a pod an attacker controls, against the real binary
/// over a real sshd: one row per attack (adding one is one line).
@Suite(.enabled(if: HostilePod.isAvailable, "sshd is not installed or ccpod was not built next to the tests"))
struct HostileSyncTests {
    typealias Row = HostileCase
    static let pull = ["pull", "--all"]
    static let sync = ["sync", "--all"]
    static let status = ["status", "--all"]
    static let projectPull = ["pull", "--project", "{project}", "--pod-path", "/work/demo"]
    static let ours = "projects/\(Wire.slug)/\(Wire.session).jsonl"
    static let other = "projects/\(Wire.slug)/\(Wire.otherSession).jsonl"
    static let bad = Row.bad, stalled = Row.stalled, prompt = Row.prompt
    static let h = Wire.agentHeader()

    /// Files a pod must never create on the laptop, whatever it answers.
    static let plantRows: [Row] = [
        ".credentials.json", ".claude.json", "settings.local.json", "plugins/evil/.claude-plugin/plugin.json",
        "plugins/installed_plugins.json", "ide/4242.lock", "sessions/4242.json", "statsig/statsig.stable_id",
        "shell-snapshots/snapshot-zsh-1.sh", "commands/evil.md",
    ].map { path in
        Row(name: "pull plants \(path)", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.newFile(path, "{\"hooks\":{}}\n") + Wire.end),
            expect: bad, within: prompt, forbidden: [path])
    }

    static let rows: [Row] = plantRows + [
        // Paths out of scope.
        Row(name: "sync plants settings.local.json next to a good session", command: sync, exchange: .agent,
            answer: Wire.agent(Wire.newFile(other) + Wire.newFile("settings.local.json", "{\"hooks\":{}}\n") + Wire.end),
            expect: bad, within: prompt, allowed: [other], forbidden: ["settings.local.json"]),
        Row(name: "project pull gets another project's session", command: projectPull, exchange: .agent,
            answer: Wire.agent(Wire.newFile("projects/-work-demo/\(Wire.otherSession).jsonl")
                               + Wire.newFile("projects/-home-secret/\(Wire.otherSession).jsonl") + Wire.end),
            expect: bad, within: prompt, allowed: ["projects"], forbidden: ["projects/-home-secret"]),
        Row(name: "pull of a path that climbs out", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.newFile("projects/../../escape.jsonl") + Wire.end),
            expect: bad, within: prompt),
        Row(name: "pull of an absolute path", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.newFile("/tmp/ccpod-hostile-escape.jsonl") + Wire.end),
            expect: bad, within: prompt),
        Row(name: "data record for a file no state record named", command: pull, exchange: .agent,
            answer: Wire.agent("D\t0\t5\t\(Wire.helloSha)\t.credentials.json\n\(Wire.hello)" + Wire.end),
            expect: bad, within: prompt, forbidden: [".credentials.json"]),

        // Sizes.
        Row(name: "negative size", command: pull, exchange: .agent,
            answer: Wire.agent("S\tnew\t-5\t1.0\t0\t\(Wire.helloSha)\t\(other)\nD\t0\t-5\t\(Wire.helloSha)\t\(other)\n" + Wire.end),
            expect: bad, within: prompt),
        Row(name: "data length Int64.max", command: pull, exchange: .agent,
            answer: Wire.agent("S\tnew\t\(Wire.max)\t1.0\t0\t\(Wire.helloSha)\t\(other)\nD\t0\t\(Wire.max)\t\(Wire.helloSha)\t\(other)\n\(Wire.hello)"),
            expect: bad, within: prompt),
        Row(name: "data offset Int64.max", command: pull, exchange: .agent,
            answer: Wire.agent("S\tgrew\t\(Wire.max)\t1.0\t1\t-\t\(ours)\nD\t\(Wire.max)\t5\t\(Wire.helloSha)\t\(ours)\n\(Wire.hello)" + Wire.end),
            expect: bad, within: prompt),
        Row(name: "a batch whose sizes add past Int64", command: pull, exchange: .agent,
            answer: Wire.agent("E\t2\t5\nD\t0\t\(Wire.max)\t\(Wire.helloSha)\t\(other)\nD\t0\t\(Wire.max)\t\(Wire.helloSha)\t\(ours)\n\(Wire.hello)" + Wire.end),
            expect: bad, within: prompt),
        Row(name: "a batch claiming Int64.max records", command: pull, exchange: .agent,
            answer: Wire.agent("E\t\(Wire.max)\t5\n" + Wire.end),
            expect: bad, within: prompt),
        Row(name: "a huge length with the progress line on", command: pull, exchange: .agent,
            answer: Wire.agent("D\t0\t\(Wire.max)\t\(Wire.helloSha)\t\(other)\n\(Wire.hello)"),
            expect: bad, within: prompt, terminal: true),
        Row(name: "a batch past Int64 with the progress line on", command: sync, exchange: .agent,
            answer: Wire.agent("E\t2\t5\nD\t0\t\(Wire.max)\t\(Wire.helloSha)\t\(other)\nD\t0\t2\t\(Wire.helloSha)\t\(ours)\n\(Wire.hello)" + Wire.end),
            expect: bad, within: prompt, terminal: true),
        Row(name: "state record with sizes and line counts past Int64", command: status, exchange: .agent,
            answer: Wire.agent("S\tgrew\t99999999999999999999\t1.0\t99999999999999999999\t-\t\(ours)\n" + Wire.end),
            expect: bad, within: prompt),

        // Endless answers: a limit ends them, memory stays flat.
        Row(name: "endless warnings", command: pull, exchange: .agent,
            answer: Wire.agent("") + [.endless(line: "W\tthe pod is busy")], expect: bad, within: Row.endless),
        Row(name: "endless warnings during status", command: status, exchange: .agent,
            answer: Wire.agent("") + [.endless(line: "W\tthe pod is busy")], expect: bad, within: Row.endless),
        Row(name: "endless state records", command: pull, exchange: .agent,
            answer: Wire.agent("") + [.endless(line: "S\tsame\t10\t1.0\t1\t-\t\(ours)")], expect: bad, within: Row.endless),
        Row(name: "endless data records", command: sync, exchange: .agent,
            answer: Wire.agent("") + [.endless(line: "D\t0\t0\t\(SHA256Hex.of(Data()))\t\(other)")], expect: bad, within: Row.endless),

        // Stalled answers.
        Row(name: "header then silence", command: pull, exchange: .agent,
            answer: Wire.agent("") + [.silence(seconds: 60)], expect: stalled, within: prompt, mentions: [Wire.podName]),
        Row(name: "partial data then silence", command: pull, exchange: .agent,
            answer: Wire.agent("S\tnew\t100\t1.0\t1\t\(Wire.helloSha)\t\(other)\nD\t0\t100\t\(Wire.helloSha)\t\(other)\nhel")
                + [.silence(seconds: 60)], expect: stalled, within: prompt),
        Row(name: "silence before the header", command: sync, exchange: .agent,
            answer: [.readRequest, .silence(seconds: 60)], expect: stalled, within: prompt),
        Row(name: "silence without reading the request", command: sync, exchange: .agent,
            answer: [.silence(seconds: 60)], expect: stalled, within: prompt),
        Row(name: "status stalls after a warning", command: status, exchange: .agent,
            answer: Wire.agent("W\thashing\n") + [.silence(seconds: 60)], expect: stalled, within: prompt),

        // Decompression bombs declared as the answer's compression.
        // The crafted pod compresses 8 GiB of zeros as it sends them: zstd flushes its
        // few bytes of output seconds apart, so ccpod may see the pod stall before the
        // zeros arrive (69) instead of refusing the line they make (65). Either ends it.
        Row(name: "zstd bomb of zeros", command: pull, exchange: .agent,
            answer: [.readRequest, .send(Data(Wire.agentHeader("zstd").utf8)), .bomb(tool: "zstd", count: 8 << 30, line: nil)],
            expect: bad.union(stalled), within: prompt),
        Row(name: "gzip bomb of zeros", command: pull, exchange: .agent,
            answer: [.readRequest, .send(Data(Wire.agentHeader("gzip").utf8)), .bomb(tool: "gzip", count: 2 << 30, line: nil)],
            expect: bad, within: Row.endless),
        // On a loaded machine the crafted pod's pipeline (yes | head | zstd) may start its
        // output later than the 3 s inactivity timeout: a stall (69) ends it as well as the
        // refusal of the 10,001st warning (65); memory and the end are what is checked.
        // A zstd frame that asks for a 128 MB window (ccpod's agent uses 16 MB): refused
        // before any memory is taken, though zstd's own default would decode it. Decoded
        // in ccpod's process (where libzstd is), the refusal says why.
        Row(name: "a zstd answer asking for a 128 MB window", command: pull, exchange: .agent,
            answer: [.readRequest, .send(Data(Wire.agentHeader("zstd").utf8) + Wire.zstdFrame(windowLog: 27, raw: Data(Wire.end.utf8)))],
            expect: bad, within: prompt, mentions: ZstdDecoder.available ? ["requires too much memory"] : []),
        // Half a zstd frame, then silence: the decoder waits through the watchdog.
        Row(name: "half a zstd frame then silence", command: pull, exchange: .agent,
            answer: [.readRequest, .send(Data(Wire.agentHeader("zstd").utf8) + Wire.zstdFrame(windowLog: 20, raw: Data(Wire.end.utf8)).prefix(8)),
                     .silence(seconds: 60)],
            expect: stalled, within: prompt),
        // Frames that decode to nothing (skippable ones), 8 MiB of them and no end: each
        // byte is a sign of life, so only a bound on input without output stops it
        // where ccpod decodes in process (elsewhere the zstd child's silence is a stall).
        Row(name: "zstd frames that decode to nothing", command: pull, exchange: .agent,
            answer: [.readRequest, .send(Data(Wire.agentHeader("zstd").utf8) + Wire.skippableFrames(8 << 20)), .silence(seconds: 60)],
            expect: ZstdDecoder.available ? bad : bad.union(stalled), within: prompt,
            mentions: ZstdDecoder.available ? ["brought no data"] : []),
        Row(name: "zstd bomb of warnings", command: pull, exchange: .agent,
            answer: [.readRequest, .send(Data(Wire.agentHeader("zstd").utf8)), .bomb(tool: "zstd", count: 4 << 30, line: "W\tx")],
            expect: bad.union(stalled), within: Row.endless),

        // Escapes from the pod: warnings, names, the agent's own failure.
        Row(name: "escapes in a warning", command: pull, exchange: .agent,
            answer: Wire.agent("W\tdisk \(Wire.escapes) almost full\n" + Wire.end), expect: [0], within: prompt, mentions: ["almost full"]),
        Row(name: "escapes in the agent's failure", command: sync, exchange: .agent,
            answer: Wire.agent("W\tno space left \(Wire.escapes)\nEND\tfailed\n"), expect: bad, within: prompt, mentions: ["no space left"]),
        Row(name: "escapes in a new session's name", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.newFile("projects/\(Wire.slug)/\(Wire.escapes.filter { $0 != "\u{1B}" && $0 != "\u{07}" }).jsonl") + Wire.end),
            expect: [0, 65], within: prompt, allowed: ["projects/\(Wire.slug)"]),
        Row(name: "escapes in an unsafe path", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.newFile("projects/\(Wire.slug)/\u{1B}]0;x\u{07}.jsonl") + Wire.end), expect: bad, within: prompt),
        Row(name: "escapes in a protocol version", command: pull, exchange: .agent,
            answer: Wire.agent("", header: "CCPOD-AGENT \u{1B}[2J\u{9B}1m none\n"), expect: bad, within: prompt),

        // State that would poison the ancestor store; the next honest sync must work.
        Row(name: "a new-file record with size and mtime '-'", command: pull, exchange: .agent,
            answer: Wire.agent("S\tnew\t-\t-\t0\t-\t\(other)\n" + Wire.end),
            expect: [0, 65], within: prompt, allowed: [other], then: sync),
        Row(name: "a new file whose mtime is '-'", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.newFile(other, mtime: "-") + Wire.end),
            expect: [0, 65], within: prompt, allowed: [other], then: sync),
        Row(name: "a new file whose mtime is '-', then status", command: sync, exchange: .agent,
            answer: Wire.agent(Wire.newFile(other, mtime: "-") + Wire.end),
            expect: [0, 65], within: prompt, allowed: [other], then: status),
        Row(name: "a written record with size and mtime '-' after a push", command: sync, exchange: .agent,
            answer: Wire.agent("S\twritten\t-\t-\t0\t-\t\(ours)\nS\tappended\t-\t-\t0\t-\t\(ours)\n" + Wire.end),
            expect: [0, 65], within: prompt, allowed: [ours], then: status),
        Row(name: "a state record with a malformed mtime", command: pull, exchange: .agent,
            answer: Wire.agent("S\tsame\t10\tyesterday\t1\t-\t\(ours)\n" + Wire.end),
            expect: [0, 65], within: prompt, allowed: [ours], then: sync),

        // Not the agent, or another version of it.
        Row(name: "another protocol version", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.end, header: Wire.agentHeader(version: Wire.agentVersion + 1)),
            expect: bad, within: prompt, mentions: ["protocol"]),
        Row(name: "a login banner instead of the agent", command: sync, exchange: .agent,
            answer: [.readRequest, .send(Data("Welcome to Ubuntu 22.04.3 LTS\n\nlast login: never\n".utf8))], expect: bad, within: prompt),
        Row(name: "no answer at all", command: status, exchange: .agent,
            answer: [.readRequest], expect: bad, within: prompt),
        Row(name: "an unknown compression", command: pull, exchange: .agent,
            answer: Wire.agent(Wire.end, header: "CCPOD-AGENT \(Wire.agentVersion) bzip2\n"), expect: bad, within: prompt),
        Row(name: "an overlong header", command: pull, exchange: .agent,
            answer: [.readRequest, .endless(line: "CCPOD-AGENT")], expect: bad, within: prompt),
    ]

    @Test(arguments: rows)
    func aCraftedSyncAnswer(_ row: HostileCase) throws {
        try HostileCheck.play(row)
    }

    /// The harness itself: an honest pod, a pull and a sync that work (else every row above proves nothing).
    @Test func anHonestPodSyncs() throws {
        let pod = try HostilePod()
        defer { pod.shutdown() }
        try HostileCheck.write(Wire.line, to: pod.podClaudeDir.appendingPathComponent(Self.other))
        let pulled = try pod.run(HostileCheck.arguments(Self.pull, pod: pod, destination: pod.root))
        #expect(pulled.status == 0, "\(pulled.summary)")
        #expect(FileManager.default.fileExists(atPath: pod.claudeDir.appendingPathComponent(Self.other).path))
        #expect(pulled.peakRSSBytes < HostileCheck.megabytes100, "\(pulled.summary)")
    }
}

extension Wire {
    static let podName = "gpu"
}
