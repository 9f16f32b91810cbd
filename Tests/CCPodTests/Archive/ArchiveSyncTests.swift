import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// An archived session is not synced, and its absence is not a deletion: over a real
/// sshd, push (even with --delete), pull and sync leave it alone in both directions and
/// say so once; restored, it syncs again from where both sides last agreed.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct ArchiveSyncTests {
    let archivedId = "aaaaaaaa-2222-4333-8444-555555555555"
    let keptId = "bbbbbbbb-2222-4333-8444-555555555555"

    @Test("Sync skips archived sessions both ways; restored, the session syncs again")
    func archivedSessionsAreLeftAloneBothWays() throws {
        let (pod, bed, _) = try SyncOverSSHTests.sshBed()
        defer { withExtendedLifetime(pod) {} }
        defer { bed.remove() }
        let history = "file-history/\(archivedId)/5d1e@v1"
        for id in [archivedId, keptId] {
            try SyncTestBed.write(SyncTestBed.lines(session: id, count: 12), to: bed.localTranscript(id))
        }
        try SyncTestBed.write(Data("checkpoint\n".utf8), to: "\(bed.localClaude)/\(history)")
        try bed.run(.push)
        #expect(SyncTestBed.read("\(bed.podClaude)/\(history)") == Data("checkpoint\n".utf8))

        // Archive one session (its transcript and file-history entry).
        let claude = URL(fileURLWithPath: bed.localClaude)
        let stateDir = bed.root.appendingPathComponent("ccpod-state")
        let cache = SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: stateDir))
        let candidate = try #require(try ArchiveCandidate.gather(claudeDir: claude, slug: SyncTestBed.localSlug, cache: cache)
            .sessions.first { $0.id == archivedId })
        let (entry, skipped) = try SessionArchiver(claudeDir: claude, stateDir: stateDir).archive(candidate)
        #expect(entry != nil && skipped == nil)
        #expect(!FileManager.default.fileExists(atPath: bed.localTranscript(archivedId)))
        let archived = try ArchiveIndex.load(stateDir: stateDir).ids(claudeDir: claude)
        #expect(archived == [archivedId])

        // Without the archive's ids, the same run would call it a local deletion.
        let unaware = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .push, dryRun: true, delete: true, busySeconds: 0))
        #expect(unaware.items.contains { $0.path.contains(archivedId) && $0.action == .deletedLocally })

        func run(_ direction: SyncOptions.Direction, delete: Bool = false) throws -> SyncReport {
            try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: direction, delete: delete, busySeconds: 0, archivedSessions: archived))
        }
        let podCopy = SyncTestBed.read(bed.podTranscript(archivedId))
        let push = try run(.push, delete: true)
        #expect(!push.items.contains { $0.path.contains(archivedId) }, "\(push.items)")
        #expect(push.warnings.contains { $0.hasPrefix("1 archived session skipped") }, "\(push.warnings)")
        #expect(SyncTestBed.read(bed.podTranscript(archivedId)) == podCopy)
        #expect(SyncTestBed.read("\(bed.podClaude)/\(history)") == Data("checkpoint\n".utf8))

        // The pod's copy grows: pull and sync neither bring it back nor make a sibling of it.
        try SyncTestBed.append(SyncTestBed.lines(session: archivedId, count: 4, start: 12), to: bed.podTranscript(archivedId))
        // …and a subagent of it appears there, a file no agreement names.
        let subagent = "projects/\(SyncTestBed.podSlug)/\(archivedId)/subagents/agent-a1.jsonl"
        try SyncTestBed.write(SyncTestBed.lines(session: archivedId, count: 2), to: "\(bed.podClaude)/\(subagent)")
        for direction in [SyncOptions.Direction.pull, .sync] {
            let report = try run(direction)
            #expect(!report.items.contains { $0.path.contains(archivedId) }, "\(direction): \(report.items)")
            #expect(SyncTestBed.transcripts(in: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)").count == 1)
            #expect(!FileManager.default.fileExists(atPath: "\(bed.localClaude)/\(history)"))
            #expect(!FileManager.default.fileExists(atPath: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)/\(archivedId)"))
        }

        // Restored, it continues from the agreement: the pod's new lines arrive.
        try SessionArchiver(claudeDir: claude, stateDir: stateDir).restore(try ArchiveIndex.load(stateDir: stateDir).find(archivedId, claudeDir: claude))
        let after = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .sync, busySeconds: 0))
        #expect(after.items.contains { $0.path.hasSuffix("\(archivedId).jsonl") && $0.action == .pulled }, "\(after.items)")
        #expect(SyncTestBed.read(bed.localTranscript(archivedId)) == SyncTestBed.read(bed.podTranscript(archivedId)))
        #expect(SyncTestBed.read("\(bed.localClaude)/\(history)") == Data("checkpoint\n".utf8))
    }

    @Test("ccpod clean counts an archived session as home: its archive holds it")
    func cleanAcceptsArchivedSessions() throws {
        let (pod, bed0, _) = try SyncOverSSHTests.sshBed()
        defer { withExtendedLifetime(pod) {} }
        var bed = bed0
        defer { bed.remove() }
        bed.scope = SyncScope(projects: [ProjectMapping(localSlug: SyncTestBed.localSlug, podSlug: SyncTestBed.localSlug)])
        let podTranscript = { (id: String) in "\(bed.podClaude)/projects/\(SyncTestBed.localSlug)/\(id).jsonl" }
        for id in [archivedId, keptId] {
            try SyncTestBed.write(SyncTestBed.lines(session: id, count: 8), to: bed.localTranscript(id))
        }
        let podState = pod.locations.podStateDir(podName: "gpu")
        _ = try SyncEngine(claudeDir: bed.localClaude, connection: bed.connection, stateDir: podState)
            .run(scope: bed.scope, options: SyncOptions(direction: .push, busySeconds: 0))
        #expect(FileManager.default.fileExists(atPath: podTranscript(archivedId)))
        let claude = URL(fileURLWithPath: bed.localClaude)
        let cache = SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: pod.locations.stateDir))
        let candidate = try #require(try ArchiveCandidate.gather(claudeDir: claude, slug: SyncTestBed.localSlug, cache: cache)
            .sessions.first { $0.id == archivedId })
        #expect(try SessionArchiver(claudeDir: claude, stateDir: pod.locations.stateDir).archive(candidate).entry != nil)

        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": pod.root.path,
                   "XDG_CONFIG_HOME": pod.root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": pod.root.appendingPathComponent("state").path]
        try runCCPod(["clean", "--pod", "gpu", "--yes", "--busy-seconds", "0", "--claude-dir", bed.localClaude], env)
        #expect(!FileManager.default.fileExists(atPath: podTranscript(archivedId)))
        #expect(!FileManager.default.fileExists(atPath: podTranscript(keptId)))
        #expect(FileManager.default.fileExists(atPath: bed.localTranscript(keptId)))
        #expect(try ArchiveIndex.load(stateDir: pod.locations.stateDir).ids(claudeDir: claude) == [archivedId])
    }
}
