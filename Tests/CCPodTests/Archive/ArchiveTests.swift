import CCPodKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod archive`, `archive list`, `archive restore`, `sessions --archived` on the
/// project's own transcripts, with crafted modification times.
@Suite("Archive")
struct ArchiveTests {
    let work = TranscriptFixtures.workSession
    let legacy = TranscriptFixtures.legacySession

    @Test("Archive and restore every session: gone here, then back byte for byte with times and modes")
    func roundTripByteForByte() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        let before = bed.sessionFiles()
        #expect(before.count == 15)
        try bed.ccpod(["archive", "--all", "--older-than", "30d"])
        let index = try bed.index()
        #expect(index.sessions.count == 7)
        #expect(bed.sessionFiles().isEmpty, "left here: \(bed.sessionFiles().keys.sorted())")
        // The session's own folders went with it; the project folders stay.
        #expect(!FileManager.default.fileExists(atPath: bed.claude.appendingPathComponent("projects/\(TranscriptFixtures.tinyVitSlug)/\(work)").path))
        #expect(!FileManager.default.fileExists(atPath: bed.claude.appendingPathComponent("file-history/\(work)").path))
        for entry in index.sessions {
            let archive = ArchiveIndex.folder(stateDir: bed.locations.stateDir).appendingPathComponent(entry.file)
            #expect(FileStat.of(archive.path)?.isRegularFile == true)
            #expect(entry.file.hasSuffix(".tar.zst") || entry.file.hasSuffix(".tar.gz"))
        }
        let workEntry = try #require(index.sessions.first { $0.id == work })
        #expect(Set(workEntry.files.map(\.path)).isSuperset(of: [
            "file-history/\(work)/3f2a9c1d@v1", "tasks/\(work)/1.json", "todos/\(work)-agent-\(work).json",
            "projects/\(TranscriptFixtures.tinyVitSlug)/\(work)/tool-results/toolu_01H4Pv3aHGHx3Wyo6Iqd4o7A.txt",
        ]))
        let legacyEntry = try #require(index.sessions.first { $0.id == legacy })
        #expect(legacyEntry.files.map(\.path).contains("projects/\(TranscriptFixtures.cifarSlug)/agent-5f64e071.jsonl"))

        for entry in index.sessions { try bed.ccpod(["archive", "restore", entry.id]) }
        let after = bed.sessionFiles()
        #expect(after.keys.sorted() == before.keys.sorted())
        for (path, snapshot) in before {
            #expect(after[path] == snapshot, "\(path) differs after the round trip")
        }
        #expect(try bed.index().sessions.isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: ArchiveIndex.folder(stateDir: bed.locations.stateDir).path)) == ["index.json"])
    }

    @Test("Only sessions older than the age move; a session open in a running claude stays")
    func ageAndLiveSessions() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        try bed.age(TranscriptFixtures.rewindSession, daysOld: 3)
        // A running claude (this process) holds the work session.
        try bed.write("sessions/\(getpid()).json", "{\"pid\":\(getpid()),\"sessionId\":\"\(work)\"}")
        try bed.ccpod(["archive", "--all", "--older-than", "10d", "--dry-run"])
        #expect(try bed.index().sessions.isEmpty)
        try bed.ccpod(["archive", "--all", "--older-than", "10d"])
        let ids = Set(try bed.index().sessions.map(\.id))
        #expect(ids.count == 5)
        #expect(!ids.contains(work) && !ids.contains(TranscriptFixtures.rewindSession))
        let left = Set(bed.sessionFiles().keys)
        #expect(left.contains("projects/\(TranscriptFixtures.tinyVitSlug)/\(work).jsonl"))
        #expect(left.contains("file-history/\(work)/3f2a9c1d@v1"))
        #expect(left.contains("projects/\(TranscriptFixtures.tinyVitSlug)/\(TranscriptFixtures.rewindSession).jsonl"))
    }

    @Test("Restore refuses to replace a different file and writes nothing; an identical one is fine")
    func restoreNeverOverwrites() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        let before = bed.sessionFiles()
        try bed.ccpod(["archive", "--all"])
        let transcript = "projects/\(TranscriptFixtures.tinyVitSlug)/\(work).jsonl"
        try bed.write(transcript, "{\"type\":\"user\",\"note\":\"another session's bytes\"}\n")
        #expect(throws: CCPodError.self) { try bed.ccpod(["archive", "restore", work]) }
        #expect(bed.sessionFiles().keys.sorted() == [transcript], "a refused restore wrote \(bed.sessionFiles().keys.sorted())")
        #expect(try bed.index().sessions.contains { $0.id == work })
        // The same bytes there: the restore goes on around it.
        try before[transcript]!.data.write(to: bed.claude.appendingPathComponent(transcript))
        try bed.ccpod(["archive", "restore", String(work.prefix(8))])
        let after = bed.sessionFiles()
        for (path, snapshot) in before where path.contains(work) && path != transcript {
            #expect(after[path] == snapshot, "\(path)")
        }
        #expect(after[transcript]?.data == before[transcript]?.data)
        #expect(try !bed.index().sessions.contains { $0.id == work })
    }

    @Test("A damaged archive is refused by restore, and nothing is written")
    func damagedArchiveIsRefused() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        try bed.ccpod(["archive", "--all"])
        let entry = try #require(try bed.index().sessions.first { $0.id == work })
        let url = ArchiveIndex.folder(stateDir: bed.locations.stateDir).appendingPathComponent(entry.file)
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count / 2] ^= 0x5a
        try bytes.write(to: url)
        #expect(throws: CCPodError.self) { try bed.ccpod(["archive", "restore", work]) }
        #expect(bed.sessionFiles().isEmpty, "\(bed.sessionFiles().keys.sorted())")
        #expect(try bed.index().sessions.contains { $0.id == work })
    }

    @Test("A run interrupted after the index was written is finished by the next run; other contents are left alone")
    func interruptedRunIsFinished() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        let before = bed.sessionFiles()
        try bed.ccpod(["archive", "--all"])
        // As if the originals had not been removed yet: the session is in both places.
        for (path, snapshot) in before where path.contains(work) || path.contains(TranscriptFixtures.resumedSession) {
            try bed.write(path, "")
            try snapshot.data.write(to: bed.claude.appendingPathComponent(path))
            try ArchiveBed.setMtime(bed.claude.appendingPathComponent(path).path, ns: snapshot.mtimeNs)
        }
        // One of them was changed since.
        let resumed = "projects/\(TranscriptFixtures.tinyVitSlug)/\(TranscriptFixtures.resumedSession).jsonl"
        let handle = try FileHandle(forWritingTo: bed.claude.appendingPathComponent(resumed))
        handle.seekToEndOfFile()
        handle.write(Data("{\"type\":\"user\"}\n".utf8))
        try handle.close()
        try bed.ccpod(["archive", "--all"])
        let left = Set(bed.sessionFiles().keys)
        #expect(!left.contains { $0.contains(work) }, "\(left.sorted())")
        #expect(left == [resumed])
        #expect(try bed.index().sessions.count == 7)
    }

    @Test("ccpod sessions --archived and archive list read the index")
    func listings() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        try bed.ccpod(["archive", "--all"])
        try bed.ccpod(["sessions", "--archived", "--all", "--json"])
        try bed.ccpod(["archive", "list", "--json"])
        // A damaged index is refused, never overwritten.
        let file = ArchiveIndex.folder(stateDir: bed.locations.stateDir).appendingPathComponent("index.json")
        try Data("{not json".utf8).write(to: file)
        #expect(throws: CCPodError.self) { try bed.ccpod(["archive", "list"]) }
        #expect(throws: CCPodError.self) { try bed.ccpod(["archive", "--all"]) }
        #expect(try Data(contentsOf: file) == Data("{not json".utf8))
    }

    @Test("The binary: archive --json, sessions --archived --json, and the exit codes of restore",
          .enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func binaryOutputAndExitCodes() throws {
        let bed = try ArchiveBed()
        defer { bed.remove() }
        let archived = try #require(try bed.binary(["archive", "--all", "--json"]))
        #expect(archived.status == 0, "\(archived.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(archived.stdout.utf8)) as? [String: Any])
        #expect((result["archived"] as? [Any])?.count == 7)
        let listed = try #require(try bed.binary(["sessions", "--archived", "--all", "--json"]))
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(Set(rows.compactMap { $0["id"] as? String }) == Set(try bed.index().sessions.map(\.id)))
        let table = try #require(try bed.binary(["archive", "list"]))
        #expect(table.stdout.contains(work) && table.stdout.contains("Resumable training"))
        #expect(try bed.binary(["archive", "restore", "99999999-0000-4000-8000-000000000000"])?.status == 66)
        try bed.write("projects/\(TranscriptFixtures.tinyVitSlug)/\(work).jsonl", "{}\n")
        let refused = try #require(try bed.binary(["archive", "restore", work]))
        #expect(refused.status == 1 && refused.stderr.contains("differs from the archived copy"), "\(refused.stderr)")
    }

    @Test("Ages parse as 30d, 12h, 90m, 2w")
    func ages() {
        #expect(ArchivePlan.parseAge("30d") == 30.0 * 86400)
        #expect(ArchivePlan.parseAge("2w") == 14.0 * 86400)
        #expect(ArchivePlan.parseAge("90m") == 5400)
        #expect(ArchivePlan.parseAge("x") == nil)
        #expect(ArchivePlan.parseAge("-1d") == nil)
    }
}
