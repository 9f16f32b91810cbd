import Foundation

/// The paths ccpod uses on a pod (pod-absolute; for `local:` pods they are
/// prefixed with the folder that stands for the pod's root).
public struct PodPaths: Sendable, Equatable, Codable {
    /// Claude Code's config dir on the pod.
    public var claudeDir: String
    /// Where ccpod keeps what must survive a restart.
    public var persistentDir: String
    /// The persistent workspace.
    public var workspace: String
    /// The RunPod environment file (direct IP and port of the pod).
    public var environmentFile: String
    /// The pod's current SSH host key.
    public var hostKeyFile: String

    public init(
        claudeDir: String = "/root/.claude",
        persistentDir: String = "/workspace/claude-sessions",
        workspace: String = "/workspace",
        environmentFile: String = "/etc/rp_environment",
        hostKeyFile: String = "/etc/ssh/ssh_host_ed25519_key.pub"
    ) {
        self.claudeDir = claudeDir
        self.persistentDir = persistentDir
        self.workspace = workspace
        self.environmentFile = environmentFile
        self.hostKeyFile = hostKeyFile
    }
}

/// A way to run the pod-side agent with binary-safe stdin and stdout: over SSH,
/// or through a local `sh` for `local:` pods. One call = one process = one exec.
public protocol PodConnection: Sendable {
    /// How the pod is named to the user (`gpu1`, `local:/tmp/pod`).
    var displayName: String { get }
    /// The pod's paths.
    var paths: PodPaths { get }
    /// A folder prepended to every pod path by the agent ("" on a real pod).
    var rootPrefix: String { get }
    /// The argv (and environment, nil = ccpod's own) that runs `remoteCommand`,
    /// a POSIX `sh` command line, on the pod.
    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?)
    /// Turns a failed call (exit status and stderr of the local process) into an
    /// error a user can act on, or nil when the remote command itself failed.
    func explainFailure(status: Int32, stderr: String) -> CCPodError?
    /// Seconds without a byte from the pod before an exchange is given up (see `PodProcess`).
    var inactivityTimeout: TimeInterval { get }
}

extension PodConnection {
    /// `CCPOD_TIMEOUT` when set, else 60 s.
    public var inactivityTimeout: TimeInterval { PodProcess.inactivityTimeout() }

    /// This connection with another inactivity timeout (the `--timeout` flag). Only
    /// ccpod's own connections can carry one; others are returned as they are.
    public func withInactivityTimeout(_ seconds: TimeInterval) -> any PodConnection {
        if var ssh = self as? SSHConnection {
            ssh.inactivityTimeout = seconds
            return ssh
        }
        if var local = self as? LocalConnection {
            local.inactivityTimeout = seconds
            return local
        }
        return self
    }
}
