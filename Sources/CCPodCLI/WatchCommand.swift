import ArgumentParser
import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod watch`: `ccpod sync` again whenever session files change here, and every
/// --interval for what changed on the pod, until stopped.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Keep syncing: whenever this project's sessions change here, and every --interval for the pod's changes.",
        discussion: """
        Each round is a `ccpod sync` (the same code, the same lock: a round that finds a \
        hook's or your own sync at work is skipped). Prints one line per round that moved \
        something and nothing otherwise. While the pod cannot be reached it says so once \
        and retries less and less often (up to every 5 minutes), and says when it is back. \
        Changes here are noticed by inotify on Linux, else by looking every second; while \
        they keep coming, rounds start at most every half interval (5 s at most). \
        SIGTERM ends it with 0, Ctrl-C with 130, between two rounds (a second signal at once). \
        --install writes a systemd user unit (Linux) or a launchd agent (macOS) that runs \
        this watch at login, and prints the command that enables it.
        """)

    @OptionGroup var sync: SyncArguments

    @Option(help: ArgumentHelp("How often to look at the pod: 30s, 2m, 1h (a bare number is seconds).", valueName: "duration"))
    var interval = "30s"

    @Flag(help: "Write a systemd user unit (or a launchd agent on macOS) that runs this watch, and print how to enable it.")
    var install = false

    @Flag(help: "Remove the unit or agent --install wrote.")
    var uninstall = false

    @Flag(help: "Notice changes here by looking every second instead of inotify.")
    var poll = false

    func validate() throws {
        if install && uninstall { throw ValidationError("--install and --uninstall exclude each other") }
        do { _ = try WatchBackoff.parseInterval(interval) } catch let e as CCPodError { throw ValidationError(e.message) }
    }

    func run() throws {
        let seconds = try WatchBackoff.parseInterval(interval)
        let directory = sync.project.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? FileManager.default.currentDirectoryPath
        let context = try ProjectContext.locate(directory: directory)
        let config = try CCPodConfig.load(from: CLIContext.locations)
        let podName = try PodResolver.chosenName(name: sync.pod.pod, projectPod: context.settings.pod,
                                                 environment: CLIContext.environment, config: config)
        if install || uninstall {
            try service(podName: podName, root: context.root)
            return
        }
        let claudeDir = try sync.claude.resolve()
        let projects = claudeDir.appendingPathComponent("projects").path
        let folders = sync.all ? [projects] : [projects + "/" + ProjectSlug.of(context.root)]
        let watcher = LocalChangeWatcher(folders: folders, polling: poll)
        let signals = WatchSignals()
        if !sync.json {
            let how = watcher.usesInotify ? "inotify" : "looking every second"
            Console.note("watching \(sync.all ? "every project" : context.root) (\(how)) and \(podName) every \(WatchBackoff.describe(seconds)); Ctrl-C stops")
        }
        var loop = WatchLoop(podName: podName, backoff: WatchBackoff(interval: seconds), watcher: watcher,
                             output: { Console.out($0 + "\n") }, note: { Console.note($0) })
        CLIContext.$watching.withValue(true) {
            loop.run(stop: { signals.received != nil }) { round() }
        }
        if signals.received == SIGINT { throw ExitCode(130) }
    }

    /// Once a day, before a round: the sessions Claude's cleanup would delete within a
    /// week and that exist nowhere else go into the archive (`archive --before-sweep`).
    /// Skipped while another ccpod holds the Claude dir or the archive; said on stderr.
    func shieldIfDue() {
        let locations = CLIContext.locations
        guard SweepGuard.isDue(stateDir: locations.stateDir), let claudeDir = try? sync.claude.resolve(),
              let locks = try? OperationLock.acquire([.claudeDir(claudeDir.path), .archive], stateDir: locations.stateDir,
                                                      purpose: "archiving sessions before Claude's cleanup", wait: false)
        else { return }
        defer { locks.forEach { $0.release() } }
        do {
            let outcome = try SweepGuard.run(claudeDir: claudeDir, locations: locations)
            if !outcome.archived.isEmpty {
                Console.note("archived \(outcome.archived.count) session(s) that Claude's cleanup would have deleted and that existed nowhere else: "
                             + outcome.archived.joined(separator: ", ") + " (`ccpod archive list`)")
            }
            for note in outcome.notes.prefix(5) { Console.note("archive: \(note)") }
        } catch {
            Console.note("archiving before Claude's cleanup failed: \(error); `ccpod doctor` lists the sessions at risk")
        }
    }

    /// One `ccpod sync`, quiet, without waiting for another ccpod's lock.
    func round() -> WatchLoop.Round {
        shieldIfDue()
        var quiet = sync
        quiet.json = true
        quiet.pod.noWait = true
        do {
            let report = try quiet.run(SyncOptions(direction: .sync))
            // The sessions that ended on the pod, an autostop note: sentences on stderr.
            if !sync.json { PodWarnings.show(report.warnings, notesOnly: true) }
            let moved = report.items.contains { ![.inSync, .busy].contains($0.action) } || report.conflicts > 0
            guard moved else { return .nothing }
            if sync.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                return .moved(String(decoding: (try? encoder.encode(report)) ?? Data(), as: UTF8.self))
            }
            let formatter = DateFormatter()
            formatter.dateFormat = "HH:mm:ss"
            let time = formatter.string(from: Date())
            return .moved("\(time) \(SyncRendering.summary(report))")
        } catch let error as CCPodError {
            switch error.status {
            case .busy: return .busy
            case .unavailable, .podLost: return .unreachable(error.message)
            default: return .failed(error.message)
            }
        } catch {
            return .failed("\(error)")
        }
    }

    /// --install / --uninstall.
    func service(podName: String, root: String) throws {
        #if os(macOS)
        let kind = WatchServicePlan.Kind.launchd
        #else
        let kind = WatchServicePlan.Kind.systemd
        #endif
        var arguments = [HookLauncher.selfExecutable, "watch", "--pod", podName, "--interval", interval]
        arguments += sync.all ? ["--all"] : ["--project", root]
        if let dir = sync.claude.claudeDir { arguments += ["--claude-dir", dir] }
        if let podPath = sync.podPath { arguments += ["--pod-path", podPath] }
        if poll { arguments.append("--poll") }
        let plan = WatchServicePlan.make(kind: kind, pod: podName, arguments: arguments, environment: CLIContext.environment)
        if uninstall {
            guard FileManager.default.fileExists(atPath: plan.file.path) else {
                Console.note("no watch service for \(podName) (\(plan.file.path))")
                return
            }
            // systemd disables a unit through its file: while `enable` left its link in
            // default.target.wants, the file stays until that is done.
            let wants = plan.file.deletingLastPathComponent().appendingPathComponent("default.target.wants/" + plan.file.lastPathComponent)
            if kind == .systemd, FileStat.of(wants.path, followSymlinks: false) != nil {
                Console.note("\(plan.file.lastPathComponent) is enabled (\(wants.path)); stop and disable it first, then run `ccpod watch --uninstall` again:")
                Console.out(plan.disableCommand + "\n")
                throw ExitCode(1)
            }
            try? FileManager.default.removeItem(at: plan.file)
            Console.note("removed \(plan.file.path); if it was loaded, stop it with:")
            Console.out(plan.disableCommand + "\n")
            return
        }
        try CCPodLocations.makePrivateDirectory(plan.file.deletingLastPathComponent())
        try AtomicFile.write(Data(plan.text.utf8), to: plan.file, mode: 0o644)
        Console.note("wrote \(plan.file.path); to start it now and at every login, run:")
        Console.out(plan.enableCommand + "\n")
    }
}

/// SIGINT and SIGTERM while watching: the first ends the watch after the round in
/// flight; a second one ends ccpod at once (130 for SIGINT, 0 for SIGTERM). Locks are
/// released by the kernel with the process.
final class WatchSignals: @unchecked Sendable {
    private let state = Locked<Int32?>(nil)
    private var sources: [DispatchSourceSignal] = []

    var received: Int32? { state.current }

    init() {
        for sig in [SIGINT, SIGTERM] {
            let state = self.state
            sources.append(armedSignalSource(sig) {
                let again = state.withLock { current -> Bool in
                    defer { if current == nil { current = sig } }
                    return current != nil
                }
                if again { exit(sig == SIGINT ? 130 : 0) }
            })
        }
    }
}

extension CLIContext {
    /// Set while `ccpod watch` runs its rounds: a pod that does not answer is said once
    /// by the watch, not by every round ("looking for pod … again").
    @TaskLocal static var watching = false
}
