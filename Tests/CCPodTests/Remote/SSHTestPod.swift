import CCPodKit
import CCPodTestSupport
import Foundation

/// A loopback sshd plus temporary ccpod config/state dirs, for tests that go through real ssh.
final class SSHTestPod {
    let sshd: LoopbackSSHD
    let root: URL
    let locations: CCPodLocations
    let recorder = ExecRecorder()

    init(name: String = "gpu", behaviour: LoopbackSSHD.Behaviour = .init()) throws {
        sshd = try LoopbackSSHD(behaviour: behaviour)
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-t-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        locations = CCPodLocations(configDir: root.appendingPathComponent("config/ccpod"),
                                   stateDir: root.appendingPathComponent("state/ccpod"))
    }

    /// Settings that reach the sshd with the test client key, never reading ~/.ssh.
    func settings(name: String = "gpu", port: Int? = nil, identity: String? = nil) -> PodSettings {
        PodSettings(
            name: name,
            direct: SSHEndpoint(user: sshd.user, host: "127.0.0.1", port: port ?? sshd.port),
            identity: identity ?? sshd.clientKeyPath,
            paths: PodPaths(workspace: root.path),
            sshOptions: ["-F", "/dev/null"])
    }

    var environment: [String: String] {
        ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path]
    }

    static let acceptNew = HostKeyTrust(acceptNew: true, interactive: false, ask: { _ in false })
    static let nonInteractive = HostKeyTrust(acceptNew: false, interactive: false, ask: { _ in false })

    /// Adds the pod with --accept-new.
    @discardableResult
    func add(name: String = "gpu") throws -> PodSettings {
        let pod = settings(name: name)
        _ = try PodRegistry(locations: locations, recorder: recorder).add(pod, makeDefault: false, trust: Self.acceptNew)
        return pod
    }

    func connection(name: String = "gpu", environment extra: [String: String] = [:]) throws -> SSHConnection {
        let env = environment.merging(extra) { $1 }
        let resolved = try PodResolver.resolvePod(name: name, environment: env, locations: locations, recorder: recorder)
        return resolved.connection as! SSHConnection
    }

    deinit {
        // Close every master this test opened (one socket per port used), then the server.
        let cm = locations.stateDir.appendingPathComponent("cm").path
        for socket in (try? FileManager.default.contentsOfDirectory(atPath: cm)) ?? [] {
            _ = try? ChildProcess.run("ssh", ["-F", "/dev/null", "-o", "ControlPath=\(cm)/\(socket)", "-O", "exit", "placeholder"])
        }
        // A master removes its socket as it exits: wait, or removing the folder races with it.
        for _ in 0..<200 where !((try? FileManager.default.contentsOfDirectory(atPath: cm)) ?? []).isEmpty {
            usleep(10_000)
        }
        sshd.shutdown()
        if (try? FileManager.default.removeItem(at: root)) == nil {
            usleep(100_000)
            try? FileManager.default.removeItem(at: root)
        }
    }
}
