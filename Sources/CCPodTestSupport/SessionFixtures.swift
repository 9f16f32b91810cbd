import CCPodKit
import Foundation

/// Writes Claude Code sessions in the real on-disk format, for tests and benchmarks:
/// user prompts, assistant turns with `tool_use`, `tool_result` lines, `summary`,
/// `file-history-snapshot`, `queue-operation` lines, subagent files, a rewind branch
/// (two children of one parent) and a compaction root with `logicalParentUuid`.
public enum SessionFixtures {
    /// What to put in a generated session.
    public struct Options: Sendable {
        /// Conversation lines to write (at least the opening exchange is always written).
        public var lines: Int = 12
        /// Grow the session with padded assistant turns until it is about this many bytes.
        public var approximateBytes: Int? = nil
        public var prompt: String = "Add a CLI flag that prints the version"
        /// A leading `summary` line (2.0.x style) with this text.
        public var summary: String? = nil
        /// A trailing `custom-title` line with this text.
        public var customTitle: String? = nil
        /// The `entrypoint` field of conversation lines (`cli`, `sdk-cli`, …); nil to leave it out.
        public var entrypoint: String? = "cli"
        /// Write `<id>/subagents/agent-<id>.jsonl` (2.1.x layout).
        public var subagent = false
        /// Write a legacy 2.0.x `<slug>/agent-<id>.jsonl` naming this session.
        public var legacyAgent = false
        /// Write a rewind (two children of one parent) followed by a compaction root.
        public var rewindAndCompaction = false
        /// First timestamp; later lines are a few seconds apart.
        public var start = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

        public init() {}
    }

    /// The project folder for `projectPath` under `configDir`.
    public static func projectDir(in configDir: URL, projectPath: String) -> URL {
        configDir.appendingPathComponent("projects/\(ProjectSlug.of(projectPath))", isDirectory: true)
    }

    /// Writes `<configDir>/projects/<slug>/<sessionId>.jsonl` (and the extras `options` ask for);
    /// returns the transcript's URL.
    @discardableResult
    public static func writeSession(
        in configDir: URL, projectPath: String, sessionId: String = UUID().uuidString.lowercased(),
        lines: Int = 12, options: Options = Options()
    ) throws -> URL {
        var options = options
        options.lines = lines
        let dir = projectDir(in: configDir, projectPath: projectPath)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("\(sessionId).jsonl")
        var writer = LineWriter(sessionId: sessionId, cwd: projectPath, options: options)
        try writer.transcript().write(to: url)
        if options.subagent {
            let sub = dir.appendingPathComponent("\(sessionId)/subagents", isDirectory: true)
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            try writer.agentFile(agentId: "a1b2c3d").write(to: sub.appendingPathComponent("agent-a1b2c3d.jsonl"))
        }
        if options.legacyAgent {
            let agentId = String(sessionId.prefix(8))
            try writer.agentFile(agentId: agentId).write(to: dir.appendingPathComponent("agent-\(agentId).jsonl"))
        }
        return url
    }

    /// A session of about `bytes` bytes (within one padded line).
    @discardableResult
    public static func writeSession(
        in configDir: URL, projectPath: String, sessionId: String = UUID().uuidString.lowercased(), approximateBytes bytes: Int
    ) throws -> URL {
        var options = Options()
        options.approximateBytes = bytes
        return try writeSession(in: configDir, projectPath: projectPath, sessionId: sessionId, lines: 8, options: options)
    }

    /// The lines of a generated session, each a complete JSON object followed by `\n`.
    public static func transcript(sessionId: String, cwd: String, options: Options = Options()) -> Data {
        var writer = LineWriter(sessionId: sessionId, cwd: cwd, options: options)
        return writer.transcript()
    }

    struct LineWriter {
        let sessionId: String
        let cwd: String
        let options: Options
        var clock: Double = 0
        var counter = 0
        var out = Data()
        var count = 0

        init(sessionId: String, cwd: String, options: Options) {
            self.sessionId = sessionId
            self.cwd = cwd
            self.options = options
        }

        mutating func uuid() -> String {
            counter += 1
            let tail = String(format: "%012x", counter)
            return "\(sessionId.prefix(8))-0000-4000-8000-\(tail)"
        }

        mutating func timestamp() -> String {
            clock += 3.25
            let date = options.start.addingTimeInterval(clock)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: date)
        }

        mutating func emit(_ object: [String: Any]) {
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])
            out.append(data)
            out.append(0x0A)
            count += 1
        }

        mutating func conversation(_ type: String, parent: String?, _ extra: [String: Any]) -> String {
            let id = uuid()
            var line: [String: Any] = [
                "parentUuid": parent as Any? ?? NSNull(), "isSidechain": false, "userType": "external", "cwd": cwd,
                "sessionId": sessionId, "version": "2.1.332", "gitBranch": "main", "type": type, "uuid": id,
                "timestamp": timestamp(),
            ]
            if let e = options.entrypoint { line["entrypoint"] = e }
            for (k, v) in extra { line[k] = v }
            emit(line)
            return id
        }

        mutating func user(_ text: String, parent: String?) -> String {
            conversation("user", parent: parent, ["message": ["role": "user", "content": text]])
        }

        mutating func assistant(_ text: String, parent: String) -> String {
            conversation("assistant", parent: parent, [
                "requestId": "req_\(counter)",
                "message": [
                    "id": "msg_\(counter)", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [["type": "text", "text": text]], "stop_reason": "end_turn",
                    "usage": ["input_tokens": 12, "output_tokens": 34],
                ] as [String: Any],
            ])
        }

        mutating func transcript() -> Data {
            if let s = options.summary { emit(["type": "summary", "summary": s, "leafUuid": "\(sessionId.prefix(8))-leaf"]) }
            emit(["type": "queue-operation", "operation": "enqueue", "timestamp": timestamp(), "sessionId": sessionId, "content": options.prompt])
            emit(["type": "queue-operation", "operation": "dequeue", "timestamp": timestamp(), "sessionId": sessionId])
            let first = user(options.prompt, parent: nil)
            emit([
                "type": "file-history-snapshot", "messageId": first, "isSnapshotUpdate": false,
                "snapshot": ["messageId": first, "trackedFileBackups": [String: Any](), "timestamp": timestamp()] as [String: Any],
            ])
            let toolId = "toolu_\(sessionId.prefix(8))"
            let use = conversation("assistant", parent: first, [
                "requestId": "req_tool",
                "message": [
                    "id": "msg_tool", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [["type": "tool_use", "id": toolId, "name": "Bash", "input": ["command": "ls"]]],
                ] as [String: Any],
            ])
            let result = conversation("user", parent: use, [
                "message": ["role": "user", "content": [["tool_use_id": toolId, "type": "tool_result", "content": "Package.swift\nSources"]]],
                "toolUseResult": ["stdout": "Package.swift\nSources", "stderr": "", "interrupted": false],
            ])
            var last = assistant("The project has a Package.swift and a Sources folder.", parent: result)
            if options.rewindAndCompaction {
                // A rewind: two user messages with the same parent.
                let branchPoint = last
                let a = user("First attempt", parent: branchPoint)
                last = assistant("Working on the first attempt.", parent: a)
                let b = user("Second attempt", parent: branchPoint)
                last = assistant("Working on the second attempt.", parent: b)
                // A compaction: a new root that points at the old leaf through logicalParentUuid.
                let boundary = conversation("system", parent: nil, [
                    "subtype": "compact_boundary", "content": "Conversation compacted", "level": "info",
                    "logicalParentUuid": last, "compactMetadata": ["trigger": "manual", "preTokens": 1234] as [String: Any],
                ])
                let summaryLine = conversation("user", parent: boundary, [
                    "isCompactSummary": true,
                    "message": ["role": "user", "content": "This session is being continued from a previous conversation."],
                ])
                last = assistant("Continuing after compaction.", parent: summaryLine)
            }
            let filler = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 40)
            var turn = 0
            while count < options.lines || (options.approximateBytes.map { out.count < $0 } ?? false) {
                turn += 1
                let u = user("Follow-up \(turn)", parent: last)
                var text = "Reply \(turn)."
                if let target = options.approximateBytes {
                    let want = min(max(0, target - out.count - 900), 256 * 1024)
                    if want > 0 { text += " " + String(repeating: filler, count: want / filler.utf8.count + 1).prefix(want) }
                }
                last = assistant(text, parent: u)
            }
            if let t = options.customTitle { emit(["type": "custom-title", "customTitle": t, "sessionId": sessionId]) }
            return out
        }

        mutating func agentFile(agentId: String) -> Data {
            out = Data()
            count = 0
            var line: [String: Any] = [
                "parentUuid": NSNull(), "isSidechain": true, "userType": "external", "cwd": cwd, "sessionId": sessionId,
                "version": "2.1.332", "agentId": agentId, "type": "user", "uuid": uuid(), "timestamp": timestamp(),
                "message": ["role": "user", "content": "Search the codebase for the version constant"],
            ]
            emit(line)
            line["parentUuid"] = line["uuid"]
            line["type"] = "assistant"
            line["uuid"] = uuid()
            line["timestamp"] = timestamp()
            line["message"] = ["role": "assistant", "content": [["type": "text", "text": "Found it in Version.swift."]]]
            emit(line)
            return out
        }
    }
}
