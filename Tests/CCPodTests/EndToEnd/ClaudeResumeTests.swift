import CCPodKit
import Foundation
import Testing

/// The judge is the real Claude Code: what ccpod puts in a Claude dir must be listed by
/// `claude --resume` run in the project's directory on that side.
///
/// The pod is a `local:` pod whose root R stands for `/`. Its Claude dir is
/// `R/claude-config` and the project lives at `R/work/code`, a real directory here, so
/// the real claude can run in it with `CLAUDE_CONFIG_DIR=R/claude-config`.
@Suite("The real Claude Code lists what ccpod synced", .enabled(if: RealClaude.available, RealClaude.unavailableReason))
struct ClaudeResumeTests {
    /// How long claude may take to show its picker (about 20 s when the machine is idle).
    static let pickerTimeout: Double = 90

    @Test("A pushed session is listed by claude --resume in the mapped pod directory")
    func pushedSessionIsResumableOnThePod() async throws {
        let bed = try ResumeBed()
        defer { bed.remove() }
        let title = "Calibrate the quokka telescope array"
        var transcript = TranscriptWriter(sessionId: bed.sessionId, cwd: bed.laptopProject)
        var content = transcript.turn(prompt: title, answer: "I will start with the mount alignment.")
        content += transcript.turn(prompt: "Use the spare lens for the second pass.", answer: "Done: second pass uses the spare lens.")
        try SyncTestBed.write(content, to: bed.laptopTranscript(bed.sessionId))

        let report = try bed.run(.push)
        #expect(report.items.map(\.action) == [.copiedToPod], "push: \(report.items)")
        #expect(SyncTestBed.read(bed.podTranscript(bed.sessionId)) == content)

        let pod = try bed.claudeOnPod()
        defer { pod.stop() }
        let (listed, screen) = await pod.waitFor(timeout: Self.pickerTimeout) { $0.contains(title) }
        #expect(listed, """
            claude --resume in \(bed.podProject) did not list "\(title)" within \(Int(Self.pickerTimeout)) s.
            Screen:
            \(screen)
            Pod Claude dir:
            \(bed.describe(bed.podClaude))
            """)
    }

    @Test("After a fork, claude --resume lists the session and its sibling on both sides")
    func forkedSiblingsAreResumableOnBothSides() async throws {
        let bed = try ResumeBed()
        defer { bed.remove() }
        let title = "Tune the zebra finch song classifier"
        var base = TranscriptWriter(sessionId: bed.sessionId, cwd: bed.laptopProject)
        var content = base.turn(prompt: title, answer: "Starting from the mel-spectrogram baseline.")
        content += base.turn(prompt: "Plot the confusion matrix.", answer: "Saved confusion.png.")
        try SyncTestBed.write(content, to: bed.laptopTranscript(bed.sessionId))
        try bed.run(.push)

        // Both sides move on from the same last message.
        var onLaptop = base
        try SyncTestBed.append(onLaptop.turn(prompt: "Tidy the plots for the paper.", answer: "Fonts and axes fixed."),
                               to: bed.laptopTranscript(bed.sessionId))
        var onPod = base
        onPod.cwd = bed.podProject  // claude on the pod writes its own directory
        try SyncTestBed.append(onPod.turn(prompt: "Run the ablation on the GPU.", answer: "Ablation finished: 3 runs."),
                               to: bed.podTranscript(bed.sessionId))

        let report = try bed.run(.sync)
        #expect(report.count(.forked) == 1, "sync: \(report.items)")
        let laptopFiles = SyncTestBed.transcripts(in: bed.laptopSlugDir)
        let podFiles = SyncTestBed.transcripts(in: bed.podSlugDir)
        #expect(laptopFiles.count == 2, "laptop transcripts: \(laptopFiles)")
        #expect(podFiles.count == 2, "pod transcripts: \(podFiles)")

        // Both claude instances start together: the picker takes ~20 s to appear.
        let pod = try bed.claudeOnPod()
        defer { pod.stop() }
        let laptop = try bed.claudeOnLaptop()
        defer { laptop.stop() }

        // On the pod: the pod's own session and the laptop's continuation as a sibling.
        // The sibling is named apart: "<title> (from laptop)".
        let (podListed, podScreen) = await pod.waitFor(timeout: Self.pickerTimeout) { screen in
            let rows = screen.split(separator: "\n")
            return rows.contains { $0.contains(title) && !$0.contains("(from laptop)") }
                && rows.contains { $0.contains("\(title) (from laptop)") }
        }
        #expect(podListed, """
            claude --resume in \(bed.podProject) did not list "\(title)" and "\(title) (from laptop)" within \(Int(Self.pickerTimeout)) s.
            Screen:
            \(podScreen)
            Pod Claude dir:
            \(bed.describe(bed.podClaude))
            """)

        // On the laptop: the laptop's own session and the pod's continuation, named "… (from pod)".
        let (laptopListed, laptopScreen) = await laptop.waitFor(timeout: Self.pickerTimeout) { screen in
            let rows = screen.split(separator: "\n")
            return rows.contains { $0.contains(title) && !$0.contains("(from pod)") } && rows.contains { $0.contains("\(title) (from pod)") }
        }
        #expect(laptopListed, """
            claude --resume in \(bed.laptopProject) did not list "\(title)" and a "… (from pod)" sibling within \(Int(Self.pickerTimeout)) s.
            Screen:
            \(laptopScreen)
            Laptop Claude dir:
            \(bed.describe(bed.laptopClaude))
            """)
    }
}

/// A laptop Claude dir, a laptop project, and a `local:` pod whose root stands for `/`,
/// all in one temporary folder; never the machine's own `~/.claude`.
struct ResumeBed {
    let root: URL
    let sessionId = UUID().uuidString.lowercased()
    /// The project on the laptop and on the pod, as claude sees them (symlinks resolved).
    let laptopProject: String
    let podProject: String
    let laptopClaude: String
    /// The folder that stands for the pod's `/`, and the pod's Claude dir inside it.
    let podRoot: String
    let podClaude: String
    let home: String
    let scope: SyncScope
    let connection: LocalConnection
    let state: URL

    /// The pod's Claude dir and project, as pod paths (under the pod's root).
    static let podClaudePath = "/claude-config"
    static let podProjectPath = "/work/code"

    init() throws {
        let fm = FileManager.default
        root = fm.temporaryDirectory.appendingPathComponent("ccpod-resume-\(UUID().uuidString.prefix(8).lowercased())")
        let laptopDir = root.appendingPathComponent("laptop-project")
        let podDir = root.appendingPathComponent("pod")
        for dir in [laptopDir, podDir.appendingPathComponent(String(Self.podProjectPath.dropFirst())), root.appendingPathComponent("home")] {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        laptopProject = ProjectSlug.resolvedPath(laptopDir)
        podRoot = ProjectSlug.resolvedPath(podDir)
        podProject = podRoot + Self.podProjectPath
        podClaude = podRoot + Self.podClaudePath
        laptopClaude = root.appendingPathComponent("laptop-claude").path
        home = root.appendingPathComponent("home").path
        state = root.appendingPathComponent("state")
        scope = SyncScope(projects: [ProjectMapping(localSlug: ProjectSlug.of(laptopProject), podSlug: ProjectSlug.of(podProject),
                                                    localPath: laptopProject, podPath: podProject)])
        connection = LocalConnection(root: podRoot, paths: PodPaths(claudeDir: Self.podClaudePath))
        try RealClaude.prepareConfig(claudeDir: laptopClaude, trusted: [laptopProject])
        try RealClaude.prepareConfig(claudeDir: podClaude, trusted: [podProject])
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    var laptopSlugDir: String { "\(laptopClaude)/projects/\(ProjectSlug.of(laptopProject))" }
    var podSlugDir: String { "\(podClaude)/projects/\(ProjectSlug.of(podProject))" }
    func laptopTranscript(_ id: String) -> String { "\(laptopSlugDir)/\(id).jsonl" }
    func podTranscript(_ id: String) -> String { "\(podSlugDir)/\(id).jsonl" }

    @discardableResult
    func run(_ direction: SyncOptions.Direction) throws -> SyncReport {
        try SyncEngine(claudeDir: laptopClaude, connection: connection, stateDir: state)
            .run(scope: scope, options: SyncOptions(direction: direction, busySeconds: 0))
    }

    func claudeOnPod() throws -> RealClaude.Screen {
        try RealClaude.Screen(label: "pod", directory: podProject, claudeDir: podClaude, home: home, arguments: ["--resume"])
    }

    func claudeOnLaptop() throws -> RealClaude.Screen {
        try RealClaude.Screen(label: "laptop", directory: laptopProject, claudeDir: laptopClaude, home: home, arguments: ["--resume"])
    }

    /// Screen rows that contain `text`.
    static func lines(of screen: String, containing text: String) -> Int {
        screen.split(separator: "\n").filter { $0.contains(text) }.count
    }

    /// The session files under a Claude dir's `projects/`, with their contents, for failure messages.
    func describe(_ claudeDir: String) -> String {
        let projects = claudeDir + "/projects"
        guard let walker = FileManager.default.enumerator(atPath: projects) else { return "(no projects folder)" }
        var out = ""
        while let relative = walker.nextObject() as? String {
            var isDir: ObjCBool = false
            let full = projects + "/" + relative
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue else { continue }
            out += "--- projects/\(relative)\n" + String(decoding: SyncTestBed.read(full), as: UTF8.self)
        }
        return out.isEmpty ? "(no files)" : out
    }
}
