import Foundation

/// A run as `ccpod runs` shows it.
public struct RunInfo: Sendable, Codable, Equatable {
    public var record: RunRecord
    /// Whether the run's folder still exists on the pod.
    public var exists: Bool
    /// Size on disk of the run folder (`du -sk`), nil when it is gone.
    public var kilobytes: Int64?
    /// tmux sessions with a pane whose current directory is inside the run folder.
    public var tmuxSessions: [String]
    /// Claude Code sessions (`*.jsonl`) in the project folder of the run's `code/`.
    public var claudeSessions: Int
}

/// Reading the runs registry of a pod (one exec each).
public enum PodRuns {
    /// The registry's records, each with whether its folder exists. One exec, no `du`.
    public static func records(connection: any PodConnection) throws -> [(record: RunRecord, exists: Bool)] {
        let paths = connection.paths
        let command = DeployScript.remoteCommand("records", [connection.rootPrefix, paths.workspace, paths.persistentDir])
        let out = try connection.runCommand(command)
        guard out.status == 0 else {
            throw CCPodError.unavailable("cannot read the runs registry on \(connection.displayName): \(DeployScript.reason(out.stderrText))")
        }
        let parsed = parse(out.stdoutText)
        return parsed.records.map { ($0, parsed.existing.contains($0.folder)) }
    }

    /// Every run with its size, tmux sessions and Claude sessions. One exec.
    public static func list(connection: any PodConnection) throws -> [RunInfo] {
        let paths = connection.paths
        let command = DeployScript.remoteCommand("list", [connection.rootPrefix, paths.workspace, paths.persistentDir, paths.claudeDir])
        let out = try connection.runCommand(command)
        guard out.status == 0 else {
            throw CCPodError.unavailable("cannot list the runs on \(connection.displayName): \(DeployScript.reason(out.stderrText))")
        }
        let parsed = parse(out.stdoutText)
        return parsed.records.map { record in
            // tmux reports real paths: on a local: pod they carry its root.
            let runDir = connection.rootPrefix + record.directory
            let sessions = parsed.panes.filter { $0.path == runDir || $0.path.hasPrefix(runDir + "/") }.map(\.session)
            return RunInfo(
                record: record,
                exists: parsed.existing.contains(record.folder),
                kilobytes: parsed.sizes[record.folder],
                tmuxSessions: Array(Set(sessions)).sorted(),
                claudeSessions: parsed.projects[ProjectSlug.of(record.codePath)] ?? 0)
        }
        .sorted { ($0.record.created, $0.record.folder) < ($1.record.created, $1.record.folder) }
    }

    struct Parsed {
        var records: [RunRecord] = []
        var existing: Set<String> = []
        var sizes: [String: Int64] = [:]
        var panes: [(session: String, path: String)] = []
        var projects: [String: Int] = [:]
    }

    /// Parses the script's answer. A record that does not decode is skipped: the
    /// registry is plain files on the pod, and one bad file must not hide the others.
    static func parse(_ text: String) -> Parsed {
        var p = Parsed()
        let decoder = JSONDecoder()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 2 else { continue }
            switch fields[0] {
            case "J":
                let json = fields.dropFirst().joined(separator: "\t")
                if let record = try? decoder.decode(RunRecord.self, from: Data(json.utf8)),
                   (try? RunName.validate(record.name)) != nil, !record.folder.contains("/"),
                   record.directory.hasPrefix("/"), !record.directory.split(separator: "/").contains("..") {
                    p.records.append(record)
                }
            case "E": p.existing.insert(fields[1])
            case "K" where fields.count == 3: p.sizes[fields[1]] = Int64(fields[2]).flatMap { $0 >= 0 && $0 <= Int64.max / 1024 ? $0 : nil }
            case "T" where fields.count == 3: p.panes.append((fields[1], fields[2]))
            case "P" where fields.count == 3: p.projects[fields[1]] = Int(fields[2]) ?? 0
            default: continue
            }
        }
        return p
    }
}

/// The code folder of a project's latest run: the default pod path after `--pod-path`
/// and `.ccpod.toml` (for push, pull, sync, status and launch).
public enum LatestRun {
    /// The record of `projectRoot`'s most recently deployed run whose folder still exists.
    public static func record(for projectRoot: String, connection: any PodConnection) throws -> RunRecord? {
        try PodRuns.records(connection: connection)
            .filter { $0.exists && $0.record.project == projectRoot }
            .map(\.record)
            .latest
    }

    /// The latest run of `projectRoot` that this machine deployed to the pod, from ccpod's
    /// local record of its deploys: no exec, so a push or sync stays one exchange. Runs
    /// deployed from elsewhere are not seen here; `--pod-path` or `.ccpod.toml` name them.
    public static func record(for projectRoot: String, connection: any PodConnection, stateDir: URL) throws -> RunRecord? {
        LocalRunRecords(podStateDir: stateDir).load().filter { $0.project == projectRoot }.latest
    }

    /// `<workspace>/runs/<run>/code` of `project`'s latest run on the pod (pod-absolute),
    /// or nil when the project has no run there. Costs one small exec (it reads the
    /// registry files only, no `du`).
    public static func podPath(for project: ProjectContext, connection: any PodConnection) throws -> String? {
        try record(for: project.root, connection: connection)?.codePath
    }
}
