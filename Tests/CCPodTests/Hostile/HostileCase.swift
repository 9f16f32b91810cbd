import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// One crafted answer and what the real binary must do with it: a row of the hostile suites.
struct HostileCase: Sendable, CustomTestStringConvertible {
    /// What the row shows (the test's name in the run's output).
    var name: String
    /// The command, without `--pod`; `{to}` stands for the destination folder, `{project}` for the project.
    var command: [String]
    /// Which exchange gets the crafted answer.
    var exchange: HostilePod.Exchange
    var answer: [HostilePod.Step]
    /// Exit statuses that are right (65 bad data, 69 unreachable or stalled, 0 done).
    var expect: Set<Int32>
    /// Seconds within which it must end: the inactivity timeout (3 s, `CCPOD_TIMEOUT`) plus slack.
    var within: Double
    /// Paths (relative to the laptop's Claude dir, or to `--to` for artifacts) that may appear or change.
    var allowed: [String] = []
    /// Paths relative to the laptop's Claude dir that must not exist afterwards.
    var forbidden: [String] = []
    /// Text the user must read on stderr (the real reason), case-insensitive.
    var mentions: [String] = []
    /// stderr is a terminal (the progress line is on).
    var terminal = false
    /// An honest command that must work afterwards (state not poisoned).
    var then: [String]? = nil

    var testDescription: String { name }

    static let timeout = 3.0
    /// Slack for a rejected answer or a stall: the timeout, process start-up, ssh, a loaded machine.
    static let prompt = timeout + 12
    /// Endless answers end on a record or size limit, not on silence.
    static let endless = 40.0

    static let bad: Set<Int32> = [65]
    static let stalled: Set<Int32> = [69]
}

/// Crafted answers, written from the wire formats in agent.sh's and artifacts.sh's headers.
enum Wire {
    static let agentVersion = AgentScript.protocolVersion
    static let artifactsVersion = ArtifactsScript.protocolVersion
    static let max = "9223372036854775807"
    static let session = "7b3c2a10-1d2e-4f3a-8b4c-5d6e7f8a9b0c"
    static let otherSession = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
    /// The project every sync row works on (laptop and pod use the same slug under `--all`).
    static let slug = "-work-demo"
    static let line = "{\"type\":\"user\",\"sessionId\":\"\(session)\",\"uuid\":\"00000000-0000-4000-8000-000000000001\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n"
    /// Escape sequences a terminal acts on: retitle (OSC), clear (CSI), an 8-bit CSI, a bidi override.
    static let escapes = "\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31m\u{202E}txt.exe\u{2066}"

    static func agentHeader(_ compression: String = "none", version: Int = agentVersion) -> String {
        "CCPOD-AGENT \(version) \(compression)\n"
    }

    /// A new file the pod offers: its state, then its data.
    static func newFile(_ path: String, _ content: String = line, mtime: String = "1764000000.0000000000") -> String {
        let sha = SHA256Hex.of(Data(content.utf8))
        let n = content.utf8.count
        return "S\tnew\t\(n)\t\(mtime)\t1\t\(sha)\t\(path)\nD\t0\t\(n)\t\(sha)\t\(path)\n\(content)"
    }

    static let end = "END\tok\n"

    /// One zstd frame holding `raw` as one raw block, its header declaring a window of
    /// 2^windowLog bytes (no content size, so the decoder must honour the window).
    static func zstdFrame(windowLog: Int, raw: Data) -> Data {
        precondition((10...41).contains(windowLog) && raw.count < 1 << 21)
        var frame = Data([0x28, 0xB5, 0x2F, 0xFD, 0x00, UInt8((windowLog - 10) << 3)])
        let block = UInt32(raw.count) << 3 | 1 // the last block, raw
        frame.append(contentsOf: [UInt8(block & 0xFF), UInt8(block >> 8 & 0xFF), UInt8(block >> 16 & 0xFF)])
        return frame + raw
    }

    /// `bytes` of zstd skippable frames (64 KiB each): a valid stream that decodes to nothing.
    static func skippableFrames(_ bytes: Int) -> Data {
        let frame = Data([0x50, 0x2A, 0x4D, 0x18, 0xF8, 0xFF, 0, 0]) + Data(count: 0xFFF8)
        var data = Data()
        while data.count < bytes { data += frame }
        return data
    }

    /// A crafted sync answer: header, records, end; played after reading the whole request.
    static func agent(_ records: String, header: String = agentHeader()) -> [HostilePod.Step] {
        [.readRequest, .send(Data((header + records).utf8))]
    }

    static func listing(_ records: String, tools: String = "none", declared: String? = nil) -> String {
        "CCPOD-ART \(artifactsVersion) \(tools)\nLIST none \(declared ?? String(records.utf8.count))\n" + records
    }

    static let goodListing = listing("R\tok\nV\t1000000000\nF\t5\t1764000000.0\tresults/a.txt\n")
    static let hello = "hello"
    static let helloSha = SHA256Hex.of(Data(hello.utf8))

    /// A crafted artifacts exchange: the listing at once, then (after ccpod's request) the answer.
    static func artifacts(_ listing: String, answer: String? = nil) -> [HostilePod.Step] {
        var steps: [HostilePod.Step] = [.send(Data(listing.utf8))]
        if let answer { steps += [.readUntil(line: "END"), .send(Data(answer.utf8))] }
        return steps
    }

    /// 1 GB of zeros, zstd-compressed (about 40 KB), made once per test run.
    static let zstdBomb: Data = {
        let out = try? HostilePod.shell("head -c 1073741824 /dev/zero | zstd -q -1 -c")
        return out ?? Data()
    }()
}

extension HostilePod {
    /// Runs `script` with sh here and returns its stdout.
    static func shell(_ script: String) throws -> Data {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-sh-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = try ChildProcess.run("/bin/sh", ["-c", script + " > '\(folder.path)/out'"])
        guard out.status == 0 else { throw CCPodError.failure("\(script): \(out.stderrText)") }
        return FileManager.default.contents(atPath: folder.path + "/out") ?? Data()
    }
}

/// Plays a row against a fresh hostile pod and checks everything the hardening issue demands.
enum HostileCheck {
    static let megabytes100: Int64 = 100 << 20

    static func play(_ row: HostileCase) throws {
        let pod = try HostilePod()
        defer { pod.shutdown() }
        // A laptop with one session and the user's settings; the same session on the pod.
        let sessionPath = "projects/\(Wire.slug)/\(Wire.session).jsonl"
        try write(Wire.line, to: pod.claudeDir.appendingPathComponent(sessionPath))
        try write("{\"theme\":\"dark\"}\n", to: pod.claudeDir.appendingPathComponent("settings.json"))
        try write(Wire.line, to: pod.podClaudeDir.appendingPathComponent(sessionPath))
        let destination = pod.root.appendingPathComponent("dest")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)

        try pod.queue(HostilePod.Answer(row.answer), for: row.exchange)
        let claudeBefore = FolderSnapshot(pod.claudeDir)
        let homeBefore = FolderSnapshot(pod.home)
        let destBefore = FolderSnapshot(destination)
        let rootBefore = Set(((try? FileManager.default.contentsOfDirectory(atPath: pod.root.path)) ?? []))

        let outcome = try pod.run(arguments(row.command, pod: pod, destination: destination),
                                  environment: ["CCPOD_TIMEOUT": String(Int(HostileCase.timeout))],
                                  hardLimit: row.within + 10, stderrIsTerminal: row.terminal)
        let what = "\(row.name): \(outcome.summary)"
        // One line per row in the run's output: what the binary did, for the record.
        print("hostile row: \(row.name): \(outcome.summary.replacingOccurrences(of: "\n", with: " / "))")

        // The crafted answer was played: otherwise the row proves nothing.
        #expect(pod.unplayed == 0, "\(row.name): ccpod never ran the exchange the crafted answer was for")
        // (b) an exit, not a signal, of the expected class.
        #expect(outcome.signal == nil && outcome.killedByHarness == nil, "\(what)")
        #expect(outcome.status.map { row.expect.contains($0) } ?? false, "expected exit \(row.expect.sorted()): \(what)")
        // (c) bounded memory, measured.
        #expect(outcome.peakRSSBytes < megabytes100, "\(what)")
        // (d) within the inactivity timeout plus slack.
        #expect(outcome.seconds <= row.within, "\(what)")
        // The terminal is not flooded either: many warnings end as "and N more".
        #expect(outcome.stderrBytes < 1 << 20, "\(row.name): \(outcome.stderrBytes) bytes on stderr")
        // (a) nothing written outside the allowed paths.
        let claudeChanges = FolderSnapshot(pod.claudeDir).changes(since: claudeBefore)
            .filter { !isAllowed($0, row.allowed, snapshot: FolderSnapshot(pod.claudeDir)) }
        #expect(claudeChanges.isEmpty, "\(row.name): written in the Claude dir: \(claudeChanges)")
        let homeChanges = FolderSnapshot(pod.home).changes(since: homeBefore)
        #expect(homeChanges.isEmpty, "\(row.name): written in HOME: \(homeChanges)")
        let destChanges = FolderSnapshot(destination).changes(since: destBefore)
            .filter { !isAllowed($0, row.allowed, snapshot: FolderSnapshot(destination)) && !$0.hasSuffix(".ccpod-part") }
        #expect(destChanges.isEmpty, "\(row.name): written in the destination: \(destChanges)")
        let rootAfter = Set(((try? FileManager.default.contentsOfDirectory(atPath: pod.root.path)) ?? []))
        #expect(rootAfter.subtracting(rootBefore).isEmpty, "\(row.name): new in the test root: \(rootAfter.subtracting(rootBefore))")
        for path in row.forbidden {
            #expect(!FileManager.default.fileExists(atPath: pod.claudeDir.appendingPathComponent(path).path), "\(row.name): \(path) was written")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/ccpod-hostile-escape.jsonl"), "\(row.name): an absolute path was written")
        // (e) nothing raw from the pod on the terminal (ccpod's own progress line is allowed on a terminal).
        if !row.terminal {
            let raw = TerminalText.unsafeCharacters(in: outcome.stderr)
            #expect(raw.isEmpty, "\(row.name): raw on stderr: \(raw): \(outcome.stderrText.debugDescription.suffix(300))")
            if !row.command.contains("--json") {
                let rawOut = TerminalText.unsafeCharacters(in: outcome.stdout)
                #expect(rawOut.isEmpty, "\(row.name): raw on stdout: \(rawOut)")
            }
        }
        // The real reason, not a connection message, when the pod's answer was rejected.
        if outcome.status == 65 {
            #expect(!outcome.stderrText.contains("closed before the command ran"), "\(what)")
        }
        for text in row.mentions {
            #expect(outcome.stderrText.lowercased().contains(text.lowercased()), "\(row.name): stderr does not say \(text.debugDescription): \(outcome.stderrText)")
        }
        if let then = row.then {
            let after = try pod.run(arguments(then, pod: pod, destination: destination),
                                    environment: ["CCPOD_TIMEOUT": String(Int(HostileCase.timeout))], hardLimit: 60)
            #expect(after.status == 0, "\(row.name): then \(then.joined(separator: " ")): \(after.summary)")
        }
    }

    static func arguments(_ command: [String], pod: HostilePod, destination: URL) -> [String] {
        var args = command.map { $0.replacingOccurrences(of: "{to}", with: destination.path)
            .replacingOccurrences(of: "{project}", with: pod.projectDir.path) }
        args += ["--pod", pod.name]
        if ["push", "pull", "sync", "status"].contains(command.first ?? "") {
            args += ["--claude-dir", pod.claudeDir.path, "--busy-seconds", "0"]
        } else if command.first == "sessions" {
            args += ["--claude-dir", pod.claudeDir.path]
        }
        return args
    }

    /// A change is allowed when it is an allowed path, under one, or a folder on the way to one.
    static func isAllowed(_ path: String, _ allowed: [String], snapshot: FolderSnapshot) -> Bool {
        allowed.contains { path == $0 || path.hasPrefix($0 + "/") || ($0.hasPrefix(path + "/") && snapshot.entries[path] == "d") }
    }

    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }
}
