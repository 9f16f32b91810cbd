import Foundation

extension TranscriptFixtures {
    /// A long 2.1.x session (a few thousand lines, about 4.5 MB, one line over 1 MiB), built
    /// deterministically instead of being committed: someone watches a learning-rate sweep on a
    /// pod for a day. Same bytes on every run and every machine (a seeded generator, no clock,
    /// no locale); the fixture tests pin its SHA-256.
    enum LongSession {
        static let id = "7b3e9d52-4c1a-4f86-a0d3-5e2c8b1f9a64"
        static let relativePath = "projects/\(tinyVitSlug)/\(id).jsonl"
        static let title = "Watch the LR sweep on the pod and tell me as soon as a run diverges"
        /// The generator stops at the first turn boundary at or after this many lines.
        static let minimumLines = 3000

        /// The session, generated once per test run.
        static let bytes = generate()

        /// Builds the session afresh.
        static func generate() -> Data {
            var writer = Writer()
            writer.session()
            return Data(writer.out.utf8)
        }
    }
}

/// Writes the long session line by line, with Claude Code's key order and JSON style
/// (compact, `/` unescaped, non-ASCII raw).
private struct Writer {
    var out = ""
    var lines = 0
    var random = SplitMix64(seed: 0x5EED_C0DE_2026_1121)
    var clockMs: Int64 = 1_795_230_000_000  // 2026-11-20T… UTC
    var last: String? = nil
    /// The latest prompt's uuid: the message a file-history snapshot belongs to.
    var lastPrompt = ""
    let sid = TranscriptFixtures.LongSession.id
    let cwd = "/workspace/runs/sweep-lr/code"
    let runs = ["lr-1e-4", "lr-3e-4", "lr-1e-3", "lr-3e-3"]

    mutating func session() {
        let first = uuid()
        snapshot(first, backups: "{}", update: false)
        let hook = uuid()
        progress(#"{"type":"hook_progress","hookEvent":"SessionStart","hookName":"SessionStart:startup","command":"$CLAUDE_PROJECT_DIR/.claude/hooks/check-venv.sh"}"#, tool: hook)
        user(prompt: TranscriptFixtures.LongSession.title, uuid: first)
        var turn = 0
        while lines < TranscriptFixtures.LongSession.minimumLines {
            turn += 1
            if turn % 30 == 0 { queued(turn) }
            if turn == 120 { compaction() }
            watch(turn)
            if turn % 20 == 0 { edit(turn) }
            if turn == 100 { hugeResult() }
        }
    }

    // MARK: - Turns

    /// One look at a run's log: a prompt, a Bash call with progress lines, its result, a reading.
    mutating func watch(_ turn: Int) {
        let run = runs[Int(random.next() % UInt64(runs.count))]
        if turn > 1 {
            let prompts = ["how is \(run) doing?", "check \(run) again", "any NaN yet in \(run)?",
                           "\(run): still improving?", "look at \(run) — is val_acc flat?"]
            user(prompt: prompts[turn % prompts.count], uuid: uuid())
        }
        let (message, request) = (messageId(), requestId())
        assistant(#"[{"type":"text","text":"Checking \#(run)."}]"#, message, request)
        let tool = toolId()
        let command = "tail -n 12 runs/sweep-lr/\(run)/train.log"
        let use = assistant(#"[{"type":"tool_use","id":"\#(tool)","name":"Bash","input":{"command":"\#(command)","description":"Last epochs of \#(run)"},"caller":{"type":"direct"}}]"#, message, request)
        progress(#"{"type":"hook_progress","hookEvent":"PreToolUse","hookName":"PreToolUse:Bash","command":"$CLAUDE_PROJECT_DIR/.claude/hooks/no-secrets.sh"}"#, tool: tool)
        let epoch = 10 + turn / 3
        var log = [String]()
        for e in (epoch - 11)...epoch { log.append(logLine(run: run, epoch: e)) }
        let updates = 2 + Int(random.next() % 5)
        for k in 1...updates {
            let shown = log.prefix(k * 12 / updates).joined(separator: "\n")
            progress(#"{"type":"bash_progress","output":\#(json(shown)),"fullOutput":\#(json(shown)),"elapsedTimeSeconds":\#(k),"totalLines":\#(k * 12 / updates),"timeoutMs":120000}"#, tool: tool, step: 900)
        }
        let text = log.joined(separator: "\n")
        toolResult(tool, content: json(text), result: #"{"stdout":\#(json(text)),"stderr":"","interrupted":false,"isImage":false,"noOutputExpected":false}"#, source: use)
        let acc = 7000 + Int(random.next() % 2000)
        let reading = "\(run) at epoch \(epoch): val_acc \(fixed(acc, 4)) — Δ vs. last check ≈ +\(fixed(Int(random.next() % 90), 4)). Latest record: {\"run\":\"\(run)\",\"epoch\":\(epoch),\"val_acc\":\(fixed(acc, 4))}"
        assistant(#"[{"type":"text","text":\#(json(reading))}]"#, messageId(), requestId(), stop: #""end_turn""#)
        system(#""subtype":"turn_duration","durationMs":\#(4000 + Int(random.next() % 9000))"#, meta: false)
    }

    /// An edit of the sweep config, with the file-history snapshot that records it.
    mutating func edit(_ turn: Int) {
        let (message, request) = (messageId(), requestId())
        let tool = toolId()
        let old = "patience: \(turn / 20 + 2)", new = "patience: \(turn / 20 + 3)"
        let file = "\(cwd)/configs/sweep.yaml"
        let use = assistant(#"[{"type":"tool_use","id":"\#(tool)","name":"Edit","input":{"file_path":"\#(file)","old_string":"\#(old)","new_string":"\#(new)","replace_all":false},"caller":{"type":"direct"}}]"#, message, request)
        toolResult(tool, content: json("The file \(file) has been updated successfully."),
                   result: #"{"filePath":"\#(file)","oldString":"\#(old)","newString":"\#(new)","originalFile":null,"structuredPatch":[{"oldStart":9,"oldLines":1,"newStart":9,"newLines":1,"lines":["-\#(old)","+\#(new)"]}],"userModified":false,"replaceAll":false}"#,
                   source: use)
        let stamp = timestamp()
        snapshot(lastPrompt, backups: #"{"configs/sweep.yaml":{"backupFileName":"4d1c8e2a9b7f0635@v\#(turn / 20)","version":\#(turn / 20),"backupTime":"\#(stamp)"}}"#, update: true)
    }

    /// A message typed while Claude works: queued, then delivered.
    mutating func queued(_ turn: Int) {
        let text = "after this, also plot val_acc for all four runs (turn \(turn))"
        line(#"{"type":"queue-operation","operation":"enqueue","timestamp":"\#(timestamp())","sessionId":"\#(sid)","content":\#(json(text))}"#)
        line(#"{"type":"queue-operation","operation":"remove","timestamp":"\#(timestamp())","sessionId":"\#(sid)"}"#)
        user(prompt: text, uuid: uuid())
    }

    /// A manual compaction: a new root naming the old leaf, then the summary as a user line.
    mutating func compaction() {
        let before = last ?? ""
        let boundary = uuid()
        line(#"{"parentUuid":null,"logicalParentUuid":"\#(before)",\#(common)"type":"system","subtype":"compact_boundary","content":"Conversation compacted","isMeta":false,"timestamp":"\#(timestamp())","uuid":"\#(boundary)","level":"info","compactMetadata":{"trigger":"manual","preTokens":148211}}"#)
        last = boundary
        let summary = "This session is being continued from a previous conversation that ran out of context. The conversation is summarized below:\nThe user watches an LR sweep (\(runs.joined(separator: ", "))) on a pod and wants to hear as soon as a run diverges; patience in configs/sweep.yaml was raised several times."
        let id = uuid()
        line(#"\#(head(last))"type":"user","message":{"role":"user","content":\#(json(summary))},"isVisibleInTranscriptOnly":true,"isCompactSummary":true,"uuid":"\#(id)","timestamp":"\#(timestamp())"}"#)
        last = id
    }

    /// One result well over 1 MiB on a single line (a full `pip freeze` + training log dump).
    mutating func hugeResult() {
        let (message, request) = (messageId(), requestId())
        let tool = toolId()
        let use = assistant(#"[{"type":"tool_use","id":"\#(tool)","name":"Bash","input":{"command":"cat runs/sweep-lr/*/train.log","description":"Full logs of every run"},"caller":{"type":"direct"}}]"#, message, request)
        var log = [String]()
        for run in runs {
            for e in 0..<2000 { log.append(logLine(run: run, epoch: e)) }
        }
        let text = log.joined(separator: "\n")
        toolResult(tool, content: json(text), result: #"{"stdout":\#(json(text)),"stderr":"","interrupted":false,"isImage":false,"noOutputExpected":false}"#, source: use)
    }

    // MARK: - Lines

    mutating func logLine(run: String, epoch: Int) -> String {
        let loss = 25000 - min(epoch, 200) * 80 + Int(random.next() % 400)
        let lossText = run == "lr-3e-3" && epoch > 37 ? "nan" : fixed(loss, 4)
        return "[\(run)] epoch \(String(repeating: "0", count: max(0, 3 - String(epoch).count)))\(epoch) loss \(lossText) val_acc \(fixed(6000 + min(epoch, 90) * 30 + Int(random.next() % 100), 4)) lr \(run.dropFirst(3)) \t\(80 + Int(random.next() % 20)) img/s"
    }

    /// The fields every conversation line starts with, ending in a comma.
    func head(_ parent: String?) -> String {
        let quoted = parent.map { "\"" + $0 + "\"" } ?? "null"
        return "{\"parentUuid\":" + quoted + "," + common
    }

    /// What follows `parentUuid` (and `logicalParentUuid`) on a conversation line.
    var common: String {
        #""isSidechain":false,"userType":"external","cwd":"\#(cwd)","sessionId":"\#(sid)","version":"2.1.41","gitBranch":"sweep-lr","slug":"steady-humming-falcon","#
    }

    mutating func user(prompt: String, uuid: String) {
        line(#"\#(head(last))"type":"user","message":{"role":"user","content":\#(json(prompt))},"uuid":"\#(uuid)","timestamp":"\#(timestamp(step: 60_000))","thinkingMetadata":{"maxThinkingTokens":31999},"todos":[],"permissionMode":"default"}"#)
        last = uuid
        lastPrompt = uuid
    }

    @discardableResult
    mutating func assistant(_ content: String, _ message: String, _ request: String, stop: String = "null") -> String {
        let id = uuid()
        let usage = #"{"input_tokens":\#(3 + Int(random.next() % 40)),"cache_creation_input_tokens":\#(Int(random.next() % 4000)),"cache_read_input_tokens":\#(20000 + Int(random.next() % 90000)),"output_tokens":\#(5 + Int(random.next() % 300)),"service_tier":"standard"}"#
        line(#"\#(head(last))"message":{"model":"claude-opus-4-6","id":"\#(message)","type":"message","role":"assistant","content":\#(content),"stop_reason":\#(stop),"stop_sequence":null,"usage":\#(usage)},"requestId":"\#(request)","type":"assistant","uuid":"\#(id)","timestamp":"\#(timestamp())"}"#)
        last = id
        return id
    }

    mutating func toolResult(_ tool: String, content: String, result: String, source: String) {
        let id = uuid()
        line(#"\#(head(last))"type":"user","message":{"role":"user","content":[{"tool_use_id":"\#(tool)","type":"tool_result","content":\#(content),"is_error":false}]},"uuid":"\#(id)","timestamp":"\#(timestamp())","toolUseResult":\#(result),"sourceToolAssistantUUID":"\#(source)"}"#)
        last = id
    }

    mutating func progress(_ data: String, tool: String, step: Int64 = 40) {
        let id = uuid()
        line(#"\#(head(last))"type":"progress","data":\#(data),"toolUseID":"\#(tool)","parentToolUseID":"\#(tool)","uuid":"\#(id)","timestamp":"\#(timestamp(step: step))"}"#)
        last = id
    }

    mutating func system(_ fields: String, meta: Bool) {
        let id = uuid()
        line(#"\#(head(last))"type":"system",\#(fields),"timestamp":"\#(timestamp())","uuid":"\#(id)","isMeta":\#(meta)}"#)
        last = id
    }

    mutating func snapshot(_ messageId: String, backups: String, update: Bool) {
        line(#"{"type":"file-history-snapshot","messageId":"\#(messageId)","snapshot":{"messageId":"\#(messageId)","trackedFileBackups":\#(backups),"timestamp":"\#(timestamp(step: 30))"},"isSnapshotUpdate":\#(update)}"#)
    }

    mutating func line(_ text: String) {
        out += text
        out += "\n"
        lines += 1
    }

    // MARK: - Values

    mutating func uuid() -> String {
        let a = random.next(), b = random.next()
        let hex = String(a, radix: 16).leftPadded(16) + String(b, radix: 16).leftPadded(16)
        let c = Array(hex)
        let variant: Character = ["8", "9", "a", "b"][Int(b >> 62)]
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-4" + String(c[13..<16]) + "-" + String(variant) + String(c[17..<20]) + "-" + String(c[20..<32])
    }

    mutating func messageId() -> String { "msg_01" + base62(22) }
    mutating func requestId() -> String { "req_011C" + base62(20) }
    mutating func toolId() -> String { "toolu_01" + base62(22) }

    mutating func base62(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<count).map { _ in alphabet[Int(random.next() % 62)] })
    }

    /// `2026-11-20T10:41:07.733Z` from the running clock, advanced by about `step` ms.
    mutating func timestamp(step: Int64 = 1500) -> String {
        clockMs += step + Int64(random.next() % UInt64(step + 1))
        let days = clockMs / 86_400_000, msOfDay = clockMs % 86_400_000
        // Civil date from days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant.
        let z = days + 719_468
        let era = z / 146_097, doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = msOfDay % 1000
        return "\(year)-\(two(month))-\(two(day))T\(two(msOfDay / 3_600_000)):\(two(msOfDay / 60_000 % 60)):\(two(msOfDay / 1000 % 60))."
            + (ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)") + "Z"
    }

    /// `value / 10^places` in fixed notation, by integer arithmetic (no locale, no rounding).
    func fixed(_ value: Int, _ places: Int) -> String {
        var scale = 1
        for _ in 0..<places { scale *= 10 }
        let fraction = String(value % scale)
        return "\(value / scale)." + String(repeating: "0", count: places - fraction.count) + fraction
    }
}

/// A JSON string literal the way Claude Code writes one: `"` `\` and controls escaped, the rest raw.
private func json(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A small seeded generator (SplitMix64): the same sequence everywhere.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
