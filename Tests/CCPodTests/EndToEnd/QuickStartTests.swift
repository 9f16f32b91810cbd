import CCPodKit
import Foundation
import Testing

/// The README's promise: its quick-start command, taken from the README itself, runs
/// as written on a machine where Claude Code never ran (an empty HOME), from the
/// source tree, with the built binary in place of `swift run -c release ccpod`.
@Suite(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
struct QuickStartTests {
    /// The arguments of the first `swift run … ccpod …` line in README.md.
    static func quickStartArguments() throws -> [String] {
        let readme = try String(contentsOf: ClaudeTestPaths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let line = try #require(readme.split(separator: "\n").first { $0.hasPrefix("swift run") && $0.contains(" ccpod ") })
        let words = line.split(separator: " ").map(String.init)
        let start = try #require(words.firstIndex(of: "ccpod"))
        return Array(words[(start + 1)...])
    }

    @Test func theReadmesMainCommandWorksOnAFreshMachine() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-qs-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var args = try Self.quickStartArguments()
        // The README's pod folder, moved into this test's own folder.
        let podIndex = try #require(args.firstIndex(of: "--pod"))
        #expect(args[podIndex + 1].hasPrefix("local:/"))
        args[podIndex + 1] = "local:\(root.path)/pod"
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        let out = try ChildProcess.run(ClaudeTestPaths.ccpodBinary!.path, args, environment: env,
                                       directory: ClaudeTestPaths.packageRoot.path)
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stdoutText.contains("copied-to-pod"))
        let example = "projects/-tmp-ccpod-example/5e0d3c2a-8f41-4b7e-9a26-1c7d2e9f4b10.jsonl"
        let sent = try Data(contentsOf: URL(fileURLWithPath: "\(root.path)/pod/root/.claude/\(example)"))
        #expect(sent == (try Data(contentsOf: ClaudeTestPaths.packageRoot.appendingPathComponent("Examples/claude/\(example)"))))
        // Without the example and without a Claude dir: exit 66, naming what to do.
        let bare = try ChildProcess.run(ClaudeTestPaths.ccpodBinary!.path, ["push", "--all", "--pod", "local:\(root.path)/pod"],
                                        environment: env, directory: root.path)
        #expect(bare.status == 66)
        #expect(bare.stderrText.contains("--claude-dir"))
    }
}
