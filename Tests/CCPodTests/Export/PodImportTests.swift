@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `ccpod import --pod NAME --from-git`: the export committed in a deployed run's code folder,
/// read with git on the pod (a loopback sshd) and imported into the pod's Claude dir.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)")) struct PodImportTests {
    static let id = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"

    @Test("The export at HEAD of the run's code folder lands in the pod's project folder; again: nothing changes; a longer export appends")
    func importOnPod() throws {
        let bed = try ExportBed()
        try bed.write(ExportBed.turn(Self.id, 1, prompt: "Survey the kelp forest", answer: "Surveyed."), "\(Self.id).jsonl")
        let git = try GitFixture()
        defer { git.remove() }
        let exportFile = git.root.appendingPathComponent(ExportFormat.defaultFileName)
        try bed.export(output: exportFile)
        try git.commitAll("sessions")
        let pod = try DeployPod()
        let ssh = try pod.connection()
        let record = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "survey")).record
        let stateDir = pod.t.locations.podStateDir(podName: "gpu")
        let importer = PodImport(connection: ssh, podStateDir: stateDir, codePath: record.codePath, revision: "HEAD", file: ExportFormat.defaultFileName)

        let first = try importer.run()
        #expect(first.count("created") == 1, "\(first.items)")
        let onPod = URL(fileURLWithPath: pod.paths.claudeDir + "/projects/\(ProjectSlug.of(record.codePath))/\(Self.id).jsonl")
        #expect((try? Data(contentsOf: onPod)) == bed.read("\(Self.id).jsonl"))

        let again = try importer.run()
        #expect(again.items.allSatisfy { $0.action == "unchanged" }, "\(again.items)")
        #expect((try? Data(contentsOf: onPod)) == bed.read("\(Self.id).jsonl"))

        // A longer export deployed as an update of the run: its new lines are appended on the pod.
        try bed.append(ExportBed.turn(Self.id, 2, prompt: "Count the urchins", answer: "Forty."), "\(Self.id).jsonl")
        try bed.export(output: exportFile)
        try git.commitAll("longer")
        _ = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "survey", update: true))
        let grown = try importer.run()
        #expect(grown.count("appended") == 1, "\(grown.items)")
        #expect((try? Data(contentsOf: onPod)) == bed.read("\(Self.id).jsonl"))

        let missing = try #require(throws: CCPodError.self) {
            try PodImport(connection: ssh, podStateDir: stateDir, codePath: record.codePath, revision: "no-such-branch", file: ExportFormat.defaultFileName).run()
        }
        #expect(missing.status == .usage && missing.message.contains("no-such-branch"), "\(missing.message)")
        #expect(throws: CCPodError.self) {
            try PodImport(connection: ssh, podStateDir: stateDir, codePath: record.codePath, revision: "HEAD", file: "../../etc/passwd").run()
        }

        // The command: the project's latest run is found from its git root; nothing new to import.
        let before = try Data(contentsOf: onPod)
        let env = pod.t.environment.merging(["XDG_CONFIG_HOME": pod.t.root.path + "/config", "XDG_STATE_HOME": pod.t.root.path + "/state"]) { $1 }
        try runCCPod(["import", "--pod", "gpu", "--from-git", "--project", git.root.path], env)
        #expect(try Data(contentsOf: onPod) == before)
        let noRun = try #require(throws: CCPodError.self) {
            try runCCPod(["import", "--pod", "gpu", "--from-git", "--run", "nope", "--project", git.root.path], env)
        }
        #expect(noRun.status == .usage && noRun.message.contains("nope"), "\(noRun.message)")
    }
}

/// The real Claude Code, run where the pod's files are (the loopback pod is this machine), lists
/// a session imported on the pod in the run's code folder.
@Suite(.enabled(if: LoopbackSSHD.isAvailable && RealClaude.available, RealClaude.unavailableReason))
struct PodImportRealClaudeTests {
    @Test("claude --resume in the run's code folder, with the pod's Claude dir, lists the session imported there")
    func realClaudeListsSessionOnPod() async throws {
        let bed = try ExportBed()
        let title = "Index the plankton samples"
        var transcript = TranscriptWriter(sessionId: UUID().uuidString.lowercased(), cwd: bed.project)
        try bed.write(transcript.turn(prompt: title, answer: "Indexed.") + transcript.turn(prompt: "Sort by depth.", answer: "Sorted."),
                      "\(transcript.sessionId).jsonl")
        let git = try GitFixture()
        defer { git.remove() }
        try bed.export(output: git.root.appendingPathComponent(ExportFormat.defaultFileName))
        try git.commitAll("sessions")
        let pod = try DeployPod()
        let ssh = try pod.connection()
        let record = try pod.deployer(ssh, git: git).deploy(DeployRequest(directory: git.root.path, runName: "plankton")).record
        let report = try PodImport(connection: ssh, podStateDir: pod.t.locations.podStateDir(podName: "gpu"), codePath: record.codePath,
                                   revision: "HEAD", file: ExportFormat.defaultFileName).run()
        #expect(report.count("created") == 1)
        let code = ProjectSlug.resolvedPath(URL(fileURLWithPath: record.codePath))
        try RealClaude.prepareConfig(claudeDir: pod.paths.claudeDir, trusted: [code])
        let home = pod.t.root.appendingPathComponent("claude-home").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let screen = try RealClaude.Screen(label: "pod-import", directory: code, claudeDir: pod.paths.claudeDir, home: home, arguments: ["--resume"])
        defer { screen.stop() }
        let (listed, text) = await screen.waitFor(timeout: 90) { $0.contains(title) }
        #expect(listed, "claude --resume in \(code) did not list \"\(title)\". Screen:\n\(text)")
    }
}
