import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The peak memory of `ccpod artifacts pull` (the built binary, a child of the test)
/// against a real sshd whose forced command answers with a compressed listing that
/// inflates to 4 GiB. ccpod must refuse it as bad data and stay well under 100 MB.
///
/// The peak is the child's own VmHWM, read while it runs. wait4's ru_maxrss is not used
/// for the bound: a child spawned with vfork semantics carries the test process's peak
/// (hundreds of MB while other suites run) over its exec.
@Suite("Artifact listing bombs, measured")
struct ArtifactBombTests {
    @Test(.enabled(if: ChildProcess.exists("zstd") && ChildProcess.exists("sshd"), "zstd or sshd is not installed"),
          arguments: ["zeros", "warnings"])
    func aListingBombStaysWellUnderAHundredMegabytes(_ kind: String) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-bomb-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: root.appendingPathComponent("proj").path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let phase1 = try ArtifactBomb.listing(kind, gibibytes: 4)
        try phase1.write(to: root.appendingPathComponent("listing"))
        // The pod: the bomb, then (if ccpod ever asked) nothing more. `pod add`'s check
        // (`true`) is answered plainly: ccpod refuses a pod whose `true` prints without end.
        let pod = root.appendingPathComponent("pod.sh").path
        try "[ \"$SSH_ORIGINAL_COMMAND\" = true ] && exit 0\ncat '\(root.path)/listing'; while IFS= read -r l; do [ \"$l\" = END ] && break; done\n"
            .write(toFile: pod, atomically: true, encoding: .utf8)
        let sshd = try LoopbackSSHD(behaviour: .init(forceCommand: "/bin/sh \(pod)"))
        defer { sshd.shutdown() }
        let locations = CCPodLocations(configDir: root.appendingPathComponent("config/ccpod"),
                                       stateDir: root.appendingPathComponent("state/ccpod"))
        let settings = PodSettings(name: "gpu", direct: SSHEndpoint(user: sshd.user, host: "127.0.0.1", port: sshd.port),
                                   identity: sshd.clientKeyPath, paths: PodPaths(workspace: root.path), sshOptions: ["-F", "/dev/null"])
        _ = try PodRegistry(locations: locations, recorder: ExecRecorder()).add(settings, makeDefault: true, trust: SSHTestPod.acceptNew)
        defer {
            let cm = locations.stateDir.appendingPathComponent("cm").path
            for socket in (try? FileManager.default.contentsOfDirectory(atPath: cm)) ?? [] {
                _ = try? ChildProcess.run("ssh", ["-F", "/dev/null", "-o", "ControlPath=\(cm)/\(socket)", "-O", "exit", "placeholder"])
            }
        }

        let out = root.appendingPathComponent("out.txt").path, err = root.appendingPathComponent("err.txt").path
        let outFD = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o600), errFD = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(outFD); close(errFD) }
        let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                           "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                           "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        let started = Date()
        let child = try ChildProcess.spawn(InterruptionTests.binary,
                                           ["artifacts", "pull", "--from", "/workspace/runs/x", "--to", root.appendingPathComponent("out").path,
                                            "--pod", "gpu", "--project", root.appendingPathComponent("proj").path],
                                           environment: environment, stdin: .null, stdout: .fd(outFD), stderr: .fd(errFD))
        // ccpod's own peak (VmHWM only grows: the last reading before it exits is its peak).
        var own = 0
        var status: Int32 = 0
        while true {
            if let text = try? String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kib = Int(line.split(separator: " ").dropFirst().first ?? "") {
                own = max(own, kib * 1024)
            }
            let done = waitpid(child.pid, &status, WNOHANG)
            if done == child.pid || (done < 0 && errno != EINTR) { break }
            usleep(2_000)
        }
        let seconds = Date().timeIntervalSince(started)
        let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        print("artifacts: a \(phase1.count)-byte \(kind) listing bomb (4 GiB inflated): exit \((status >> 8) & 0xFF), ccpod's peak RSS \(own >> 20) MiB, \(String(format: "%.1f", seconds)) s")
        #expect(status & 0x7F == 0, "ccpod died of signal \(status & 0x7F)")
        #expect((status >> 8) & 0xFF == ExitStatus.badData.rawValue, "\(stderr)")
        #expect(stderr.contains("the pod gpu sent an invalid listing"), "\(stderr)")
        // Well under 100 MB: near what any command costs (about 35 MiB for a debug build).
        #expect(own > 0 && own < 64 << 20, "ccpod's peak RSS \(own >> 20) MiB")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("out").path))
    }
}
