import CCPodKit
import Foundation
import Testing

/// The judge of a restore is the real Claude Code: a session archived and restored is
/// listed by `claude --resume` in its project again.
@Suite("The real Claude Code lists a restored session", .enabled(if: RealClaude.available, RealClaude.unavailableReason))
struct ArchiveResumeTests {
    @Test("An archived, then restored session is listed by claude --resume")
    func restoredSessionIsListed() async throws {
        let bed = try ResumeBed()
        defer { bed.remove() }
        let title = "Recalibrate the wombat spectrometer"
        var transcript = TranscriptWriter(sessionId: bed.sessionId, cwd: bed.laptopProject)
        var content = transcript.turn(prompt: title, answer: "Starting with the dark frames.")
        content += transcript.turn(prompt: "Use the cooled sensor.", answer: "Done: the cooled sensor is in use.")
        try SyncTestBed.write(content, to: bed.laptopTranscript(bed.sessionId))

        let claude = URL(fileURLWithPath: bed.laptopClaude)
        let cache = SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: bed.state))
        let candidate = try #require(try ArchiveCandidate.gather(claudeDir: claude, slug: ProjectSlug.of(bed.laptopProject), cache: cache)
            .sessions.first { $0.id == bed.sessionId })
        let archiver = SessionArchiver(claudeDir: claude, stateDir: bed.state)
        #expect(try archiver.archive(candidate).entry != nil)
        #expect(!FileManager.default.fileExists(atPath: bed.laptopTranscript(bed.sessionId)))
        try archiver.restore(try ArchiveIndex.load(stateDir: bed.state).find(bed.sessionId, claudeDir: claude))
        #expect(SyncTestBed.read(bed.laptopTranscript(bed.sessionId)) == content)

        let laptop = try bed.claudeOnLaptop()
        defer { laptop.stop() }
        let (listed, screen) = await laptop.waitFor(timeout: ClaudeResumeTests.pickerTimeout) { $0.contains(title) }
        #expect(listed, """
            claude --resume in \(bed.laptopProject) did not list the restored "\(title)" within \(Int(ClaudeResumeTests.pickerTimeout)) s.
            Screen:
            \(screen)
            Laptop Claude dir:
            \(bed.describe(bed.laptopClaude))
            """)
    }
}
