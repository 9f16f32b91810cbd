import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real OpenSSH server on 127.0.0.1 for tests and benchmarks: generated host and
/// client keys in a temporary folder, a free port, logging in as the current user.
///
/// `restart(newHostKey:)` behaves like a RunPod pod restart: a new port and, when
/// asked, a new host key. The machine's own `~/.ssh` is never read or written:
/// clients must use `clientOptions` (`-F /dev/null` and explicit files).
public final class LoopbackSSHD: @unchecked Sendable {
    /// What the server does with a session.
    public struct Behaviour: Sendable {
        /// `ForceCommand` for every session (e.g. a PTY-only proxy shell).
        public var forceCommand: String?
        /// Text shown before authentication (`Banner`).
        public var banner: String?
        /// Extra `sshd_config` lines.
        public var extraConfig: [String]

        public init(forceCommand: String? = nil, banner: String? = nil, extraConfig: [String] = []) {
            self.forceCommand = forceCommand
            self.banner = banner
            self.extraConfig = extraConfig
        }
    }

    public let directory: URL
    public private(set) var port: Int = 0
    public let user: String
    public let behaviour: Behaviour
    // Not Foundation.Process: on Linux its monitor thread blocks in waitpid() as soon as
    // sshd closes the inherited status socket (at startup), and every later Process
    // in the test run then waits forever (two servers in one test deadlock).
    private var process: ChildProcess?

    public var hostKeyPath: String { directory.appendingPathComponent("ssh_host_ed25519_key").path }
    public var clientKeyPath: String { directory.appendingPathComponent("client_ed25519").path }
    public var configPath: String { directory.appendingPathComponent("sshd_config").path }
    public var logPath: String { directory.appendingPathComponent("sshd.log").path }

    /// The public host key, as `ssh-ed25519 AAAA…` (no comment).
    public var hostPublicKey: String {
        let text = (try? String(contentsOfFile: hostKeyPath + ".pub", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// A `known_hosts` line for this server as it is now.
    public var knownHostsLine: String { "[127.0.0.1]:\(port) \(hostPublicKey)" }

    /// Creates keys and starts the server. `directory` defaults to a new temporary folder.
    public init(behaviour: Behaviour = Behaviour(), directory: URL? = nil) throws {
        self.behaviour = behaviour
        self.user = LoopbackSSHD.currentUser()
        let dir = directory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("ccpod-sshd-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        self.directory = dir
        try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ccpod-test-client", "-f", clientKeyPath])
        try FileManager.default.copyItem(atPath: clientKeyPath + ".pub",
                                         toPath: dir.appendingPathComponent("authorized_keys").path)
        try generateHostKey()
        try start()
    }

    deinit { stop() }

    /// Stops the server and removes its folder.
    public func shutdown() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A pod restart: stop, optionally regenerate the host key, start on a new port
    /// (or on the same one with `samePort`, as a server whose key was replaced in place).
    public func restart(newHostKey: Bool = true, samePort: Bool = false) throws {
        stop()
        if newHostKey {
            try? FileManager.default.removeItem(atPath: hostKeyPath)
            try? FileManager.default.removeItem(atPath: hostKeyPath + ".pub")
            try generateHostKey()
        }
        try start(port: samePort ? port : nil)
    }

    public func stop() {
        guard let process else { return }
        process.signal(SIGTERM)
        process.wait()
        self.process = nil
    }

    /// Options for `ssh` that reach this server with the test client key and a
    /// known_hosts file that trusts the current host key. Never reads `~/.ssh`.
    public func clientOptions(knownHosts: String) -> [String] {
        [
            "-F", "/dev/null",
            "-i", clientKeyPath,
            "-p", String(port),
            "-o", "IdentitiesOnly=yes",
            "-o", "UserKnownHostsFile=\(knownHosts)",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR",
        ]
    }

    /// Writes a known_hosts file trusting this server's current key and returns its path.
    @discardableResult
    public func writeKnownHosts(to path: String? = nil) throws -> String {
        let target = path ?? directory.appendingPathComponent("known_hosts").path
        try (knownHostsLine + "\n").write(toFile: target, atomically: true, encoding: .utf8)
        return target
    }

    // MARK: - Internals

    private func generateHostKey() throws {
        try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", hostKeyPath])
    }

    private func start(port fixed: Int? = nil) throws {
        if getuid() == 0 {
            // Privilege separation wants this folder when sshd runs as root.
            try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        }
        var lastError = ""
        for _ in 0..<5 {
            port = fixed ?? LoopbackSSHD.freePort()
            try writeConfig()
            let log = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard log >= 0 else { throw NSError(domain: "LoopbackSSHD", code: 2,
                                                userInfo: [NSLocalizedDescriptionKey: "cannot open \(logPath)"]) }
            let p = try ChildProcess.spawn(LoopbackSSHD.sshdPath, ["-D", "-e", "-f", configPath],
                                           stdin: .null, stdout: .fd(log), stderr: .fd(log))
            close(log)
            process = p
            if LoopbackSSHD.waitForListener(port: port, process: p) { return }
            lastError = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            stop()
        }
        throw NSError(domain: "LoopbackSSHD", code: 1,
                      userInfo: [NSLocalizedDescriptionKey: "sshd did not start: \(lastError)"])
    }

    private func writeConfig() throws {
        var lines = [
            "Port \(port)",
            "ListenAddress 127.0.0.1",
            "HostKey \(hostKeyPath)",
            "AuthorizedKeysFile \(directory.appendingPathComponent("authorized_keys").path)",
            "PidFile \(directory.appendingPathComponent("sshd.pid").path)",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "AllowUsers \(user)",
            "MaxSessions 50",
            "MaxStartups 100:30:200",
            "LogLevel ERROR",
            "AcceptEnv LANG LC_*",
            "Subsystem sftp internal-sftp",
        ]
        if let banner = behaviour.banner {
            let bannerPath = directory.appendingPathComponent("banner").path
            try banner.write(toFile: bannerPath, atomically: true, encoding: .utf8)
            lines.append("Banner \(bannerPath)")
        }
        lines.append(contentsOf: behaviour.extraConfig)
        if let force = behaviour.forceCommand {
            lines.append("ForceCommand \(force)")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    static var sshdPath: String {
        for candidate in ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/opt/homebrew/sbin/sshd"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "/usr/sbin/sshd"
    }

    /// Whether an OpenSSH server is installed here (tests skip with a message otherwise).
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: sshdPath) }

    static func currentUser() -> String {
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "root"
    }

    static func run(_ tool: String, _ args: [String]) throws {
        let r = try ChildProcess.run(tool, args)
        if r.status != 0 {
            throw NSError(domain: "LoopbackSSHD", code: Int(r.status),
                          userInfo: [NSLocalizedDescriptionKey: "\(tool) \(args.joined(separator: " ")) failed: \(r.stderrText)"])
        }
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Waits up to 5 s for something to accept connections on the port.
    static func waitForListener(port: Int, process: ChildProcess) -> Bool {
        for _ in 0..<100 {
            // sshd exiting early (bad config, port taken): a zombie answers kill(pid, 0), so peek with waitid.
            var info = siginfo_t()
            if waitid(P_PID, id_t(process.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 {
                #if canImport(Glibc)
                if info._sifields._sigchld.si_pid == process.pid { return false }
                #else
                if info.si_pid == process.pid { return false }
                #endif
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if rc == 0 { return true }
            usleep(50_000)
        }
        return false
    }
}
