import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The engine against a real OpenSSH server on loopback: one ssh exec per operation.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct SyncOverSSHTests {
    let id = "11111111-2222-4333-8444-555555555555"

    /// A test pod whose Claude dir and workspace are temporary folders (never the machine's own).
    static func sshBed() throws -> (SSHTestPod, SyncTestBed, SSHConnection) {
        let pod = try SSHTestPod()
        var bed = try SyncTestBed()
        var settings = pod.settings()
        settings.paths = PodPaths(claudeDir: bed.podClaude, persistentDir: bed.podRoot + "/workspace/claude-sessions",
                                  workspace: bed.podRoot + "/workspace")
        _ = try PodRegistry(locations: pod.locations, recorder: pod.recorder).add(settings, makeDefault: false, trust: SSHTestPod.acceptNew)
        let connection = try pod.connection()
        bed.connection = connection
        return (pod, bed, connection)
    }

    @Test func pushPullAndSyncAreOneExecEach() throws {
        let (pod, bed, _) = try Self.sshBed()
        defer { bed.remove() }
        for i in 0..<20 {
            let sid = String(format: "%08d-2222-4333-8444-555555555555", i)
            try SyncTestBed.write(SyncTestBed.lines(session: sid, count: 30), to: bed.localTranscript(sid))
        }
        pod.recorder.reset()
        let push = try bed.run(.push)
        #expect(pod.recorder.count == 1)
        #expect(push.count(.copiedToPod) == 20)
        pod.recorder.reset()
        let nothing = try bed.run(.sync)
        #expect(pod.recorder.count == 1)
        #expect(nothing.items.allSatisfy { $0.action == .inSync })
        // Ten sessions grow on the pod, two here.
        for i in 0..<10 {
            let sid = String(format: "%08d-2222-4333-8444-555555555555", i)
            try SyncTestBed.append(SyncTestBed.lines(session: sid, count: 4, start: 30), to: bed.podTranscript(sid))
        }
        for i in 10..<12 {
            let sid = String(format: "%08d-2222-4333-8444-555555555555", i)
            try SyncTestBed.append(SyncTestBed.lines(session: sid, count: 4, start: 30), to: bed.localTranscript(sid))
        }
        pod.recorder.reset()
        let sync = try bed.run(.sync)
        #expect(pod.recorder.count == 1)
        #expect(sync.count(.pulled) == 10)
        #expect(sync.count(.pushed) == 2)
        for i in 0..<20 {
            let sid = String(format: "%08d-2222-4333-8444-555555555555", i)
            #expect(SyncTestBed.read(bed.localTranscript(sid)) == SyncTestBed.read(bed.podTranscript(sid)))
        }
    }

    /// The project's own transcripts, every file of their projects (transcripts, subagent files,
    /// a persisted tool result, a 2.0.x agent file) and the generated long session: pushed, pulled
    /// onto a fresh laptop and forked over the loopback sshd, byte for byte.
    @Test func ownTranscriptsSurvivePushPullAndForkByteForByte() throws {
        let (pod, bed, _) = try Self.sshBed()
        defer { withExtendedLifetime(pod) {} }
        defer { bed.remove() }
        let source = try TranscriptFixtures.materialize(into: bed.root.appendingPathComponent("fixtures"))
        let localDir = URL(fileURLWithPath: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)")
        let podDir = URL(fileURLWithPath: "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)")
        try FileManager.default.createDirectory(at: localDir, withIntermediateDirectories: true)
        for project in [TranscriptFixtures.tinyVitSlug, TranscriptFixtures.cifarSlug] {
            let folder = source.appendingPathComponent("projects/\(project)")
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                try FileManager.default.copyItem(at: folder.appendingPathComponent(name), to: localDir.appendingPathComponent(name))
            }
        }
        let files = TranscriptFixtures.files(under: localDir)
        #expect(files.count == 11)
        #expect(files.keys.contains("\(TranscriptFixtures.LongSession.id).jsonl"))
        try bed.run(.push)
        #expect(TranscriptFixtures.files(under: podDir) == files)
        // Pull onto a fresh laptop: the same files, the same bytes.
        try FileManager.default.removeItem(atPath: bed.localClaude)
        try FileManager.default.removeItem(at: bed.state)
        try FileManager.default.createDirectory(atPath: bed.localClaude, withIntermediateDirectories: true)
        try bed.run(.pull)
        #expect(TranscriptFixtures.files(under: localDir) == files)
        // Both sides grow the session with subagents: it forks, both originals keep their bytes.
        let sid = TranscriptFixtures.workSession
        let data = try #require(files["\(sid).jsonl"])
        let extra = Data("{\"type\":\"summary\",\"summary\":\"laptop\",\"leafUuid\":\"x\"}\n".utf8)
        let podExtra = Data("{\"type\":\"summary\",\"summary\":\"pod\",\"leafUuid\":\"y\"}\n".utf8)
        try SyncTestBed.append(extra, to: bed.localTranscript(sid))
        try SyncTestBed.append(podExtra, to: bed.podTranscript(sid))
        let sync = try bed.run(.sync)
        #expect(sync.count(.forked) == 1)
        #expect(SyncTestBed.read(bed.localTranscript(sid)) == data + extra)
        #expect(SyncTestBed.read(bed.podTranscript(sid)) == data + podExtra)
        for (name, bytes) in files where name.hasPrefix("\(sid)/") {
            #expect(SyncTestBed.read(localDir.appendingPathComponent(name).path) == bytes, "\(name)")
            #expect(SyncTestBed.read(podDir.appendingPathComponent(name).path) == bytes, "\(name)")
        }
    }

    /// The same on the third-party transcripts in `../shared/fixtures`, when that folder exists.
    @Test(.enabled(if: ClaudeTestPaths.sharedFixtures != nil, ClaudeTestPaths.sharedFixturesAbsent))
    func sharedTranscriptsSurvivePushPullAndForkByteForByte() throws {
        let fixtures = try #require(ClaudeTestPaths.sharedFixtures)
        let (pod, bed, _) = try Self.sshBed()
        defer { withExtendedLifetime(pod) {} }
        defer { bed.remove() }
        let files = FileManager.default.enumerator(atPath: fixtures.path)?.allObjects.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".jsonl") && !$0.contains("/subagents/") } ?? []
        #expect(!files.isEmpty)
        var ids: [String: Data] = [:]
        for (n, file) in files.enumerated() {
            let sid = String(format: "%08x-aaaa-4bbb-8ccc-dddddddddddd", n)
            let data = SyncTestBed.read(fixtures.appendingPathComponent(file).path)
            try SyncTestBed.write(data, to: bed.localTranscript(sid))
            ids[sid] = data
        }
        try bed.run(.push)
        for (sid, data) in ids { #expect(SyncTestBed.read(bed.podTranscript(sid)) == data) }
        // Pull onto a fresh laptop: same bytes.
        try FileManager.default.removeItem(atPath: bed.localClaude)
        try FileManager.default.removeItem(at: bed.state)
        try FileManager.default.createDirectory(atPath: bed.localClaude, withIntermediateDirectories: true)
        try bed.run(.pull)
        for (sid, data) in ids { #expect(SyncTestBed.read(bed.localTranscript(sid)) == data) }
        // Fork one: both originals untouched.
        let (sid, data) = try #require(ids.min { $0.key < $1.key })
        let extra = Data("{\"type\":\"summary\",\"summary\":\"laptop\",\"leafUuid\":\"x\"}\n".utf8)
        let podExtra = Data("{\"type\":\"summary\",\"summary\":\"pod\",\"leafUuid\":\"y\"}\n".utf8)
        try SyncTestBed.append(extra, to: bed.localTranscript(sid))
        try SyncTestBed.append(podExtra, to: bed.podTranscript(sid))
        let sync = try bed.run(.sync)
        #expect(sync.count(.forked) == 1)
        #expect(SyncTestBed.read(bed.localTranscript(sid)) == data + extra)
        #expect(SyncTestBed.read(bed.podTranscript(sid)) == data + podExtra)
    }
}
