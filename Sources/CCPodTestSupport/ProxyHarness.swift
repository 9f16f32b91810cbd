import CCPodKit
import Foundation

/// A second loopback sshd that behaves like RunPod's basic SSH proxy: it refuses
/// clients without a PTY ("Your SSH client doesn't support PTY"), shows a banner
/// and a MOTD, then gives an interactive shell with a coloured prompt, echo and
/// `\r\n` line ends. The pod's environment file and host key file are paths in a
/// test folder (`podFolder`), never the machine's `/etc`.
public final class ProxyHarness: @unchecked Sendable {
    /// What the proxy does once a PTY session is open.
    public enum Mode: Sendable {
        /// An interactive shell (`bash -i` or `sh -i`) after a MOTD.
        case shell(String)
        /// The MOTD, then a pause (the proxy reaching the pod), then the shell.
        case slowShell(String, seconds: Int)
        /// Never answers: runs `sleep 600` (a proxy that never prints the marker).
        case silent
    }

    public let sshd: LoopbackSSHD
    /// A folder standing for the pod's files as seen from the proxy's shell.
    public let podFolder: URL
    /// Stands for `/etc/rp_environment`.
    public var environmentFile: String { podFolder.appendingPathComponent("rp_environment").path }
    /// Stands for `/etc/ssh/ssh_host_ed25519_key.pub`.
    public var hostKeyFile: String { podFolder.appendingPathComponent("ssh_host_ed25519_key.pub").path }
    /// `user@127.0.0.1`.
    public var target: String { "\(sshd.user)@127.0.0.1" }
    /// The pod paths to give `PodAddressProbe`.
    public var podPaths: PodPaths { PodPaths(environmentFile: environmentFile, hostKeyFile: hostKeyFile) }

    /// The message RunPod's proxy prints to clients that did not ask for a PTY.
    public static let noPTYMessage = "Your SSH client doesn't support PTY"

    public init(mode: Mode = .shell("bash")) throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("ccpod-proxy-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        podFolder = dir.appendingPathComponent("pod", isDirectory: true)
        try FileManager.default.createDirectory(at: podFolder, withIntermediateDirectories: true)
        let script = dir.appendingPathComponent("proxy-session.sh").path
        try ProxyHarness.script(mode: mode).write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        sshd = try LoopbackSSHD(
            behaviour: .init(forceCommand: script,
                             banner: "Welcome to the ccpod test proxy (stands for ssh.runpod.io)\n",
                             extraConfig: ["PrintMotd no", "PrintLastLog no"]),
            directory: dir.appendingPathComponent("sshd", isDirectory: true))
    }

    deinit { sshd.stop() }

    /// Stops the proxy and removes its folders.
    public func shutdown() {
        sshd.shutdown()
        try? FileManager.default.removeItem(at: podFolder.deletingLastPathComponent())
    }

    /// Options for `ssh` (after the program name) reaching the proxy with the test key.
    public func clientOptions(knownHosts: String) -> [String] {
        sshd.clientOptions(knownHosts: knownHosts)
    }

    /// A control channel to this proxy, trusting its current host key.
    public func controlChannel(timeout: Duration = .seconds(20)) throws -> ProxyControlChannel {
        let knownHosts = try sshd.writeKnownHosts()
        return ProxyControlChannel(ssh: ["/usr/bin/ssh"] + clientOptions(knownHosts: knownHosts),
                                   target: target, knownHostsFile: knownHosts, timeout: timeout)
    }

    static func script(mode: Mode) -> String {
        var lines = [
            "#!/bin/sh",
            "# ForceCommand of the test proxy: PTY clients only, like RunPod's proxy.",
            "if [ ! -t 0 ] || [ -z \"${SSH_TTY:-}\" ]; then",
            "  echo \"\(noPTYMessage)\"",
            "  echo \"\(noPTYMessage)\" >&2",
            "  exit 1",
            "fi",
        ]
        switch mode {
        case .silent:
            lines.append("exec sleep 600")
        case .shell(let shell), .slowShell(let shell, _):
            lines += [
                // A window title (OSC) and colours, as a real terminal session sends.
                "printf '\\033]0;root@pod: ~\\007'",
                "printf '\\033[1;34m%s\\033[0m\\n' ' RunPod test proxy -- an interactive shell only'",
                "printf '%s\\n' '  No scp, sftp, rsync or port forwarding here.' ''",
                "HISTFILE=/dev/null; export HISTFILE",
                { if case .slowShell(_, let seconds) = mode { return "sleep \(seconds)" } else { return ":" } }(),
                "PS1='\\[\\033[01;32m\\]root@pod\\[\\033[00m\\]:\\[\\033[01;34m\\]\\w\\[\\033[00m\\]# '",
                "export PS1",
                shell == "bash" ? "exec bash --noprofile --norc -i" : "PS1='root@pod:# '; export PS1; exec \(shell) -i",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A RunPod pod restart for tests: the direct sshd comes back on a new port with a
/// new host key, and the pod's environment file and host key file say so. What lives
/// outside the pod's `/workspace` in the test's layout (`containerDisk`: its Claude
/// dir, its bin dir) is wiped, as a restart wipes the container disk.
public struct PodRestartSimulation: Sendable {
    public let direct: LoopbackSSHD
    public let environmentFile: String
    public let hostKeyFile: String
    public let podId: String
    /// Folders standing for the pod's container disk, removed by `restart`.
    public let containerDisk: [String]

    /// Writes the pod's files for the direct sshd as it is now.
    public init(direct: LoopbackSSHD, environmentFile: String, hostKeyFile: String, podId: String = "ccpodtest01",
                containerDisk: [String] = []) throws {
        self.direct = direct
        self.environmentFile = environmentFile
        self.hostKeyFile = hostKeyFile
        self.podId = podId
        self.containerDisk = containerDisk
        try writePodFiles()
    }

    /// Uses the proxy harness's pod folder for the files.
    public init(direct: LoopbackSSHD, proxy: ProxyHarness, podId: String = "ccpodtest01", containerDisk: [String] = []) throws {
        try self.init(direct: direct, environmentFile: proxy.environmentFile, hostKeyFile: proxy.hostKeyFile, podId: podId,
                      containerDisk: containerDisk)
    }

    /// Restarts the pod: new port, new host key, the container disk wiped, rewritten files.
    public func restart() throws {
        try direct.restart(newHostKey: true)
        for folder in containerDisk where FileManager.default.fileExists(atPath: folder) {
            try FileManager.default.removeItem(atPath: folder)
        }
        try writePodFiles()
    }

    /// The environment file in the style of RunPod's: `export KEY="VALUE"` lines among others.
    public func writePodFiles() throws {
        let env = """
        export RUNPOD_GPU_COUNT="1"
        export RUNPOD_POD_ID="\(podId)"
        export RUNPOD_PUBLIC_IP="127.0.0.1"
        export RUNPOD_TCP_PORT_22="\(direct.port)"
        export RUNPOD_POD_HOSTNAME="\(podId)-64411eb2"
        export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

        """
        try env.write(toFile: environmentFile, atomically: true, encoding: .utf8)
        let key = (try String(contentsOfFile: direct.hostKeyPath + ".pub", encoding: .utf8))
        try key.write(toFile: hostKeyFile, atomically: true, encoding: .utf8)
    }
}
