import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pod reached with the system `ssh` on its direct endpoint (an `SSHTarget`): strict
/// host key checking against the target's known_hosts file (keys stored under the pod's
/// name via `HostKeyAlias`, so a new port does not invalidate them), `BatchMode`,
/// timeouts, keepalives and a ControlMaster socket under the state dir named after the
/// target's `controlIdentity`.
public struct SSHConnection: PodConnection {
    public let target: SSHTarget
    public let locations: CCPodLocations
    public let paths: PodPaths
    /// Seconds before giving up on connecting.
    public var connectTimeout: Int
    /// Seconds an idle master connection stays up.
    public var controlPersist: Int
    /// `ssh` (looked up on PATH) or a path.
    public var sshExecutable: String
    /// Also told about every invocation (besides `ExecRecorder.shared`).
    public let recorder: ExecRecorder?
    /// Seconds without a byte from the pod before an exchange is given up.
    public var inactivityTimeout: TimeInterval

    /// A connection to `target`; `paths` are where things live on the pod.
    public init(
        target: SSHTarget, paths: PodPaths, locations: CCPodLocations,
        connectTimeout: Int = 10, controlPersist: Int = 300,
        sshExecutable: String = "ssh", recorder: ExecRecorder? = nil
    ) {
        self.target = target
        self.paths = paths
        self.locations = locations
        self.connectTimeout = connectTimeout
        self.controlPersist = controlPersist
        self.sshExecutable = sshExecutable
        self.recorder = recorder
        inactivityTimeout = PodProcess.inactivityTimeout()
    }

    /// `<state>/known_hosts/<pod>`.
    public static func knownHostsFile(pod: String, locations: CCPodLocations) -> URL {
        locations.stateDir.appendingPathComponent("known_hosts", isDirectory: true).appendingPathComponent(pod)
    }

    public var endpoint: SSHEndpoint { target.endpoint }
    /// The known_hosts file checked strictly for this pod.
    public var knownHostsFile: URL { target.knownHostsFile }
    /// The name the host key is stored under in `knownHostsFile`.
    public var hostKeyAlias: String { target.hostKeyAlias }
    public var displayName: String { target.name }
    public var rootPrefix: String { "" }

    /// The folder for control sockets: `<state>/cm`, or a private folder under /tmp
    /// when that path would be too long for a unix socket (about 104 bytes, and ssh
    /// adds a 17-byte suffix while it sets the socket up).
    public var controlDirectory: String {
        let preferred = locations.stateDir.appendingPathComponent("cm").path
        if preferred.utf8.count + 1 + SSHTarget.controlIdentityLength + 17 < 100 { return preferred }
        return SSHConnection.sharedControlDirectory
    }

    /// The fallback folder for control sockets when the state dir's path is too long.
    public static var sharedControlDirectory: String { "/tmp/ccpod-cm-\(getuid())" }

    /// The master's socket, named after the target's identity (pod, address, identity,
    /// options and pinned keys), not after ssh's `%C` (local host, remote host, port and
    /// user only): a second pod at the same address must not ride on the first one's
    /// authenticated master and skip its own pinned key.
    public var controlPath: String { controlDirectory + "/" + target.controlIdentity }

    /// The ssh options, without destination and command.
    /// - Parameters:
    ///   - batch: `BatchMode=yes` (never prompt).
    ///   - multiplex: use the ControlMaster socket.
    public func sshOptions(batch: Bool = true, multiplex: Bool = true) -> [String] {
        // ssh keeps the first value it sees for an option: the host key options come
        // first so nothing (not even ~/.ssh/config) can weaken them.
        var o: [String] = [
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=\(knownHostsFile.path)",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "HostKeyAlias=\(hostKeyAlias)",
            "-o", "CheckHostIP=no",
            "-o", "UpdateHostKeys=no",
        ]
        o += target.options
        // AES-GCM first: hardware-accelerated on x86-64 and Apple silicon, it costs ssh
        // and sshd about half the CPU of chacha20-poly1305 (ssh's default) per byte.
        // Options the pod's own ssh settings give come first and win.
        if let ciphers = Self.usableCiphers(for: sshExecutable, cache: DerivedValueCache(directory: locations.cacheDir)) {
            o += ["-o", "Ciphers=" + ciphers]
        }
        if let identity = target.identity {
            o += ["-i", (identity as NSString).expandingTildeInPath, "-o", "IdentitiesOnly=yes"]
        }
        o += [
            "-p", String(endpoint.port),
            "-o", "BatchMode=\(batch ? "yes" : "no")",
            "-o", "ConnectTimeout=\(connectTimeout)",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4",
            "-o", "LogLevel=ERROR",
        ]
        if multiplex {
            o += [
                "-o", "ControlMaster=auto",
                "-o", "ControlPath=\(controlPath)",
                "-o", "ControlPersist=\(controlPersist)",
            ]
        } else {
            o += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        }
        return o
    }

    /// The ciphers ccpod asks for, best first; all in OpenSSH since 6.5.
    public static let preferredCiphers = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"

    /// The preferred ciphers this machine's ssh knows (`ssh -Q cipher`, asked once per
    /// executable, and kept in `cache` while the executable stays the same): ssh refuses
    /// a whole list that names one it lacks (a FIPS build without chacha20-poly1305),
    /// even one an earlier option overrides. Nil: leave it to ssh.
    public static func usableCiphers(for executable: String, cache: DerivedValueCache? = nil) -> String? {
        if let known = cipherCache.withLock({ $0[executable] }) { return known }
        let ask = { () -> String? in
            guard let out = try? ChildProcess.run(executable, ["-Q", "cipher"]), out.status == 0 else { return nil }
            let known = Set(out.stdoutText.split(whereSeparator: \.isNewline).map(String.init))
            return preferredCiphers.split(separator: ",").map(String.init).filter(known.contains).joined(separator: ",")
        }
        let answer: String?
        if let cache, let identity = DerivedValueCache.executableIdentity(executable) {
            // What goes into `-o Ciphers=` is cipher names and commas, whatever the cache file says.
            answer = cache.value(for: "ssh -Q cipher\t\(identity)\t\(preferredCiphers)",
                                 isValid: { $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "@.,-".contains($0)) } },
                                 derive: ask)
        } else {
            answer = ask()
        }
        let usable = answer.flatMap { $0.isEmpty ? nil : $0 }
        cipherCache.withLock { $0[executable] = .some(usable) }
        return usable
    }

    private static let cipherCache = Locked<[String: String?]>([:])

    /// The destination argument.
    public var destination: String { "\(endpoint.user)@\(endpoint.host)" }

    /// `[ssh, options…, user@host, "--", command]`: no PTY, no escape character, stdin
    /// and stdout binary-safe. Records one exec.
    public func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        try prepareDirectories()
        recorder?.record(remoteCommand)
        ExecRecorder.shared.record(remoteCommand)
        return ([sshExecutable] + sshOptions() + ["-T", "-e", "none", destination, "--", remoteCommand], nil)
    }

    /// `[ssh, options…, -t, user@host, "--", command]` for an interactive program
    /// (a terminal on the pod; run it with the terminal inherited). Records one exec.
    public func interactiveInvocation(remoteCommand: String) throws -> [String] {
        try prepareDirectories()
        recorder?.record(remoteCommand)
        ExecRecorder.shared.record(remoteCommand)
        return [sshExecutable] + sshOptions() + ["-t", destination, "--", remoteCommand]
    }

    /// Creates the control socket folder and the known_hosts folder (0700).
    public func prepareDirectories() throws {
        let dir = controlDirectory
        if dir == SSHConnection.sharedControlDirectory {
            // A shared folder: it must be ours and private, not a symlink someone planted.
            if mkdir(dir, 0o700) != 0 && errno != EEXIST {
                throw CCPodError.io("cannot create \(dir): \(String(cString: strerror(errno)))")
            }
            guard let st = FileStat.of(dir, followSymlinks: false), st.isDirectory, st.uid == getuid(), st.permissions & 0o077 == 0 else {
                throw CCPodError.io("\(dir) is not a private folder owned by you; remove it and try again")
            }
        } else {
            try CCPodLocations.makePrivateDirectory(URL(fileURLWithPath: dir))
        }
        try CCPodLocations.makePrivateDirectory(knownHostsFile.deletingLastPathComponent())
    }

    /// Whether a master connection is up for this endpoint (`ssh -O check`; not counted as an exec).
    public func masterIsRunning() -> Bool {
        let args = sshOptions() + ["-O", "check", destination]
        return ((try? ChildProcess.run(sshExecutable, args))?.status ?? 1) == 0
    }

    /// Asks the master connection, if any, to exit (`ssh -O exit`; not counted as an exec).
    public func closeMaster() {
        let args = sshOptions() + ["-O", "exit", destination]
        _ = try? ChildProcess.run(sshExecutable, args)
    }

    /// Classifies a failed `ssh` call; nil when the remote command itself failed.
    /// Only status 255 is ssh's own; an empty stderr with 255 counts as a lost connection.
    public static func classify(status: Int32, stderr: String) -> SSHFailure? {
        guard status == 255 else { return nil }
        let s = stderr.lowercased()
        if s.contains("remote host identification has changed") || (s.contains("host key for") && s.contains("has changed")) {
            return .hostKeyChanged
        }
        if s.contains("host key is known for") || s.contains("no matching host key") || s.contains("host key verification failed") {
            return .hostKeyUnknown
        }
        if s.contains("permission denied") || s.contains("too many authentication failures") || s.contains("no more authentication methods") {
            return .authenticationRefused
        }
        if s.contains("connection refused") { return .connectionRefused }
        if s.contains("timed out") || s.contains("no route to host") || s.contains("network is unreachable")
            || s.contains("could not resolve hostname") || s.contains("name or service not known")
            || s.contains("nodename nor servname") || s.contains("temporary failure in name resolution") {
            return .unreachable
        }
        if s.contains("connection closed") || s.contains("connection reset") || s.contains("kex_exchange_identification")
            || s.contains("broken pipe") || s.contains("closed by remote host")
            || s.contains("master hello exchange failed") || s.contains("read from master failed")
            || s.contains("mux_client") || s.contains("muxclient") {
            return .connectionLost
        }
        // A master connection that dies under a multiplexed call makes the client exit
        // 255 without a word. (The pod-side agent never exits 255 silently.)
        if s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return .connectionLost }
        return nil
    }

    public func explainFailure(status: Int32, stderr: String) -> CCPodError? {
        guard let failure = SSHConnection.classify(status: status, stderr: stderr) else { return nil }
        var error = explain(failure, stderr: stderr)
        error.sshFailure = failure
        return error
    }

    /// A sentence for `failure` that names the endpoint and the fix.
    public func explain(_ failure: SSHFailure, stderr: String = "") -> CCPodError {
        let name = target.name
        let at = endpoint.description
        let detail = stderr.split(whereSeparator: \.isNewline).last.map { " (ssh: \($0.trimmingCharacters(in: .whitespaces)))" } ?? ""
        switch failure {
        case .authenticationRefused:
            let key = target.identity.map { "the key \($0)" } ?? "your SSH keys"
            return .unavailable("pod \(name) refused \(key) for \(endpoint.user) on \(at): add its public key to the pod's ~/.ssh/authorized_keys, or set the right one with --identity\(detail)")
        case .unreachable:
            return .unavailable("pod \(name) is unreachable on \(at): it may be stopped or the network is down; run `ccpod check --pod \(name)`\(detail)")
        case .connectionRefused:
            return .unavailable("pod \(name) refused the connection on \(at): the pod may have restarted on another port or stopped; run `ccpod check --pod \(name)` to find its new port (or set RUNPOD_PORT)\(detail)")
        case .hostKeyChanged:
            return .unavailable("the host key of pod \(name) changed (\(at)); ccpod refused to connect. A RunPod restart makes a new key; if you trust the pod, learn the new key with `ccpod pod trust \(name)` (the pinned key is in \(knownHostsFile.path))")
        case .hostKeyUnknown:
            return .unavailable("no host key is pinned for pod \(name) (\(at)) in \(knownHostsFile.path); learn it with `ccpod pod trust \(name)`")
        case .connectionLost:
            return .unavailable("the connection to pod \(name) on \(at) was closed before the command ran; try again, or run `ccpod check --pod \(name)`\(detail)")
        }
    }
}
