import Foundation

/// The run directory an artifacts transfer works on, and the local folder it pairs with.
public struct ArtifactRun: Sendable, Equatable {
    /// The run's name (`./runs/<name>/` here by default).
    public var name: String
    /// The run directory on the pod (pod-absolute).
    public var podDirectory: String
    /// Where the name came from, said to the user ("latest run of this project", …).
    public var how: String

    /// Finds the run: an explicit pod folder, else the latest run named `runName`, else
    /// the latest run of the project. ccpod's own record of its deploys answers without
    /// an exec; the pod's registry is read (one small exec) only when that has nothing.
    public static func locate(projectRoot: String, runName: String?, podDirectory: String?,
                              connection: any PodConnection, podStateDir: URL) throws -> ArtifactRun {
        if let podDirectory {
            guard podDirectory.hasPrefix("/"), !podDirectory.split(separator: "/").contains("..") else {
                throw CCPodError.usage("the pod folder \"\(podDirectory)\" must be an absolute path without `..`, as in /workspace/runs/stage1_20261125-101500")
            }
            var dir = podDirectory
            while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
            let folder = URL(fileURLWithPath: dir).lastPathComponent
            let known = LocalRunRecords(podStateDir: podStateDir).load().first { $0.directory == dir }
            return ArtifactRun(name: known?.name ?? folder, podDirectory: dir, how: "as given")
        }
        let local = LocalRunRecords(podStateDir: podStateDir).load()
        if let runName {
            try RunName.validate(runName)
            let mine = local.filter { $0.name == runName }
            if let record = mine.filter({ $0.project == projectRoot }).latest ?? mine.latest {
                return ArtifactRun(name: record.name, podDirectory: record.directory, how: "latest run named \(runName)")
            }
            if let record = try PodRuns.records(connection: connection).filter({ $0.exists && $0.record.name == runName }).map(\.record).latest {
                return ArtifactRun(name: record.name, podDirectory: record.directory, how: "latest run named \(runName)")
            }
            throw CCPodError.usage("no run named \(runName) on \(connection.displayName); see `ccpod runs`")
        }
        if let record = local.filter({ $0.project == projectRoot }).latest {
            return ArtifactRun(name: record.name, podDirectory: record.directory, how: "latest run of this project")
        }
        if let record = try LatestRun.record(for: projectRoot, connection: connection) {
            return ArtifactRun(name: record.name, podDirectory: record.directory, how: "latest run of this project")
        }
        throw CCPodError.usage("this project has no run on \(connection.displayName): deploy one with `ccpod deploy`, or name it with --run NAME or a pod folder")
    }
}
