import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod pods`: every configured pod at a glance, all asked at once.
struct PodsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pods",
        abstract: "Every configured pod: reachable, RunPod status and $/h, Claude version, setup, runs, sessions, last sync, unsynced.",
        discussion: """
        Asks every pod at the same time: RunPod's API when the pod has a RunPod id and a \
        key is present (a stopped pod is not reached over ssh), then three execs over ssh: \
        setup's status (Claude's version, what setup would repair, tmux), the runs \
        registry, and one status exchange of every project's sessions (as `ccpod status \
        --all`). A pod that cannot be reached is shown as such; the exit status is 0.
        """)

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    @OptionGroup var claude: ClaudeDirOption

    @Flag(name: .customLong("no-wait"), help: "When another ccpod is working with a pod or this Claude dir, exit 75 at once instead of waiting for it.")
    var noWait = false

    func run() throws {
        let claudeDir = try claude.resolve()
        let config = try CCPodConfig.load(from: CLIContext.locations)
        let names = config.pods.keys.sorted()
        guard !names.isEmpty else { throw CCPodError.usage("no pod is configured: add one with `ccpod pod add`") }
        let locks = try OperationLock.acquire([.claudeDir(claudeDir.path)] + names.map { .pod($0) }, stateDir: CLIContext.locations.stateDir,
                                              purpose: "looking at every pod", wait: !noWait) { Console.note($0) }
        defer { locks.forEach { $0.release() } }
        let environment = CLIContext.environment
        let arguments = ["--json", "--config", "none", "--claude-dir", claudeDir.path, "--all"]
        let pods = ParallelPods.map(names) { name in
            CLIContext.$environment.withValue(environment) {
                CLIContext.$interactiveOverride.withValue(false) { Self.look(config.pods[name]!, arguments: arguments) }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            Console.out(String(decoding: try encoder.encode(pods), as: UTF8.self) + "\n")
        } else {
            Console.out(Self.table(pods))
            for pod in pods where pod.error != nil { Console.note("\(pod.name): \(pod.error!)") }
        }
    }

    /// One pod: RunPod first (a stopped pod is not dialled), then setup, runs and status.
    static func look(_ settings: PodSettings, arguments: [String]) -> PodOverview {
        var view = PodOverview(name: settings.name, address: settings.direct?.description, reachable: false)
        if settings.runpodId != nil, (try? settings.apiKey(environment: CLIContext.environment)) ?? nil != nil {
            do {
                let (api, id) = try RunPodAPI.forPod(settings, environment: CLIContext.environment, what: "`ccpod pods`")
                let state = try api.pod(id: id)
                view.runpodStatus = state.status
                view.costPerHour = state.costPerHour
                if !state.isRunning {
                    view.error = "RunPod says \(state.status): `ccpod pod start \(settings.name)`"
                    return view
                }
            } catch let error as CCPodError {
                view.error = "RunPod: \(error.message)"
            } catch {
                view.error = "RunPod: \(error)"
            }
        }
        let stateDir = CLIContext.locations.podStateDir(podName: settings.name)
        let ancestors = stateDir.appendingPathComponent("ancestors.tsv")
        view.lastSync = (try? FileManager.default.attributesOfItem(atPath: ancestors.path))?[.modificationDate] as? Date
        let answer = SessionsEverywhereRun.ask(settings.name, arguments: arguments)
        guard let report = answer.report else {
            view.error = answer.error
            return view
        }
        view.reachable = true
        view.count(report)
        do {
            let resolved = try PodResolver.resolvePod(name: settings.name, environment: CLIContext.environment, locations: CLIContext.locations)
            let setup = try PodSetup(connection: resolved.connection, runtime: settings.runtime).run(mode: .status)
            view.claudeVersion = setup.claudeVersion
            view.setupIssues = setup.steps.filter { $0.state != .ok }.map { "\($0.name): \($0.detail)" }
            view.tmuxSessions = setup.tmuxSessions.map(\.name)
            view.runs = try PodRuns.records(connection: resolved.connection).filter(\.exists).count
        } catch let error as CCPodError {
            view.error = error.message
        } catch {
            view.error = "\(error)"
        }
        return view
    }

    static func table(_ pods: [PodOverview]) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        var rows = [["POD", "REACHABLE", "RUNPOD", "$/H", "CLAUDE", "SETUP", "RUNS", "SESSIONS", "LIVE", "LAST SYNC", "UNSYNCED"]]
        for p in pods {
            let unsynced = (p.unsynced ?? [:]).sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            rows.append([
                p.name, p.reachable ? "yes" : "no", p.runpodStatus ?? "-", p.costPerHour.map { String(format: "%.2f", $0) } ?? "-",
                p.claudeVersion ?? "-", p.setupIssues.map { $0.isEmpty ? "ok" : "\($0.count) to repair" } ?? "-",
                p.runs.map(String.init) ?? "-", p.sessions.map(String.init) ?? "-", p.liveSessions.map(String.init) ?? "-",
                p.lastSync.map { formatter.string(from: $0) } ?? "never",
                p.unsynced == nil ? "-" : (unsynced.isEmpty ? "none" : unsynced + " (" + SyncRendering.byteCount(p.unsyncedBytes ?? 0) + ")"),
            ])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }
}
