@testable import CCPodCLI
import CCPodKit
import Foundation
import Testing

/// Rough edges a newcomer meets in the first hour, tried with the built binary: a typo
/// in the config, a relative local: folder, status on a local: pod, long titles.
@Suite(.enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
struct NewcomerTests {
    struct Home {
        let root: URL
        var env: [String: String] {
            ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
             "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
             "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        }
        var example: String { ClaudeTestPaths.packageRoot.appendingPathComponent("Examples/claude").path }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-new-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        }

        func ccpod(_ args: [String], in directory: String? = nil) throws -> ChildProcess.Output {
            try ChildProcess.run(ClaudeTestPaths.ccpodBinary!.path, args, environment: env, directory: directory ?? root.path)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    @Test func aTypoInTheConfigIsNamedWithFileAndLine() throws {
        let home = try Home()
        defer { home.remove() }
        let config = home.root.appendingPathComponent("config/ccpod")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        try "[pods.gpu1]\ndirect = \"root@203.0.113.7:41022\"\nfoo = 1\n".write(
            to: config.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        let out = try home.ccpod(["pod", "list"])
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stderrText.contains("config.toml:3: unknown key `pods.gpu1.foo` is ignored"))
        #expect(out.stderrText.components(separatedBy: "unknown key").count == 2, "said once")
    }

    @Test func aRelativeLocalFolderIsMadeAbsoluteAndSaid() throws {
        let home = try Home()
        defer { home.remove() }
        let out = try home.ccpod(["push", "--all", "--pod", "local:pod", "--claude-dir", home.example])
        #expect(out.status == 0, "\(out.stderrText)")
        let absolute = ProjectSlug.resolvedPath(home.root) + "/pod"
        #expect(out.stderrText.contains("local:pod is taken as local:"))
        #expect(FileManager.default.fileExists(atPath: absolute) || FileManager.default.fileExists(atPath: home.root.path + "/pod"))
    }

    @Test func statusOnALocalPodPrintsNoSetupOrUptime() throws {
        let home = try Home()
        defer { home.remove() }
        let project = "/tmp/ccpod-example"
        let out = try home.ccpod(["status", "--pod", "local:\(home.root.path)/pod", "--claude-dir", home.example,
                                  "--project", project])
        #expect(!out.stdoutText.contains("setup missing"), "\(out.stdoutText)")
        #expect(!out.stdoutText.contains(" up "))
        #expect(out.stdoutText.contains("a folder on this machine"))
    }

    @Test func aNegativeBusyWindowIsNamedAsSuch() throws {
        let home = try Home()
        defer { home.remove() }
        for command in [["push"], ["pull"], ["pod", "stop", "gpu1"]] {
            let out = try home.ccpod(command + ["--busy-seconds", "-3"])
            #expect(out.status == 64)
            #expect(out.stderrText.contains("--busy-seconds cannot be negative"), "\(command): \(out.stderrText)")
        }
    }

    @Test func longTitlesKeepTheirEndSoAForkDiffersFromItsSibling() {
        let original = "Tune the learning rate schedule for the stage one DPO run on eight GPUs"
        let fork = original + " (from gpu1, 2026-12-05 14:02)"
        let a = SessionsCommand.truncate(original, 64), b = SessionsCommand.truncate(fork, 64)
        #expect(a.count == 64 && b.count == 64)
        #expect(a != b)
        #expect(b.hasSuffix("(from gpu1, 2026-12-05 14:02)"))
        #expect(b.hasPrefix("Tune the learning rate"))
        #expect(SessionsCommand.truncate("short", 64) == "short")
    }
}
