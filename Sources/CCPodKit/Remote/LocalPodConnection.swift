import Foundation

/// A `local:/path` pod: the agent runs through a local `sh` against a folder that
/// stands for the pod's root (pod paths are prefixed with it).
public struct LocalPodConnection: PodConnection {
    public let root: String
    public let paths: PodPaths

    public init(root: String, paths: PodPaths = PodPaths()) {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.paths = paths
    }

    public var displayName: String { "local:\(root)" }
    public var rootPrefix: String { root == "/" ? "" : root }

    public func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        (["/bin/sh", "-c", remoteCommand], nil)
    }

    public func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}
