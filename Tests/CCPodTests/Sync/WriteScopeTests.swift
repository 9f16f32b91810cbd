@testable import CCPodKit
import Foundation
import Testing

/// A pod may answer anything: every path it names is checked against what the
/// command may write before a byte is written. Crafted answers are applied to a
/// planned run (no pod process); honest answers come from a `local:` pod.
@Suite("Every local write of a sync stays inside the command's scope")
struct WriteScopeTests {
    let id = "11111111-2222-4333-8444-555555555555"
    let other = "99999999-2222-4333-8444-555555555555"

    // MARK: - Crafted answers

    /// Plans a run on the bed as the engine does, then applies `records` as the pod's answer.
    func apply(_ records: (SyncTestBed) throws -> [AgentRecord], bed: SyncTestBed, scope: SyncScope? = nil,
               options: SyncOptions = SyncOptions(direction: .pull, busySeconds: 0)) throws -> SyncRun {
        let engine = bed.engine()
        try FileManager.default.createDirectory(at: bed.state, withIntermediateDirectories: true)
        let store = try AncestorStore(file: engine.ancestorsFile)
        let scratch = bed.root.appendingPathComponent("scratch")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let scope = scope ?? bed.scope
        var run = SyncRun(engine: engine, scope: scope, options: options, store: store, scratch: scratch)
        try run.plan(LocalScan.run(claudeDir: bed.localClaude, scope: scope, options: options, store: store))
        try run.planHistory()
        try run.apply(AgentExchange.Answer(records: try records(bed), responseCompression: .none))
        return run
    }

    /// A new file the pod announces, with its verified data in the bed's scratch folder.
    static func newFile(_ path: String, _ content: Data, bed: SyncTestBed) throws -> [AgentRecord] {
        let file = bed.root.appendingPathComponent("received-\(UUID().uuidString.prefix(8))").path
        try SyncTestBed.write(content, to: file)
        return [
            .state(.init(kind: .new, path: path, stat: PodStat(size: Int64(content.count), mtime: "1764000000.5"),
                         lines: SHA256Hex.newlines(in: content), sha256: nil)),
            .data(path: path, offset: 0, length: Int64(content.count), file: file, sha256: SHA256Hex.of(content),
                  lines: SHA256Hex.newlines(in: content)),
        ]
    }

    /// Every file under the laptop's Claude dir.
    static func tree(_ bed: SyncTestBed) -> [String] {
        (FileManager.default.enumerator(atPath: bed.localClaude)?.allObjects as? [String] ?? []).sorted()
    }

    func expectRefused(_ path: String, scope: SyncScope? = nil, options: SyncOptions = SyncOptions(direction: .pull, busySeconds: 0),
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 2), to: bed.localTranscript(id))
        let before = Self.tree(bed)
        let legit = "projects/\(SyncTestBed.podSlug)/\(id)/tool-results/a.txt"
        do {
            // A legitimate new file first: the refusal must come before it is written too.
            _ = try apply({ bed in
                try Self.newFile(legit, Data("ok\n".utf8), bed: bed)
                    + Self.newFile(path, Data("{\"x\":1}\n".utf8), bed: bed)
            }, bed: bed, scope: scope, options: options)
            Issue.record("\(path) was accepted", sourceLocation: sourceLocation)
        } catch let error as CCPodError {
            #expect(error.status == .badData, sourceLocation: sourceLocation)
            #expect(error.message.contains(TerminalText.escape(path)), "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(bed.connection.displayName), sourceLocation: sourceLocation)
            #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) },
                    sourceLocation: sourceLocation)
        }
        #expect(Self.tree(bed) == before, "written: \(Set(Self.tree(bed)).subtracting(before))", sourceLocation: sourceLocation)
    }

    @Test func credentialsAndClaudesOwnFilesAreRefused() throws {
        for path in [".credentials.json", ".claude.json", "settings.local.json", "plugins/x/hooks.json", "ide/1.lock",
                     "sessions/1.json", "statsig/x", "shell-snapshots/s.sh", "debug/x.txt", "cache/x", "unknown.txt"] {
            try expectRefused(path)
        }
    }

    @Test func controlCharactersInARefusedPathAreEscaped() throws {
        try expectRefused("plugins/\u{1B}]0;owned\u{07}\u{202E}x")
    }

    @Test func anotherProjectsSessionDuringAProjectPullIsRefused() throws {
        try expectRefused("projects/-home-someone-else/\(other).jsonl")
        try expectRefused("file-history/\(UUID().uuidString.lowercased())/abc@v1")
    }

    @Test func aSessionOutsideSessionScopeIsRefused() throws {
        let scope = SyncScope(projects: [ProjectMapping(localSlug: SyncTestBed.localSlug, podSlug: SyncTestBed.podSlug)], sessionId: id)
        // Another session's per-session files were never asked about.
        try expectRefused("file-history/\(other)/abc@v1", scope: scope)
        try expectRefused("todos/\(other)-agent-\(other).json", scope: scope)
        try expectRefused("history.jsonl", scope: scope)
    }

    @Test func configIsRefusedUnlessItTravelsHere() throws {
        // A pull with config pushed only: config was not even asked about.
        try expectRefused("settings.json")
        try expectRefused("commands/evil.md")
        // A sync asks about it (to push it) but never takes it.
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let before = Self.tree(bed)
        let run = try apply({ try Self.newFile("settings.json", Data("{\"hooks\":{}}\n".utf8), bed: $0) }, bed: bed,
                            options: SyncOptions(direction: .sync, busySeconds: 0))
        #expect(Self.tree(bed) == before)
        #expect(run.items.isEmpty)
    }

    @Test func legitimateNewFilesStillArrive() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 2), to: bed.localTranscript(id))
        let podProject = "projects/\(SyncTestBed.podSlug)"
        let run = try apply({ bed in
            try Self.newFile("\(podProject)/\(other).jsonl", SyncTestBed.lines(session: other, count: 3), bed: bed)
                + Self.newFile("\(podProject)/\(other)/tool-results/out.txt", Data("ok\n".utf8), bed: bed)
                + Self.newFile("\(podProject)/memory/MEMORY.md", Data("# notes\n".utf8), bed: bed)
                + Self.newFile("file-history/\(other)/abc@v1", Data("v1\n".utf8), bed: bed)
                + Self.newFile("todos/\(id)-agent-\(id).json", Data("[]".utf8), bed: bed)
        }, bed: bed)
        let local = "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)"
        #expect(SyncTestBed.read("\(local)/\(other).jsonl") == SyncTestBed.lines(session: other, count: 3))
        #expect(SyncTestBed.read("\(local)/\(other)/tool-results/out.txt") == Data("ok\n".utf8))
        #expect(SyncTestBed.read("\(local)/memory/MEMORY.md") == Data("# notes\n".utf8))
        #expect(SyncTestBed.read("\(bed.localClaude)/file-history/\(other)/abc@v1") == Data("v1\n".utf8))
        #expect(SyncTestBed.read("\(bed.localClaude)/todos/\(id)-agent-\(id).json") == Data("[]".utf8))
        #expect(run.items.filter { $0.action == .copiedFromPod }.count == 5, "\(run.items)")
    }

    @Test func configComesHomeWithConfigBoth() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        var scope = bed.scope
        scope.userConfig = .both
        _ = try apply({ bed in
            try Self.newFile("CLAUDE.md", Data("# rules\n".utf8), bed: bed)
                + Self.newFile("commands/review.md", Data("review\n".utf8), bed: bed)
        }, bed: bed, scope: scope)
        #expect(SyncTestBed.read("\(bed.localClaude)/CLAUDE.md") == Data("# rules\n".utf8))
        #expect(SyncTestBed.read("\(bed.localClaude)/commands/review.md") == Data("review\n".utf8))
    }

    @Test func aFollowUpAnswerAboutAnotherFileIsRefused() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let engine = bed.engine()
        let store = try AncestorStore(file: engine.ancestorsFile)
        let run = SyncRun(engine: engine, scope: bed.scope, options: SyncOptions(direction: .sync), store: store,
                          scratch: bed.root)
        let answer = AgentExchange.Answer(records: try Self.newFile(".claude.json", Data("{}".utf8), bed: bed), responseCompression: .none)
        #expect(throws: CCPodError.self) { _ = try run.checked(answer, followUp: true) }
    }

    // MARK: - Honest answers from a local: pod

    @Test func aSessionPullTakesOnlyThatSession() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.podTranscript(id))
        try SyncTestBed.write(SyncTestBed.lines(session: other, count: 3), to: bed.podTranscript(other))
        try SyncTestBed.write(Data("v1\n".utf8), to: "\(bed.podClaude)/file-history/\(other)/abc@v1")
        bed.scope.sessionId = id
        let report = try bed.run(.pull)
        #expect(report.count(.copiedFromPod) == 1, "\(report.items)")
        #expect(SyncTestBed.read(bed.localTranscript(id)) == SyncTestBed.lines(session: id, count: 3))
        #expect(!FileManager.default.fileExists(atPath: bed.localTranscript(other)))
        #expect(!FileManager.default.fileExists(atPath: "\(bed.localClaude)/file-history/\(other)"))
    }

    /// A fork's sibling is a new session: in scope of the run that makes it, even with `--session`.
    @Test func aForkUnderSessionScopeStillWritesItsSibling() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        bed.scope.sessionId = id
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 4, text: "laptop"), to: bed.localTranscript(id))
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 3, start: 4, text: "pod"), to: bed.podTranscript(id))
        let report = try bed.run(.sync)
        #expect(report.count(.forked) == 1, "\(report.items)")
        #expect(SyncTestBed.transcripts(in: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)").count == 2)
        #expect(SyncTestBed.transcripts(in: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)").count == 2)
    }

    @Test func thePodsConfigStaysThereWithoutConfigBoth() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(Data("{\"hooks\":{}}\n".utf8), to: bed.podClaude + "/settings.json")
        try SyncTestBed.write(Data("x\n".utf8), to: bed.podClaude + "/commands/x.md")
        try SyncTestBed.write(Data("{}".utf8), to: bed.podClaude + "/settings.local.json")
        try SyncTestBed.write(Data("{}".utf8), to: bed.podClaude + "/.credentials.json")
        for direction in [SyncOptions.Direction.pull, .sync] { try bed.run(direction) }
        #expect(Self.tree(bed).allSatisfy { !$0.hasPrefix("settings") && !$0.hasPrefix("commands") && !$0.hasPrefix(".") }, "\(Self.tree(bed))")
    }

    // MARK: - The writer itself (second line of defence)

    @Test func theWriterRefusesWhatTheScopeDoesNot() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let source = bed.root.appendingPathComponent("src").path
        try SyncTestBed.write(Data("x\n".utf8), to: source)
        var writer = LocalWriter(claudeDir: bed.localClaude, stateDir: bed.state,
                                 scope: WriteScope(writesOf: bed.scope, options: SyncOptions(direction: .pull), sessionIds: [id]))
        for path in [".credentials.json", "settings.local.json", "settings.json", "plugins/p", "../x", "projects/other/\(id).jsonl",
                     "file-history/\(other)/a"] {
            #expect(throws: CCPodError.self, "\(path)") { try writer.write(path, from: source, length: nil) }
            #expect(throws: CCPodError.self, "\(path)") { _ = try writer.adopt(path, from: source) }
        }
        try writer.write("file-history/\(id)/a", from: source, length: nil)
        try writer.write("projects/\(SyncTestBed.localSlug)/\(other).jsonl", from: source, length: nil)
        #expect(Set(Self.tree(bed)).isSuperset(of: ["file-history/\(id)/a", "projects/\(SyncTestBed.localSlug)/\(other).jsonl"]))
    }

    @Test func writeScopeTable() {
        let slug = SyncTestBed.localSlug
        let project = SyncScope(projects: [ProjectMapping(localSlug: slug, podSlug: "p")])
        var session = project
        session.sessionId = id
        var both = project
        both.userConfig = .both
        let pull = SyncOptions(direction: .pull)
        let rows: [(SyncScope, String, Bool)] = [
            (project, "projects/\(slug)/\(other).jsonl", true),
            (project, "projects/\(slug)/\(other)/subagents/agent-1.jsonl", true),
            (project, "projects/\(slug)/memory/MEMORY.md", true),
            (project, "projects/-elsewhere/\(other).jsonl", false),
            (project, "projects/\(slug)", false),
            (project, "file-history/\(id)/x", true),
            (project, "file-history/\(other)/x", false),
            (project, "tasks/\(id)/1.json", true),
            (project, "todos/\(id)-agent-\(id).json", true),
            (project, "todos/x.json", false),
            (project, "history.jsonl", true),
            (project, "settings.json", false),
            (project, ".credentials.json", false),
            (project, ".claude.json", false),
            (project, "settings.local.json", false),
            (project, "plugins/x", false),
            (project, "ide/x", false),
            (project, "sessions/1.json", false),
            (project, "statsig/x", false),
            (project, "shell-snapshots/x", false),
            (project, "debug/x", false),
            (project, "projects/\(slug)/../../.claude.json", false),
            (session, "projects/\(slug)/\(id).jsonl", true),
            (session, "projects/\(slug)/\(id)/tool-results/x", true),
            (session, "projects/\(slug)/\(other).jsonl", false),
            (session, "file-history/\(other)/x", false),
            (session, "history.jsonl", false),
            (both, "settings.json", true),
            (both, "CLAUDE.md", true),
            (both, "commands/x.md", true),
            (both, "skills/s/SKILL.md", true),
            (both, "settings.json/x", false),
            (both, "commands", false),
            (both, "settings.local.json", false),
        ]
        for (scope, path, allowed) in rows {
            let writes = WriteScope(writesOf: scope, options: pull, sessionIds: [id])
            #expect(writes.allows(path) == allowed, "\(path) with session \(scope.sessionId ?? "-") config \(scope.userConfig)")
        }
        let all = WriteScope(writesOf: SyncScope(projects: [], all: true), options: pull, sessionIds: [])
        #expect(all.allows("projects/-any-project/\(other).jsonl"))
        #expect(!all.allows("file-history/\(other)/x"))
    }
}
