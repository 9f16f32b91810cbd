import Foundation
import Testing

@testable import CCPodKit

/// Every real transcript under `../shared/fixtures` (when that folder exists).
@Suite struct ClaudeFixtureConformanceTests {
    static var files: [URL] {
        guard let root = ClaudeTestPaths.sharedFixtures,
            let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        else { return [] }
        return e.compactMap { $0 as? URL }.filter { $0.pathExtension == "jsonl" }.sorted { $0.path < $1.path }
    }

    @Test(.enabled(if: ClaudeTestPaths.sharedFixtures != nil), arguments: files)
    func parsesAndRoundTrips(_ url: URL) throws {
        let original = try Data(contentsOf: url)
        let (lines, report) = try JSONLReader(url: url, bufferSize: 4096, lineHashes: true).allLines()
        #expect(report.size == Int64(original.count))
        #expect(!report.hasIncompleteTail)
        #expect(lines.allSatisfy { $0.problem == nil }, "\(lines.filter { $0.problem != nil }.map(\.number))")
        // Concatenating the lines (and the tail) gives back the file, byte for byte.
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

    @Test(.enabled(if: ClaudeTestPaths.sharedFixtures != nil))
    func subagentFilesAttachToTheirSession() throws {
        let root = ClaudeTestPaths.sharedFixtures!
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

    @Test(.enabled(if: ClaudeTestPaths.sharedFixtures != nil))
    func knownTitles() throws {
        let root = ClaudeTestPaths.sharedFixtures!
        func title(_ path: String) throws -> String? { try SessionSummary.read(root.appendingPathComponent(path)).title }
        #expect(try title("ccrider/sample.jsonl") == "Test session")
        #expect(try title("ccrider/no-summary.jsonl") == "test message")
        #expect(try title("spotter/short.jsonl") == "mix phx.server doesnt seem to start")
        #expect(try title("claude-code-log/dag_compact_after_rewind.jsonl") == "Start")
        #expect(try title("claude-2.1.332-resumed/projects/-home-dev-proj-my-app-v2/11111111-2222-4333-8444-555555555555.jsonl")
            == "Hello world function in Python")
    }
}
