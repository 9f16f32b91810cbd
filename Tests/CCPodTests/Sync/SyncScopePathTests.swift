@testable import CCPodKit
import Testing

/// Which session a path belongs to, told from the path alone.
@Suite("Session ids from paths")
struct SyncScopePathTests {
    @Test(arguments: [
        ("projects/-a/5e0d.jsonl", "5e0d", true),
        ("projects/-a/agent-1.jsonl", nil, false),
        ("projects/-a/5e0d/subagents/agent-1.jsonl", "5e0d", false),
        ("projects/-a/5e0d/tool-results/x.txt", "5e0d", false),
        ("projects/-a/memory/notes.md", nil, false),
        ("projects/-a/notes.md", nil, false),
        ("projects/-a", nil, false),
        ("projects", nil, false),
        ("projects//5e0d.jsonl", "5e0d", true),
        ("file-history/5e0d/1.txt", "5e0d", false),
        ("file-history/5e0d", nil, false),
        ("tasks/5e0d/1.json", "5e0d", false),
        ("todos/11111111-2222-4333-8444-555555555555-agent-x.json", "11111111-2222-4333-8444-555555555555", false),
        ("todos/short.json", nil, false),
        ("settings.json", nil, false),
        ("projects/-ünï/ä.jsonl", "ä", true),
    ] as [(String, String?, Bool)])
    func sessionIdOfAPath(_ path: String, _ id: String?, _ transcript: Bool) {
        #expect(SyncScope.sessionId(of: path) == id)
        #expect(SyncScope.isTranscript(path) == transcript)
    }
}
