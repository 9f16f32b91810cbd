import Foundation
import Testing

@testable import CCPodKit

/// Claude Code transcripts read back exactly: the project's own fixtures always
/// (`Tests/Fixtures/transcripts` and the generated long session), and the third-party
/// transcripts in `../shared/fixtures` as an extra cross-check when that folder exists.
@Suite struct ClaudeFixtureConformanceTests {
    // MARK: - The project's own fixtures

    @Test(arguments: TranscriptFixtures.committedJSONL)
    func ownTranscriptParsesAndRoundTrips(_ relative: String) throws {
        try Self.checkRoundTrip(TranscriptFixtures.claudeDir.appendingPathComponent(relative))
    }

    @Test func longSessionParsesAndRoundTripsAndIsDeterministic() throws {
        let bytes = TranscriptFixtures.LongSession.bytes
        #expect(bytes == TranscriptFixtures.LongSession.generate())
        // Pinned so that a change to the generator is a deliberate one.
        #expect(SHA256Hex.of(bytes) == "8e5a4e5242a10d256bc29bb954bff6238ea8085040aa04ac363d2a9bc38e9b33")
        let tmp = try ClaudeTempDir()
        let url = try tmp.write(Array(bytes), "long.jsonl")
        try Self.checkRoundTrip(url)
        let summary = try SessionSummary.read(url)
        #expect(summary.lineCount >= TranscriptFixtures.LongSession.minimumLines)
        #expect(summary.title == TranscriptFixtures.LongSession.title)
        // One line spans more than the reader's default 1 MiB buffer.
        let (lines, _) = try JSONLReader(url: url).allLines()
        #expect(lines.contains { $0.length > 1 << 20 })
    }

    @Test func ownTitlesAndFields() throws {
        let tmp = try ClaudeTempDir()
        let config = try TranscriptFixtures.materialize(into: tmp.url)
        for (relative, title) in TranscriptFixtures.titles {
            let summary = try SessionSummary.read(config.appendingPathComponent(relative))
            #expect(summary.title == title, "\(relative)")
            #expect(summary.badLineCount == 0 && !summary.hasIncompleteTail, "\(relative)")
            #expect(summary.isHiddenFromPicker == relative.contains(TranscriptFixtures.headlessSession), "\(relative)")
        }
        func summary(_ slug: String, _ id: String) throws -> SessionSummary {
            try SessionSummary.read(config.appendingPathComponent("projects/\(slug)/\(id).jsonl"))
        }
        let work = try summary(TranscriptFixtures.tinyVitSlug, TranscriptFixtures.workSession)
        #expect(work.customTitle != nil && work.summary == nil)
        #expect(work.firstPrompt?.hasPrefix("train.py loses everything") == true)
        #expect(work.projectPath == "/home/dev/code/tiny-vit")
        #expect(work.sessionIds == [TranscriptFixtures.workSession])
        let rewind = try summary(TranscriptFixtures.tinyVitSlug, TranscriptFixtures.rewindSession)
        #expect(rewind.firstCommand == "/clear")  // the meta lines before the prompt are not its title
        let resumed = try summary(TranscriptFixtures.tinyVitSlug, TranscriptFixtures.resumedSession)
        #expect(resumed.summary != nil && resumed.customTitle == nil)
        let legacy = try summary(TranscriptFixtures.cifarSlug, TranscriptFixtures.legacySession)
        #expect(legacy.projectPath == "/home/dev/code/cifar-baseline")
        let long = try summary(TranscriptFixtures.tinyVitSlug, TranscriptFixtures.LongSession.id)
        #expect(long.projectPath == "/workspace/runs/sweep-lr/code")
        #expect(long.sessionIds == [TranscriptFixtures.LongSession.id])
    }

    @Test func ownSubagentFilesAttachToTheirSession() throws {
        let tmp = try ClaudeTempDir()
        let config = try TranscriptFixtures.materialize(into: tmp.url)
        let store = ClaudeStore(root: config)
        let sessions = store.allSessions()
        #expect(Set(sessions.map(\.id)) == [
            TranscriptFixtures.workSession, TranscriptFixtures.rewindSession, TranscriptFixtures.resumedSession,
            TranscriptFixtures.headlessSession, TranscriptFixtures.legacySession, TranscriptFixtures.noSummarySession,
            TranscriptFixtures.LongSession.id,
        ])
        // 2.1.x: <id>/subagents/agent-<id>.jsonl and <id>/tool-results/… belong to the session.
        let work = try #require(sessions.first { $0.id == TranscriptFixtures.workSession })
        #expect(work.subagents.map(\.lastPathComponent).sorted() == ["agent-a4e1c07.jsonl", "agent-acompact-7d21b9.jsonl"])
        #expect(work.toolResults.map(\.lastPathComponent) == ["toolu_01H4Pv3aHGHx3Wyo6Iqd4o7A.txt"])
        // 2.0.x: a top-level agent file attaches by the sessionId in its lines.
        let legacy = try #require(sessions.first { $0.id == TranscriptFixtures.legacySession })
        #expect(legacy.legacyAgents.map(\.lastPathComponent) == ["agent-5f64e071.jsonl"])
        for other in sessions where other.id != work.id && other.id != legacy.id {
            #expect(other.subagents.isEmpty && other.toolResults.isEmpty && other.legacyAgents.isEmpty, "\(other.id)")
        }
        for project in store.projects() {
            #expect(store.orphanLegacyAgents(in: project, sessions: store.sessions(in: project)).isEmpty)
        }
        let report = SessionDoctor(store: store, stateDir: tmp.url.appendingPathComponent("state")).check()
        #expect(report.isClean)
        #expect(report.filesChecked == 10)  // 7 transcripts, 2 subagent files, 1 legacy agent file
    }

    /// The fixtures keep showing every shape ccpod depends on (so trimming one is noticed).
    @Test func ownFixturesCoverTheShapesCCPodReads() throws {
        let tmp = try ClaudeTempDir()
        let config = try TranscriptFixtures.materialize(into: tmp.url)
        let files = TranscriptFixtures.files(under: config)
        var kinds = Set<String>(), versions = Set<String>(), firstTypes = Set<String>()
        var promptChildren = [String: Int]()
        var longest = 0, nonASCII = false, jsonInString = false, logicalParent = false, compactSummary = false
        var toolUse = false, toolResult = false, toolError = false
        for (path, data) in files where path.hasSuffix(".jsonl") {
            for (n, raw) in data.split(separator: 0x0A).enumerated() {
                longest = max(longest, raw.count)
                nonASCII = nonASCII || raw.contains { $0 >= 0x80 }
                let object = try #require(try JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any], "\(path):\(n + 1)")
                let type = object["type"] as? String ?? "?"
                if n == 0 { firstTypes.insert(type) }
                kinds.insert(type)
                if let subtype = object["subtype"] as? String { kinds.insert("\(type)/\(subtype)") }
                if let data = object["data"] as? [String: Any], let t = data["type"] as? String { kinds.insert("\(type)/\(t)") }
                if let v = object["version"] as? String { versions.insert(String(v.prefix(4))) }
                logicalParent = logicalParent || object["logicalParentUuid"] is String
                compactSummary = compactSummary || object["isCompactSummary"] as? Bool == true
                let message = object["message"] as? [String: Any]
                if type == "user", let parent = object["parentUuid"] as? String, object["toolUseResult"] == nil,
                    object["isMeta"] == nil, object["isCompactSummary"] == nil {
                    promptChildren[parent, default: 0] += 1
                }
                for case let block as [String: Any] in message?["content"] as? [Any] ?? [] {
                    toolUse = toolUse || block["type"] as? String == "tool_use"
                    toolResult = toolResult || block["type"] as? String == "tool_result"
                    toolError = toolError || block["is_error"] as? Bool == true
                }
                jsonInString = jsonInString || Self.containsJSONText(object)
            }
        }
        for kind in ["user", "assistant", "progress", "system", "summary", "custom-title", "file-history-snapshot",
                     "queue-operation", "mode", "permission-mode", "cost-state", "tools-used",
                     "system/compact_boundary", "system/local_command", "system/turn_duration", "system/stop_hook_summary",
                     "progress/hook_progress", "progress/bash_progress", "progress/agent_progress"] {
            #expect(kinds.contains(kind), "no \(kind) line")
        }
        #expect(versions.isSuperset(of: ["2.0.", "2.1."]))
        #expect(firstTypes.contains("summary") && firstTypes.contains("file-history-snapshot"))
        #expect(promptChildren.values.contains { $0 >= 2 }, "no rewind (two prompts answering one message)")
        #expect(logicalParent && compactSummary, "no compaction")
        #expect(toolUse && toolResult && toolError)
        #expect(nonASCII && jsonInString)
        #expect(longest > 1 << 20)
        #expect(files.keys.contains { $0.contains("/subagents/agent-") && $0.hasSuffix(".jsonl") })
        #expect(files.keys.contains { $0.contains("/tool-results/") })
        #expect(files.keys.contains { ($0 as NSString).lastPathComponent.hasPrefix("agent-") && !$0.contains("/subagents/") })
        // The committed part stays small: the long session is generated.
        let committed = TranscriptFixtures.files(under: TranscriptFixtures.claudeDir).values.reduce(0) { $0 + $1.count }
        #expect(committed < 1 << 20)
    }

    // MARK: - Third-party transcripts, when present

    static var sharedFiles: [URL] {
        guard let root = ClaudeTestPaths.sharedFixtures,
            let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        else { return [] }
        return e.compactMap { $0 as? URL }.filter { $0.pathExtension == "jsonl" }.sorted { $0.path < $1.path }
    }

    @Test(.enabled(if: ClaudeTestPaths.sharedFixtures != nil, ClaudeTestPaths.sharedFixturesAbsent), arguments: sharedFiles)
    func sharedTranscriptParsesAndRoundTrips(_ url: URL) throws {
        try Self.checkRoundTrip(url)
    }

    @Test(.enabled(if: ClaudeTestPaths.sharedFixtures != nil, ClaudeTestPaths.sharedFixturesAbsent))
    func sharedSubagentFilesAttachToTheirSession() throws {
        let root = try #require(ClaudeTestPaths.sharedFixtures)
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        let slug = config.appendingPathComponent("projects/-home-dev-spotter")
        try FileManager.default.createDirectory(at: slug, withIntermediateDirectories: true)
        let id = "ae4a77f8-aedd-4bc1-888f-c94edc91af04"
        try FileManager.default.copyItem(at: root.appendingPathComponent("spotter/\(id).jsonl"), to: slug.appendingPathComponent("\(id).jsonl"))
        try FileManager.default.copyItem(at: root.appendingPathComponent("spotter/\(id)"), to: slug.appendingPathComponent(id))
        // The 2.0.x layout: a top-level agent file naming its session in its lines.
        for name in ["sample.jsonl", "agent-session.jsonl"] {
            try FileManager.default.copyItem(at: root.appendingPathComponent("ccrider/\(name)"), to: slug.appendingPathComponent(name))
        }
        let renamed = slug.appendingPathComponent("test-session-123.jsonl")
        try FileManager.default.moveItem(at: slug.appendingPathComponent("sample.jsonl"), to: renamed)

        let store = ClaudeStore(root: config)
        let sessions = store.allSessions()
        let spotter = try #require(sessions.first { $0.id == id })
        #expect(spotter.subagents.map(\.lastPathComponent).sorted() == ["agent-aac57f5.jsonl", "agent-acompact-946d2b.jsonl"])
        let legacy = try #require(sessions.first { $0.id == "test-session-123" })
        #expect(legacy.legacyAgents.map(\.lastPathComponent) == ["agent-session.jsonl"])
        #expect(SessionDoctor(store: store, stateDir: tmp.url.appendingPathComponent("state")).check().isClean)
    }

    @Test(.enabled(if: ClaudeTestPaths.sharedFixtures != nil, ClaudeTestPaths.sharedFixturesAbsent))
    func sharedKnownTitles() throws {
        let root = try #require(ClaudeTestPaths.sharedFixtures)
        func title(_ path: String) throws -> String? { try SessionSummary.read(root.appendingPathComponent(path)).title }
        #expect(try title("ccrider/sample.jsonl") == "Test session")
        #expect(try title("ccrider/no-summary.jsonl") == "test message")
        #expect(try title("spotter/short.jsonl") == "mix phx.server doesnt seem to start")
        #expect(try title("claude-code-log/dag_compact_after_rewind.jsonl") == "Start")
        #expect(try title("claude-2.1.332-resumed/projects/-home-dev-proj-my-app-v2/11111111-2222-4333-8444-555555555555.jsonl")
            == "Hello world function in Python")
    }

    // MARK: - Helpers

    /// Reads `url` with a small buffer: every line is valid, hashes match, the lines and the tail
    /// give back the file byte for byte, the file is unchanged, and the summary has a title.
    static func checkRoundTrip(_ url: URL) throws {
        let original = try Data(contentsOf: url)
        let (lines, report) = try JSONLReader(url: url, bufferSize: 4096, lineHashes: true).allLines()
        #expect(report.size == Int64(original.count))
        #expect(!report.hasIncompleteTail)
        #expect(lines.allSatisfy { $0.problem == nil }, "\(lines.filter { $0.problem != nil }.map(\.number))")
        var rebuilt = Data()
        for line in lines {
            let bytes = original[Int(line.offset)..<Int(line.offset + line.length)]
            #expect(line.sha256 == SHA256Hex.of(Data(bytes)))
            rebuilt.append(bytes)
            rebuilt.append(0x0A)
        }
        rebuilt.append(original[Int(report.completeLength)...])
        #expect(rebuilt == original)
        #expect(try Data(contentsOf: url) == original)  // the reader never writes
        let summary = try SessionSummary.read(url)
        #expect(summary.title?.isEmpty == false, "no title for \(url.lastPathComponent)")
        #expect(summary.lineCount == lines.count)
    }

    /// Whether some string value in `value` is itself a JSON object (a config file shown in a tool result).
    static func containsJSONText(_ value: Any) -> Bool {
        switch value {
        case let s as String:
            guard s.hasPrefix("{"), s.contains("\"") else { return false }
            return (try? JSONSerialization.jsonObject(with: Data(s.utf8))) is [String: Any]
        case let d as [String: Any]: return d.values.contains { containsJSONText($0) }
        case let a as [Any]: return a.contains { containsJSONText($0) }
        default: return false
        }
    }
}
