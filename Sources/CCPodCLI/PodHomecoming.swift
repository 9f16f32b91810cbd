import ArgumentParser
import CCPodKit
import Foundation

/// What `pod stop`, `pod terminate` and `clean` share: bring a pod's sessions (and
/// runs' outputs) home, then say what would stay only on the pod, or verify by hash
/// that nothing would. The caller holds the pod's and the Claude dir's locks.
struct PodHomecoming {
    /// A run whose outputs come home: where on the pod, where here.
    struct Run {
        var name: String
        var podDirectory: String
        var localDirectory: String
    }

    let claudeDir: URL
    let stateDir: URL
    var pod: ResolvedPod
    let access: PodAccess

    init(pod: ResolvedPod, claudeDir: URL) {
        self.pod = pod
        self.claudeDir = claudeDir
        self.stateDir = CLIContext.locations.podStateDir(podName: pod.name)
        self.access = CLIContext.podAccess()
    }

    /// Every session of the pod home, in one exchange (`ccpod pull --all`); a pod that
    /// restarted is found again once.
    mutating func pullSessions(busySeconds: Int) throws -> SyncReport {
        let scope = SyncScope(projects: MappingMemory(stateDir: stateDir).load(), all: true)
        let archived = try ArchiveIndex.load(stateDir: CLIContext.locations.stateDir).ids(claudeDir: claudeDir)
        let options = SyncOptions(direction: .pull, busySeconds: busySeconds, archivedSessions: archived)
        let claude = claudeDir.path, state = stateDir
        let report = try access.withRecovery(&pod) {
            try SyncEngine(claudeDir: claude, connection: $0.connection, stateDir: state).run(scope: scope, options: options)
        }
        Console.note("sessions home: " + SyncRendering.summary(report))
        for warning in report.warnings { Console.note("warning: \(warning)") }
        return report
    }

    /// The runs this machine deployed to the pod (no exec).
    func deployedRuns() -> [Run] {
        LocalRunRecords(podStateDir: stateDir).load().map {
            Run(name: $0.name, podDirectory: $0.directory, localDirectory: $0.project + "/runs/" + $0.name)
        }
    }

    /// Every run in the pod's registry (one exec), or those named; each pulled into
    /// `./runs/<run>/` of the project it was deployed from when that is here, else of
    /// the current project.
    func podRuns(named: [String]) throws -> [Run] {
        let records = try PodRuns.records(connection: pod.connection).filter(\.exists).map(\.record)
        for name in named where !records.contains(where: { $0.name == name }) {
            throw CCPodError.usage("no run named \(name) on \(pod.name); see `ccpod runs --pod \(pod.name)`")
        }
        let here = try ProjectContext.locate(directory: FileManager.default.currentDirectoryPath).root
        var isDir: ObjCBool = false
        return records.filter { named.isEmpty || named.contains($0.name) }.map { record in
            let project = FileManager.default.fileExists(atPath: record.project, isDirectory: &isDir) && isDir.boolValue ? record.project : here
            return Run(name: record.name, podDirectory: record.directory, localDirectory: project + "/runs/" + record.name)
        }
    }

    /// What a pull of each run's outputs would still bring (a dry run each; runs gone
    /// from the pod are left out).
    func pendingArtifacts(_ runs: [Run]) throws -> [PodLeftover] {
        var leftovers: [PodLeftover] = []
        for run in runs {
            let report: ArtifactReport
            do {
                report = try transfer(run, dryRun: true)
            } catch let error as CCPodError where error.status == .usage {
                continue
            }
            leftovers += PodLeftovers.artifacts(run: run.name, report)
        }
        return leftovers
    }

    /// Pulls each run's outputs home.
    func pullArtifacts(_ runs: [Run]) throws {
        for run in runs {
            let report = try transfer(run, dryRun: false)
            Console.note("\(run.name) → \(run.localDirectory): " + ArtifactsRendering.summary(report))
            if report.failures > 0 || report.conflicts > 0 || report.interrupted {
                throw CCPodError.failure("the outputs of run \(run.name) did not all come home (\(report.failures) failed, "
                                         + "\(report.conflicts) differ here); nothing was removed from the pod")
            }
        }
    }

    private func transfer(_ run: Run, dryRun: Bool) throws -> ArtifactReport {
        let request = ArtifactRequest(direction: .pull, podDirectory: run.podDirectory, localDirectory: run.localDirectory,
                                      selection: ArtifactSelection(), dryRun: dryRun, force: false, compression: nil)
        return try ArtifactTransfer(connection: pod.connection, request: request, podStateDir: stateDir).run()
    }

    /// The pod's hashes (one exec) against what came home.
    func verify(runs: [Run], history: Bool = true) throws -> (PodHomeVerification, PodInventory) {
        let inventory = try PodInventory.read(connection: pod.connection, history: history, runDirectories: runs.map(\.podDirectory))
        var verification = PodHomeVerification()
        let store = try AncestorStore(file: stateDir.appendingPathComponent("ancestors.tsv"))
        let localHistory = FileManager.default.contents(atPath: claudeDir.appendingPathComponent(HistoryLog.path).path)
        // An archived session is home too: its archive holds every file, by size and SHA-256.
        var archived: [String: ArchivedFile] = [:]
        for entry in try ArchiveIndex.load(stateDir: CLIContext.locations.stateDir).sessions(claudeDir: claudeDir) where entry.state == .archived {
            for file in entry.files { archived[claudeDir.path + "/" + file.path] = file }
        }
        let inArchive = archived
        verification.checkSessions(inventory, store: store, localClaudeDir: claudeDir.path, localHistory: localHistory) { path, length in
            if let here = PodHomeVerification.hashLocalFile(path, length) { return here }
            guard let file = inArchive[path], file.size == length else { return nil }
            return file.sha256
        }
        for run in runs {
            let state = ArtifactStateStore(podStateDir: stateDir, podDirectory: run.podDirectory, localDirectory: run.localDirectory).load()
            verification.checkRun(podDirectory: run.podDirectory, files: inventory.runs[run.podDirectory], state: state,
                                  localDirectory: run.localDirectory)
        }
        return (verification, inventory)
    }

    /// Lines naming what is not safe (at most 20, then how many more).
    static func list(_ problems: [PodHomeVerification.Problem]) -> String {
        var lines = problems.prefix(20).map { "  \($0.path): \($0.why)" }
        if problems.count > 20 { lines.append("  … and \(problems.count - 20) more") }
        return lines.joined(separator: "\n")
    }

    static func list(_ leftovers: [PodLeftover]) -> String {
        var lines = leftovers.prefix(20).map { "  \($0.kind.rawValue) \($0.what): \($0.why)" }
        if leftovers.count > 20 { lines.append("  … and \(leftovers.count - 20) more") }
        return lines.joined(separator: "\n")
    }
}
