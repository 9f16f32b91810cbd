import CCPodKit
import Foundation
import Testing

/// After a fork, the real claude resumes each side's sibling ("… (from pod)" on the
/// laptop, "… (from laptop)" on the pod) and writes that sibling's lines, its title
/// among them. The next sync carries those lines to the paired original on the other
/// side; the titles must not come along: in the real picker each original keeps its
/// own title, and no side shows its own "(from …)" name.
@Suite("Fork titles stay with their sessions when claude resumes a sibling", .enabled(if: RealClaude.available, RealClaude.unavailableReason))
struct ForkTitleResumeTests {
    static let timeout: Double = 90

    @Test func eachOriginalKeepsItsTitleAfterTheSiblingsAreResumed() async throws {
        let bed = try ResumeBed()
        defer { bed.remove() }
        let title = "Tune the zebra finch song classifier"
        var base = TranscriptWriter(sessionId: bed.sessionId, cwd: bed.laptopProject)
        var content = base.turn(prompt: title, answer: "Starting from the mel-spectrogram baseline.")
        content += base.turn(prompt: "Plot the confusion matrix.", answer: "Saved confusion.png.")
        try SyncTestBed.write(content, to: bed.laptopTranscript(bed.sessionId))
        try bed.run(.push)
        var onLaptop = base
        try SyncTestBed.append(onLaptop.turn(prompt: "Tidy the plots for the paper.", answer: "Fonts and axes fixed."),
                               to: bed.laptopTranscript(bed.sessionId))
        var onPod = base
        onPod.cwd = bed.podProject
        try SyncTestBed.append(onPod.turn(prompt: "Run the ablation on the GPU.", answer: "Ablation finished: 3 runs."),
                               to: bed.podTranscript(bed.sessionId))
        #expect(try bed.run(.sync).count(.forked) == 1)
        let laptopSibling = try #require(SyncTestBed.transcripts(in: bed.laptopSlugDir).first { $0 != "\(bed.sessionId).jsonl" })
        let podSibling = try #require(SyncTestBed.transcripts(in: bed.podSlugDir).first { $0 != "\(bed.sessionId).jsonl" })

        // The real claude resumes each sibling, shows it, and is ended.
        let sides = [
            ("laptop", bed.laptopProject, bed.laptopClaude, "\(bed.laptopSlugDir)/\(laptopSibling)", "Ablation finished"),
            ("pod", bed.podProject, bed.podClaude, "\(bed.podSlugDir)/\(podSibling)", "Fonts and axes fixed"),
        ]
        for (label, project, claudeDir, sibling, shown) in sides {
            let before = SyncTestBed.read(sibling).count
            let screen = try RealClaude.Screen(label: label, directory: project, claudeDir: claudeDir, home: bed.home,
                                               arguments: ["--resume", String(sibling.split(separator: "/").last!.dropLast(6))])
            let (opened, text) = await screen.waitFor(timeout: Self.timeout) { $0.contains(shown) }
            screen.stop()
            #expect(opened, "claude --resume did not show the sibling on the \(label) side:\n\(text)")
            // What makes this a test: claude wrote the sibling's title again, which the old sync carried across.
            let written = String(decoding: SyncTestBed.read(sibling).dropFirst(before), as: UTF8.self)
            #expect(written.contains("\"type\":\"custom-title\""), "claude did not write the \(label) sibling's title again:\n\(written)")
        }

        let after = try bed.run(.sync)
        #expect(after.count(.forked) == 0, "\(after.items)")
        #expect(after.conflicts == 0)
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })

        // The pickers: the original by its own title, the sibling by its "(from …)" one, nothing else.
        let pod = try bed.claudeOnPod()
        defer { pod.stop() }
        let laptop = try bed.claudeOnLaptop()
        defer { laptop.stop() }
        for (screen, own, other) in [(pod, "(from laptop)", "(from pod)"), (laptop, "(from pod)", "(from laptop)")] {
            let (listed, text) = await screen.waitFor(timeout: Self.timeout) { text in
                let rows = text.split(separator: "\n")
                return rows.contains { $0.contains(title) && !$0.contains("(from") } && rows.contains { $0.contains("\(title) \(own)") }
            }
            #expect(listed, "the picker on the \(screen.label) side did not list \"\(title)\" and \"\(title) \(own)\":\n\(text)")
            #expect(ResumeBed.lines(of: text, containing: other) == 0, "the \(screen.label) side's original took the other side's title:\n\(text)")
            #expect(ResumeBed.lines(of: text, containing: own) == 1, "\(text)")
        }
    }
}
