import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The built `ccpod` next to the test bundle, or nil.
private let ccpodBinary: String? = {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("ccpod").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

/// Exit codes of the real binary, as a script sees them.
@Suite(.enabled(if: ccpodBinary != nil, "the ccpod binary was not built next to the tests"))
struct CCPodBinaryTests {
    func run(_ args: [String], root: URL) throws -> ChildProcess.Output {
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        return try ChildProcess.run(ccpodBinary!, args, environment: env)
    }

    @Test func exitCodes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-b-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("pod/workspace"), withIntermediateDirectories: true)

        let local = try run(["check", "--pod", "local:\(root.path)/pod"], root: root)
        #expect(local.status == 0)
        #expect(local.stdoutText.contains("tools: sh"))

        let none = try run(["check"], root: root)
        #expect(none.status == 64)
        #expect(none.stderrText.contains("--pod"))

        let malformed = try run(["pod", "add", "x", "--direct", "root@host:99999"], root: root)
        #expect(malformed.status == 64)
        #expect(malformed.stderrText.contains("1 to 65535"))

        let unknown = try run(["check", "--pod", "nope"], root: root)
        #expect(unknown.status == 64)

        var config = CCPodConfig()
        config.pods["gone"] = PodSettings(name: "gone", direct: SSHEndpoint(user: "root", host: "127.0.0.1", port: LoopbackSSHD.freePort()),
                                          sshOptions: ["-F", "/dev/null"])
        try config.save(to: CCPodLocations.resolve(environment: ["XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                                                                 "XDG_STATE_HOME": root.appendingPathComponent("state").path]))
        let unreachable = try run(["check", "--pod", "gone", "--json"], root: root)
        #expect(unreachable.status == 69)
        #expect(unreachable.stdoutText.contains("\"usable\" : false"))
        #expect(unreachable.stderrText.contains("refused the connection"))
    }
}
