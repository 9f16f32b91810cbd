import CCPodKit
import Foundation
import Testing

/// The retention shield: sessions Claude's cleanup sweep deletes within a week, judged by
/// the transcript's modification time against `cleanupPeriodDays`, that exist nowhere
/// else (on no configured pod as its last agreement records, not archived).
@Suite("Retention shield")
struct RetentionShieldTests {
    let work = TranscriptFixtures.workSession
    let rewind = TranscriptFixtures.rewindSession
    let resumed = TranscriptFixtures.resumedSession

    /// Ten-day sweep: the work session is 5 days old (swept in 5 days: at risk), the rewind
    /// session 2 days (swept in 8: safe), the resumed one 9 days but on a pod; the rest 60
    /// days (at risk, the next start of claude deletes them).
    func bed() throws -> ArchiveBed {
        let bed = try ArchiveBed()
        try bed.write("settings.json", "{\"cleanupPeriodDays\": 10, \"theme\": \"dark\"}")
        try bed.age(work, daysOld: 5)
        try bed.age(rewind, daysOld: 2)
        try bed.age(resumed, daysOld: 9)
        // The resumed session was pushed to a configured pod (a `local:` pod stands in for
        // it; its agreement is recorded under the configured pod's name).
        let podRoot = bed.root.appendingPathComponent("pod").path
        try FileManager.default.createDirectory(atPath: podRoot + "/root/.claude", withIntermediateDirectories: true)
        let scope = SyncScope(projects: [ProjectMapping(localSlug: TranscriptFixtures.tinyVitSlug, podSlug: TranscriptFixtures.tinyVitSlug)],
                              sessionId: resumed)
        _ = try SyncEngine(claudeDir: bed.claude.path, connection: LocalConnection(root: podRoot),
                           stateDir: bed.locations.podStateDir(podName: "gpu1"))
            .run(scope: scope, options: SyncOptions(direction: .push, busySeconds: 0))
        try FileManager.default.createDirectory(at: bed.locations.configDir, withIntermediateDirectories: true)
        try Data("[pods.gpu1]\ndirect = { user = \"root\", host = \"203.0.113.7\", port = 41022 }\n".utf8).write(to: bed.locations.configFile)
        return bed
    }

    /// What `ccpod watch` does once a day: the sessions at risk are archived (exactly those),
    /// the day is marked, and the next look waits for the next day.
    @Test("The watch's daily guard archives exactly the sessions at risk, once a day")
    func dailyGuard() throws {
        let bed = try bed()
        defer { bed.remove() }
        let atRisk = Set(try RetentionShield.scan(claudeDir: bed.claude, locations: bed.locations).atRisk.map(\.candidate.id))
        #expect(SweepGuard.isDue(stateDir: bed.locations.stateDir))
        let outcome = try SweepGuard.run(claudeDir: bed.claude, locations: bed.locations)
        #expect(Set(outcome.archived) == atRisk, "\(outcome)")
        #expect(!SweepGuard.isDue(stateDir: bed.locations.stateDir))
        #expect(SweepGuard.isDue(stateDir: bed.locations.stateDir, now: Date().addingTimeInterval(SweepGuard.interval + 60)))
        #expect(try RetentionShield.scan(claudeDir: bed.claude, locations: bed.locations).atRisk.isEmpty)
        let index = try ArchiveIndex.load(stateDir: bed.locations.stateDir).ids(claudeDir: bed.claude)
        #expect(index == atRisk)
        // The rewind session (swept in 8 days) and the one on the pod stay where they are.
        for id in [rewind, resumed] {
            #expect(FileManager.default.fileExists(atPath: bed.claude.appendingPathComponent("projects/\(TranscriptFixtures.tinyVitSlug)/\(id).jsonl").path)
                    || !index.contains(id))
            #expect(!index.contains(id))
        }
    }

    @Test("cleanupPeriodDays comes from settings.json, else 30")
    func cleanupDays() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        #expect(RetentionShield.cleanupDays(claudeDir: bed.claude) == 30)
        try bed.write("settings.json", "{\"cleanupPeriodDays\": 12}")
        #expect(RetentionShield.cleanupDays(claudeDir: bed.claude) == 12)
    }

    @Test("Sessions swept within a week and kept nowhere else are named; one on a pod and one out of reach are not")
    func atRisk() throws {
        let bed = try bed()
        defer { bed.remove() }
        let scan = try RetentionShield.scan(claudeDir: bed.claude, locations: bed.locations)
        #expect(scan.cleanupDays == 10)
        #expect(scan.pods == ["gpu1"])
        let ids = Set(scan.atRisk.map(\.candidate.id))
        #expect(ids.count == 5, "\(scan.atRisk.map { ($0.candidate.id, $0.daysLeft) })")
        #expect(ids.contains(work) && !ids.contains(rewind) && !ids.contains(resumed))
        #expect(scan.atRisk.first { $0.candidate.id == work }?.daysLeft == 4 || scan.atRisk.first { $0.candidate.id == work }?.daysLeft == 5)
        // The pod's copy is older than the session here: it no longer covers it.
        let path = bed.claude.appendingPathComponent("projects/\(TranscriptFixtures.tinyVitSlug)/\(resumed).jsonl")
        let handle = try FileHandle(forWritingTo: path)
        handle.seekToEndOfFile()
        handle.write(Data("{\"type\":\"user\"}\n".utf8))
        try handle.close()
        try ArchiveBed.setMtime(path.path, ns: ArchiveBed.now - 9 * ArchiveBed.day)
        #expect(try RetentionShield.scan(claudeDir: bed.claude, locations: bed.locations).atRisk.contains { $0.candidate.id == resumed })
    }

    @Test("ccpod doctor warns; archive --before-sweep archives exactly those; then the doctor is quiet",
          .enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func beforeSweep() throws {
        let bed = try bed()
        defer { bed.remove() }
        let atRisk = Set(try RetentionShield.scan(claudeDir: bed.claude, locations: bed.locations).atRisk.map(\.candidate.id))
        try bed.ccpod(["doctor"])
        do {
            let doctor = try #require(try bed.binary(["doctor"]))
            let warned = doctor.stdout.split(separator: "\n").filter { $0.contains("Claude's cleanup (cleanupPeriodDays 10) deletes this session") }
            #expect(warned.count == atRisk.count, "\(doctor.stdout)")
            #expect(doctor.stderr.contains("ccpod archive --before-sweep"))
            let json = try #require(try bed.binary(["doctor", "--json"]))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(Set(((object["sweepAtRisk"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }) == atRisk)
        }
        try bed.ccpod(["archive", "--before-sweep"])
        #expect(Set(try bed.index().sessions.map(\.id)) == atRisk)
        let left = Set(bed.sessionFiles().keys)
        #expect(left.contains("projects/\(TranscriptFixtures.tinyVitSlug)/\(rewind).jsonl"))
        #expect(left.contains("projects/\(TranscriptFixtures.tinyVitSlug)/\(resumed).jsonl"))
        #expect(try RetentionShield.scan(claudeDir: bed.claude, locations: bed.locations).atRisk.isEmpty)
        #expect(try #require(try bed.binary(["doctor"])).stdout.contains("Claude's cleanup") == false)
    }
}
