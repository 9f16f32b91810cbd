import Foundation

/// A `local:/path` pod: a folder that stands for the pod's root, driven by a local `sh`.
/// Pod paths are the defaults, prefixed with the folder by the agent.
public struct LocalConnection: PodConnection {
    /// The folder that stands for the pod's root (absolute, no trailing slash).
    public let root: String
    public let paths: PodPaths
    public let recorder: ExecRecorder?
    /// Seconds without a byte from the pod before an exchange is given up.
    public var inactivityTimeout: TimeInterval = PodProcess.inactivityTimeout()

    public init(root: String, paths: PodPaths = PodPaths(), recorder: ExecRecorder? = nil) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        self.paths = paths
        self.recorder = recorder
    }

    /// Parses `local:/path` (a relative path is taken from the current directory).
    public static func parse(_ spec: String, recorder: ExecRecorder? = nil) throws -> LocalConnection {
        guard spec.hasPrefix("local:") else { throw CCPodError.usage("\"\(spec)\" is not a local:/path pod") }
        let path = String(spec.dropFirst("local:".count))
        guard !path.isEmpty else { throw CCPodError.usage("local: needs a folder, as in local:/tmp/pod") }
        let absolute = path.hasPrefix("/") ? path
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
        return LocalConnection(root: absolute, recorder: recorder)
    }

    public var displayName: String { "local:\(root)" }
    public var rootPrefix: String { root == "/" ? "" : root }

    public func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        recorder?.record(remoteCommand)
        ExecRecorder.shared.record(remoteCommand)
        // No ssh between ccpod and this pod: the agent must not take the ssh session
        // ccpod itself may run in for its link (agent.sh: a pull's compression).
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "SSH_CONNECTION")
        return (["/bin/sh", "-c", remoteCommand], environment)
    }

    public func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}
