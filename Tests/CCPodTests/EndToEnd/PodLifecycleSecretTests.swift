import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `pod terminate` through the real binary, with ssh wrapped: the RunPod API key
/// reaches the API's Authorization header and nothing else: not the
/// argv of any process the real ccpod binary spawns (ssh and ssh-keyscan are wrapped to
/// log theirs), not its output, not `--json`; and a file that changes on the pod between
/// the pull and the verification (the wrapper changes it just before the inventory
/// runs) stops the termination.
@Suite(.enabled(if: LoopbackSSHD.isAvailable && launchTestBinary != nil, "needs sshd and the built ccpod"))
struct PodLifecycleSecretTests {
    @Test func theKeyIsInNoArgvAndNoOutput() throws {
        let b = try PodLifecycleTests().setUp(proxy: nil)
        defer { b.remove(); withExtendedLifetime(b.t) {} }
        let key = PodLifecycleTests.key
        let wrappers = b.bed.root.appendingPathComponent("wrappers").path
        let log = b.bed.root.appendingPathComponent("argv.log").path
        try FileManager.default.createDirectory(atPath: wrappers, withIntermediateDirectories: true)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for tool in ["ssh", "ssh-keyscan"] {
            let real = try ChildProcess.resolve(tool, environment: ["PATH": path])
            try "#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> '\(log)'\nexec '\(real)' \"$@\"\n"
                .write(toFile: wrappers + "/" + tool, atomically: true, encoding: .utf8)
            chmod(wrappers + "/" + tool, 0o755)
        }
        var env = b.env
        env["PATH"] = wrappers + ":" + path
        let binary = try #require(launchTestBinary)
        var output = ""
        for args in [["pod", "status", "gpu", "--json"],
                     ["pod", "stop", "gpu", "--force", "--claude-dir", b.bed.localClaude, "--busy-seconds", "0"],
                     ["pod", "start", "gpu", "--poll-interval", "0", "--skip-setup", "--json"],
                     ["pod", "status", "gpu"]] {
            let out = try ChildProcess.run(binary, args, environment: env)
            #expect(out.status == 0, "\(args): \(out.stderrText)")
            output += out.stdoutText + out.stderrText
        }
        let argv = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(argv.contains("ssh-keyscan") && argv.contains(" -T "), "the wrappers saw no ssh: \(argv.prefix(300))")
        #expect(!argv.contains(key) && !argv.contains("rpa_"))
        #expect(!output.contains(key))
        #expect(output.contains("\"runpodId\" : \"ccpodtest01\""))
        // The API saw the key in the header of every request, and only there.
        #expect(b.fake.requests.count >= 5)
        for request in b.fake.requests {
            #expect(request.headers["authorization"] == "Bearer \(key)")
            #expect(!request.path.contains(key) && !String(decoding: request.body, as: UTF8.self).contains(key))
        }
    }

    @Test func aFileChangedOnThePodBetweenPullAndVerificationStopsTheTermination() throws {
        let b = try PodLifecycleTests().setUp(proxy: nil)
        defer { b.remove(); withExtendedLifetime(b.t) {} }
        let folder = "train_20261201-101500"
        let runDir = b.bed.podRoot + "/workspace/runs/" + folder
        let log = runDir + "/logs/train.log"
        try SyncTestBed.write(Data("step 1 loss 2.3\n".utf8), to: log)
        let record = RunRecord(name: "train", folder: folder, directory: runDir, created: "2026-12-01T10:15:00Z",
                               deployed: "2026-12-01T10:15:00Z", tag: "ccpod/train-20261201-101500", commit: String(repeating: "a", count: 40),
                               project: b.project, snapshot: false)
        try SyncTestBed.write(try record.jsonLine() + Data("\n".utf8), to: b.bed.podRoot + "/workspace/claude-sessions/runs/\(folder).json")
        // The training writes one more line right after the pull, before the pod hashes its files.
        let wrappers = b.bed.root.appendingPathComponent("wrappers").path
        try FileManager.default.createDirectory(atPath: wrappers, withIntermediateDirectories: true)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let real = try ChildProcess.resolve("ssh", environment: ["PATH": path])
        try "#!/bin/sh\ncase \"$*\" in *ccpod-inventory*) printf 'step 2 loss 2.1\\n' >> '\(log)' ;; esac\nexec '\(real)' \"$@\"\n"
            .write(toFile: wrappers + "/ssh", atomically: true, encoding: .utf8)
        chmod(wrappers + "/ssh", 0o755)
        var env = b.env
        env["PATH"] = wrappers + ":" + path
        let binary = try #require(launchTestBinary)
        let out = try ChildProcess.run(binary, ["pod", "terminate", "gpu", "--yes", "--claude-dir", b.bed.localClaude, "--busy-seconds", "0"],
                                       environment: env)
        #expect(out.status == 1, "\(out.stderrText)")
        #expect(out.stderrText.contains("logs/train.log: changed on the pod since it was pulled"), "\(out.stderrText)")
        #expect(out.stderrText.contains("nothing was terminated"))
        #expect(b.fake.requests.allSatisfy { $0.method == "GET" })
        #expect(b.fake.pod("ccpodtest01")?.status == "RUNNING")
        // What was pulled is home: the first line.
        #expect(SyncTestBed.read(b.project + "/runs/train/logs/train.log") == Data("step 1 loss 2.3\n".utf8))
    }
}
