import CCPodTestSupport
import Foundation
import Testing

@testable import CCPodKit

@Suite struct ClaudeStoreTests {
    @Test func discoversEverythingThatBelongsToASession() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        var options = SessionFixtures.Options()
        options.subagent = true
        options.legacyAgent = true
        options.rewindAndCompaction = true
        let id = "11111111-2222-4333-8444-555555555555"
        let transcript = try SessionFixtures.writeSession(in: config, projectPath: "/home/dev/my_app", sessionId: id, lines: 20, options: options)
        let other = try SessionFixtures.writeSession(in: config, projectPath: "/home/dev/my_app", sessionId: "22222222-2222-4333-8444-555555555555")
        let fm = FileManager.default
        let slugDir = transcript.deletingLastPathComponent()
        try fm.createDirectory(at: slugDir.appendingPathComponent("\(id)/tool-results"), withIntermediateDirectories: true)
        try Data("out".utf8).write(to: slugDir.appendingPathComponent("\(id)/tool-results/toolu_1.txt"))
        try fm.createDirectory(at: slugDir.appendingPathComponent("memory"), withIntermediateDirectories: true)
        for d in ["file-history/\(id)", "tasks/\(id)", "todos"] {
            try fm.createDirectory(at: config.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        try Data("[]".utf8).write(to: config.appendingPathComponent("todos/\(id)-agent-\(id).json"))
        try Data("[]".utf8).write(to: config.appendingPathComponent("todos/99999999-0000-4000-8000-000000000000-agent-x.json"))

        let store = ClaudeStore(root: config)
        let projects = store.projects()
        #expect(projects.map(\.slug) == ["-home-dev-my-app"])
        #expect(projects[0].memoryDir?.lastPathComponent == "memory")
        let sessions = store.sessions(in: projects[0])
        #expect(sessions.map(\.id) == [id, "22222222-2222-4333-8444-555555555555"])
        let s = sessions[0]
        #expect(s.transcript == transcript)
        #expect(s.subagents.map(\.lastPathComponent) == ["agent-a1b2c3d.jsonl"])
        #expect(s.toolResults.map(\.lastPathComponent) == ["toolu_1.txt"])
        #expect(s.legacyAgents.map(\.lastPathComponent) == ["agent-11111111.jsonl"])
        #expect(s.fileHistoryDir != nil && s.tasksDir != nil)
        #expect(s.todos.map(\.lastPathComponent) == ["\(id)-agent-\(id).json"])
        #expect(sessions[1].transcript == other)
        #expect(sessions[1].legacyAgents.isEmpty && sessions[1].todos.isEmpty && sessions[1].fileHistoryDir == nil)

        // The generated transcript is clean and has the real shapes.
        let (lines, report) = try JSONLReader(url: transcript, lineHashes: true).allLines()
        #expect(lines.allSatisfy { $0.problem == nil } && !report.hasIncompleteTail)
        let types = Set(lines.compactMap(\.type))
        #expect(types.isSuperset(of: ["user", "assistant", "file-history-snapshot", "queue-operation", "system"]))
        let summary = try SessionSummary.read(transcript)
        #expect(summary.title == "Add a CLI flag that prints the version")
        #expect(summary.cwds == ["/home/dev/my_app"])
    }

    @Test func rewindAndCompactionAreInTheFixture() throws {
        var options = SessionFixtures.Options()
        options.rewindAndCompaction = true
        let data = SessionFixtures.transcript(sessionId: "s", cwd: "/p", options: options)
        var parents = [String: Int]()
        var compactionRoot = false
        for line in data.split(separator: 0x0A) {
            let o = try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
            if o["type"] as? String == "user", let p = o["parentUuid"] as? String { parents[p, default: 0] += 1 }
            if o["logicalParentUuid"] is String, o["parentUuid"] is NSNull { compactionRoot = true }
        }
        #expect(parents.values.contains { $0 >= 2 })
        #expect(compactionRoot)
    }

    @Test func symlinkLoopsDoNotHang() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        try SessionFixtures.writeSession(in: config, projectPath: "/p/one", sessionId: "a")
        let projects = config.appendingPathComponent("projects")
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: projects.appendingPathComponent("loop").path, withDestinationPath: projects.path)
        try fm.createSymbolicLink(atPath: projects.appendingPathComponent("self").path, withDestinationPath: "self")
        try fm.createSymbolicLink(atPath: projects.appendingPathComponent("alias").path, withDestinationPath: "-p-one")
        let slugDir = projects.appendingPathComponent("-p-one")
        try fm.createDirectory(at: slugDir.appendingPathComponent("a"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: slugDir.appendingPathComponent("a/subagents").path, withDestinationPath: slugDir.path)

        let store = ClaudeStore(root: config)
        let all = store.allSessions()
        #expect(all.filter { $0.id == "a" }.count == 1)
        var catalog = SessionCatalog(store: store, cache: .none())
        let listing = try catalog.list(slug: nil)
        #expect(listing.sessions.filter { $0.ref.id == "a" }.count == 1)
        let doctor = SessionDoctor(store: store, stateDir: tmp.url.appendingPathComponent("state"))
        #expect(doctor.check().filesChecked >= 1)
    }

    @Test func cacheIsUsedUntilTheFileChanges() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        let url = try SessionFixtures.writeSession(in: config, projectPath: "/p", sessionId: "s1")
        let cacheURL = SessionMetadataCache.defaultURL(stateDir: tmp.url.appendingPathComponent("state"))
        var first = SessionCatalog(store: ClaudeStore(root: config), cache: SessionMetadataCache(url: cacheURL))
        #expect(try first.list(slug: nil).sessions.count == 1)
        let attributes = try FileManager.default.attributesOfItem(atPath: cacheURL.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        var cache = SessionMetadataCache(url: cacheURL)
        #expect(cache.count == 1)
        let st = FileStat.of(url.path)!
        #expect(cache.cachedSummary(for: url, stat: st) != nil)
        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        handle.write(Data(#"{"type":"custom-title","customTitle":"Renamed","sessionId":"s1"}"#.utf8 + [0x0A]))
        try handle.close()
        #expect(cache.cachedSummary(for: url, stat: FileStat.of(url.path)!) == nil)
        var second = SessionCatalog(store: ClaudeStore(root: config), cache: SessionMetadataCache(url: cacheURL))
        #expect(try second.list(slug: nil).sessions.first?.summary.title == "Renamed")
    }

    @Test func hiddenSDKSessionsAreMarked() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        var options = SessionFixtures.Options()
        options.entrypoint = "sdk-cli"
        try SessionFixtures.writeSession(in: config, projectPath: "/p", sessionId: "hidden", lines: 8, options: options)
        try SessionFixtures.writeSession(in: config, projectPath: "/p", sessionId: "shown")
        var catalog = SessionCatalog(store: ClaudeStore(root: config), cache: .none())
        let listing = try catalog.list(slug: ProjectSlug.of("/p"))
        #expect(Dictionary(uniqueKeysWithValues: listing.sessions.map { ($0.ref.id, $0.summary.isHiddenFromPicker) })
            == ["hidden": true, "shown": false])
    }

    @Test func approximateSize() throws {
        let tmp = try ClaudeTempDir()
        let config = try tmp.configDir()
        let url = try SessionFixtures.writeSession(in: config, projectPath: "/p", sessionId: "big", approximateBytes: 200_000)
        let size = FileStat.of(url.path)!.size
        #expect(size >= 200_000 && size < 210_000)
    }
}
