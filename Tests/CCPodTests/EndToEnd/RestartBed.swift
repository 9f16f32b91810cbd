@testable import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A laptop and a loopback pod that restarts as a RunPod pod does: a new port, a new
/// host key, every process on it gone (its ssh sessions, its tmux server) and its
/// container disk wiped (the Claude dir and the bin dir of the test's layout, which
/// stand for `/root/.claude` and `/usr/local/bin`); only `workspace/` (the persistent
/// volume) is kept. With a proxy, the pod's files tell the proxy's shell where it went.
/// Commands run in-process, never touching the machine's own `~/.claude` or `~/.ssh`.
final class RestartBed {
    let t: SSHTestPod
    let proxy: ProxyHarness?
    let simulation: PodRestartSimulation
    let env: [String: String]
    let tmuxSocket = "ccpod-r-\(UUID().uuidString.prefix(8).lowercased())"
    let sid = "7e57a11a-0000-4000-8000-00000000000b"

    let podDir: String
    var claudeDir: String { podDir + "/root/.claude" }
    var persistentDir: String { podDir + "/workspace/claude-sessions" }
    var workspace: String { podDir + "/workspace" }
    var binDir: String { podDir + "/usr/local/bin" }
    let laptop: String
    var localClaude: String { laptop + "/.claude" }
    var project: String { laptop + "/project" }
    var slug: String { ProjectSlug.forDirectory(URL(fileURLWithPath: project)) }
    var localTranscript: String { "\(localClaude)/projects/\(slug)/\(sid).jsonl" }
    /// Where the pod keeps the transcript: the persistent dir (the Claude dir links to it once set up).
    var podTranscript: String { "\(persistentDir)/projects/\(slug)/\(sid).jsonl" }

    /// `withProxy` false: nothing can find the pod again after a restart (no proxy, no
    /// RunPod id, and the commands run without a terminal).
    init(withProxy: Bool = true) throws {
        let t = try SSHTestPod()
        self.t = t
        podDir = t.root.path + "/pod"
        laptop = t.root.path + "/laptop"
        let bin = podDir + "/usr/local/bin"
        for dir in [laptop + "/.claude", laptop + "/project", podDir + "/workspace"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        var settings = t.settings()
        settings.paths = PodPaths(claudeDir: podDir + "/root/.claude", persistentDir: podDir + "/workspace/claude-sessions",
                                  workspace: podDir + "/workspace")
        // A stand-in Claude Code, "installed" into the bin dir the restart wipes.
        let install = "mkdir -p \(bin) && printf '#!/bin/sh\\necho 2.1.999 stand-in\\n' > \(bin)/claude && chmod 755 \(bin)/claude"
        settings.runtime = PodRuntime(installCommand: install, binDir: bin, tmux: "tmux", tmuxSocket: tmuxSocket)
        _ = try PodRegistry(locations: t.locations, recorder: t.recorder).add(settings, makeDefault: true, trust: SSHTestPod.acceptNew)
        let disk = [podDir + "/root", podDir + "/usr"]
        if withProxy {
            let proxy = try ProxyHarness()
            try Self.addProxy(proxy, pod: "gpu", clientKey: t.sshd.clientKeyPath, locations: t.locations)
            self.proxy = proxy
            simulation = try PodRestartSimulation(direct: t.sshd, proxy: proxy, containerDisk: disk)
        } else {
            proxy = nil
            let files = t.root.appendingPathComponent("pod-files").path
            try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
            simulation = try PodRestartSimulation(direct: t.sshd, environmentFile: files + "/rp_environment",
                                                  hostKeyFile: files + "/host_key.pub", containerDisk: disk)
        }
        env = t.environment.merging([
            "XDG_CONFIG_HOME": t.locations.configDir.deletingLastPathComponent().path,
            "XDG_STATE_HOME": t.locations.stateDir.deletingLastPathComponent().path,
        ]) { $1 }
    }

    /// Gives the configured pod `pod` the proxy `proxy` (which accepts `clientKey`), with
    /// the pod's files where the proxy's shell reads them and the proxy's key pinned.
    static func addProxy(_ proxy: ProxyHarness, pod: String, clientKey: String, locations: CCPodLocations) throws {
        let authorized = proxy.sshd.directory.appendingPathComponent("authorized_keys")
        let key = try String(contentsOfFile: clientKey + ".pub", encoding: .utf8)
        try (String(contentsOf: authorized, encoding: .utf8) + key).write(to: authorized, atomically: true, encoding: .utf8)
        var config = try CCPodConfig.load(from: locations)
        guard var settings = config.pods[pod] else { throw CCPodError.usage("no pod \(pod) in the test config") }
        settings.proxy = SSHEndpoint(user: proxy.sshd.user, host: "127.0.0.1", port: proxy.sshd.port)
        settings.paths.environmentFile = proxy.environmentFile
        settings.paths.hostKeyFile = proxy.hostKeyFile
        config.pods[pod] = settings
        try config.save(to: locations)
        let proxyKey = try #require(HostKey(publicKeyLine: proxy.sshd.hostPublicKey))
        try PodKnownHosts(file: PodProxy.pinnedFile(pod: pod, locations: locations), alias: "[127.0.0.1]:\(proxy.sshd.port)")
            .pin([proxyKey])
    }

    /// Old ports, bound and never listening: a connection there is refused, as on a
    /// restarted pod, and no other test's server can take the port meanwhile.
    private var heldPorts: [Int32] = []

    deinit {
        for fd in heldPorts { close(fd) }
        _ = try? ChildProcess.run("tmux", ["-L", tmuxSocket, "kill-server"])
        proxy?.shutdown()
    }

    /// Runs a command in-process, without a terminal.
    func run(_ args: [String]) throws {
        try CLIContext.$interactiveOverride.withValue(false) {
            try CLIContext.$environment.withValue(env) {
                var command = try CCPodCommand.parseAsRoot(args)
                try command.run()
            }
        }
    }

    /// The exit status a command ends with (0 when it returns).
    func status(_ args: [String]) -> (status: Int32, message: String) {
        do {
            try run(args)
            return (0, "")
        } catch let error as CCPodError {
            return (error.status.rawValue, error.message)
        } catch {
            return (-1, "\(error)")
        }
    }

    /// `--claude-dir` and `--project` of the sync family.
    var here: [String] { ["--claude-dir", localClaude, "--project", project] }

    /// The restart: the ssh master (the laptop's end of a connection the restart cut)
    /// closed, the pod's tmux server killed, the sshd back on a new port with a new key,
    /// the container disk wiped.
    func restart() throws {
        try t.connection().closeMaster()
        _ = try? ChildProcess.run("tmux", ["-L", tmuxSocket, "kill-server"])
        let old = t.sshd.port
        // The old port is held from the moment the server stops (see `heldPorts`).
        t.sshd.stop()
        hold(port: old)
        try simulation.restart()
        #expect(t.sshd.port != old)
        #expect(!FileManager.default.fileExists(atPath: claudeDir))
    }

    private func hold(port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        // The stopped sshd's connections linger in TIME_WAIT: without SO_REUSEADDR the
        // bind fails and the port is free for another test's listener to take.
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { heldPorts.append(fd) } else { close(fd) }
    }

    /// ccpod found the pod again: the config has its new port, its new key is pinned.
    func expectRecovered(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let config = try CCPodConfig.load(from: t.locations)
        #expect(config.pods["gpu"]?.direct?.port == t.sshd.port, sourceLocation: sourceLocation)
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().map(\.line) == [t.sshd.hostPublicKey],
                sourceLocation: sourceLocation)
    }

    /// The Claude dir's projects folder is the link into the persistent dir again.
    var layoutInPlace: Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: claudeDir + "/projects")) == persistentDir + "/projects"
    }

    /// `setup`, then this project's session (`lines` lines) pushed: a pod in use.
    func setUpAndPush(lines: Int = 5) throws {
        try run(["setup", "--json"])
        #expect(layoutInPlace)
        try SyncTestBed.write(SyncTestBed.lines(session: sid, count: lines), to: localTranscript)
        try run(["push", "--busy-seconds", "0", "--json"] + here)
        #expect(SyncTestBed.read(podTranscript) == SyncTestBed.read(localTranscript))
    }
}
