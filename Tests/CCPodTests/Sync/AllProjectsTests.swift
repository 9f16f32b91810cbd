@testable import CCPodKit
import Foundation
import Testing

/// `--all` maps each project as it would map alone: its `.ccpod.toml` `pod_path`
/// first, then its latest run, then the mapping remembered; never also under its own slug.
@Suite("--all: each project's own mapping")
struct AllProjectsTests {
    let mapped = "11111111-2222-4333-8444-555555555555"
    let plain = "22222222-2222-4333-8444-555555555555"

    /// A project folder with `.ccpod.toml` (pod_path) and one without, each with a session naming it.
    func layout(_ root: URL) throws -> (claude: URL, mappedRoot: String, plainRoot: String) {
        let claude = root.appendingPathComponent("claude")
        let mappedRoot = root.appendingPathComponent("work/my_app.v2").path
        let plainRoot = root.appendingPathComponent("work/other").path
        for dir in [mappedRoot, plainRoot] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try Data("pod_path = \"/workspace/runs/stage1_x/code\"\n".utf8).write(to: URL(fileURLWithPath: mappedRoot + "/.ccpod.toml"))
        for (id, dir) in [(mapped, mappedRoot), (plain, plainRoot)] {
            let text = String(decoding: SyncTestBed.lines(session: id, count: 3), as: UTF8.self)
                .replacingOccurrences(of: SyncTestBed.localProject, with: dir)
            try SyncTestBed.write(Data(text.utf8), to: claude.path + "/projects/\(ProjectSlug.of(dir))/\(id).jsonl")
        }
        return (claude, mappedRoot, plainRoot)
    }

    @Test func theMappingsComeFromEachProject() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-all-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        let (claude, mappedRoot, plainRoot) = try layout(root)
        let stale = ProjectMapping(localSlug: ProjectSlug.of(mappedRoot), podSlug: ProjectSlug.of(mappedRoot))
        let remembered = ProjectMapping(localSlug: "-gone-project", podSlug: "-workspace-gone")
        let (mappings, notes) = try AllProjects.mappings(claudeDir: claude.path, remembered: [stale, remembered]) { _ in nil }
        #expect(mappings.first { $0.localSlug == ProjectSlug.of(mappedRoot) }?.podSlug == ProjectSlug.of("/workspace/runs/stage1_x/code"))
        #expect(mappings.contains(remembered))
        #expect(!mappings.contains { $0.localSlug == ProjectSlug.of(plainRoot) })
        #expect(notes.map(\.source) == [ProjectSettings.fileName])
        // The latest run is next when .ccpod.toml says nothing.
        let (withRun, _) = try AllProjects.mappings(claudeDir: claude.path, remembered: []) { project in
            project == plainRoot ? "/workspace/runs/r1/code" : nil
        }
        #expect(withRun.first { $0.localSlug == ProjectSlug.of(plainRoot) }?.podSlug == ProjectSlug.of("/workspace/runs/r1/code"))
    }

    @Test(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
    func pushAllCarriesAMappedProjectToItsPodPathOnly() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-all-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        let (claude, mappedRoot, plainRoot) = try layout(root)
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path, "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        let out = try ChildProcess.run(ClaudeTestPaths.ccpodBinary!.path,
                                       ["push", "--all", "--pod", "local:\(root.path)/pod", "--claude-dir", claude.path, "--busy-seconds", "0"],
                                       environment: env)
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stderrText.contains(".ccpod.toml"), "\(out.stderrText)")
        let podProjects = "\(root.path)/pod/root/.claude/projects"
        #expect(FileManager.default.fileExists(atPath: "\(podProjects)/\(ProjectSlug.of("/workspace/runs/stage1_x/code"))/\(mapped).jsonl"))
        #expect(!FileManager.default.fileExists(atPath: "\(podProjects)/\(ProjectSlug.of(mappedRoot))"), "it also landed under its own slug")
        #expect(FileManager.default.fileExists(atPath: "\(podProjects)/\(ProjectSlug.of(plainRoot))/\(plain).jsonl"))
    }
}
