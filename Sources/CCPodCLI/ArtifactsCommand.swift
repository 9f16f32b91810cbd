import ArgumentParser
import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod artifacts pull|push`: a run's outputs home, inputs out.
struct ArtifactsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifacts",
        abstract: "Bring a run's outputs home or send inputs to it: only what changed, verified, resumable.",
        subcommands: [ArtifactsPullCommand.self, ArtifactsPushCommand.self])
}

/// What both directions share.
struct ArtifactsArguments: ParsableArguments {
    @OptionGroup var podOptions: PodOptions

    @Option(name: .customLong("run"), help: ArgumentHelp("The run (default: this project's latest run on the pod).", valueName: "name"))
    var runName: String?

    @Argument(help: ArgumentHelp("Globs relative to the run directory (`checkpoints/step-*/**`, `*.json`).", valueName: "pattern"))
    var patterns: [String] = []

    @Option(name: .customLong("exclude"), help: ArgumentHelp("Leave out what matches (repeatable).", valueName: "pattern"))
    var excludes: [String] = []

    @Flag(help: "Show what would move; change nothing.")
    var dryRun = false

    @Flag(help: "Replace files that differ on the receiving side even though nothing was agreed about them.")
    var force = false

    @Option(help: ArgumentHelp("Compression on the wire for files that compress: zstd, gzip or none (default: zstd when both ends have it).", valueName: "kind"))
    var compress: String?

    @Option(help: ArgumentHelp("The project directory (default: the current directory).", valueName: "path"))
    var project: String?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func validate() throws {
        if let compress, Compression(rawValue: compress) == nil { throw ValidationError("--compress takes zstd, gzip or none") }
        // Else the pod would list the folder above the run (`find ..`) and ccpod reject its answer.
        if let pattern = patterns.first(where: { $0.split(separator: "/").contains("..") }) {
            throw ValidationError("\(pattern): patterns are relative to the run directory and cannot leave it with `..`")
        }
    }

    struct Prepared {
        /// The pod: found again once for the whole command when it restarted.
        var session: PodSession
        var run: ArtifactRun
        var projectRoot: String
        var stateDir: URL
        var pod: ResolvedPod { session.pod }
    }

    func prepare(podDirectory: String?) throws -> Prepared {
        ExecRecorder.shared.reset()
        let directory = project.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? FileManager.default.currentDirectoryPath
        let context = try ProjectContext.locate(directory: directory)
        let session = try podOptions.session(projectPod: context.settings.pod)
        let stateDir = CLIContext.locations.podStateDir(podName: session.name)
        let run = try session.run {
            try ArtifactRun.locate(projectRoot: context.root, runName: runName, podDirectory: podDirectory,
                                   connection: $0.connection, podStateDir: stateDir)
        }
        return Prepared(session: session, run: run, projectRoot: context.root, stateDir: stateDir)
    }

    /// A local folder from the command line, absolute.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
            .standardizedFileURL.path
    }

    /// Runs one transfer with Ctrl-C stopping it cleanly (what arrived is kept).
    /// A pod that restarted before the transfer began is found again (once per command)
    /// and the transfer runs on it; what a cut transfer kept is resumed as usual.
    func transfer(_ request: ArtifactRequest, _ prepared: Prepared) throws -> ArtifactReport {
        let progress = TerminalProgress(isTerminal: Console.stderrIsTerminal && !json) { Console.writeError($0) }
        defer { progress.clear() }
        var report = try prepared.session.run(whenLost: { progress.clear() }) { pod in
            let transfer = ArtifactTransfer(connection: pod.connection, request: request, podStateDir: prepared.stateDir)
            transfer.progress = progress.meter()
            return try Interrupts.shared.whileRunning(onInterrupt: { transfer.cancel() }) { try transfer.run() }
        }
        progress.clear()
        report.execs = ExecRecorder.shared.count
        ExecRecorder.shared.reset()
        return report
    }

    /// Prints the report: per-file lines on stdout, the summary on stderr; exit 2 on conflicts.
    func render(_ report: ArtifactReport, quietIfNothing: Bool = false) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n")
        } else {
            var text = ""
            for action in report.actions { text += ArtifactsRendering.line(action, dryRun: report.dryRun) + "\n" }
            Console.out(text)
            for warning in report.warnings { Console.note("warning: \(warning)") }
            Console.note(ArtifactsRendering.summary(report))
        }
        if report.interrupted { throw ExitCode(130) }
        if report.conflicts > 0 {
            if !json { Console.note("\(report.conflicts) file(s) differ on both sides and were left alone; --force takes the sending side's") }
            throw ExitCode(ExitStatus.conflicts.rawValue)
        }
        if report.failures > 0 {
            throw CCPodError.failure("\(report.failures) file(s) did not arrive intact; run the command again")
        }
    }
}

struct ArtifactsPullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Bring a run's outputs home: artifacts/ logs/ checkpoints/ results/ into ./runs/<run>/.",
        discussion: """
        One exec lists the run directory; only new and changed files travel, and of a \
        file that only grew (a training log) only its new end. Every file is verified \
        by SHA-256 and appears at its final path atomically. An interrupted pull keeps \
        what arrived; the next one checks it and fetches only the rest. Links on the pod \
        are reported, never followed. Files changed here are never overwritten (--force).
        """)

    @OptionGroup var common: ArtifactsArguments

    @Option(help: ArgumentHelp("The run directory on the pod, instead of --run.", valueName: "pod-path"))
    var from: String?

    @Option(help: ArgumentHelp("The local folder (default: ./runs/<run>/ of the project).", valueName: "dir"))
    var to: String?

    @Option(help: ArgumentHelp("Pull again every this many seconds until Ctrl-C, one line per round.", valueName: "seconds"))
    var watch: Int?

    func validate() throws {
        if let watch, watch < 1 { throw ValidationError("--watch takes a number of seconds, 1 or more") }
        if watch != nil && common.dryRun { throw ValidationError("--watch and --dry-run do not go together") }
    }

    func run() throws {
        let prepared = try common.prepare(podDirectory: from)
        let local = to.map(ArtifactsArguments.absolute) ?? RunsFolder.path(projectRoot: prepared.projectRoot, run: prepared.run.name)
        if to == nil, !common.dryRun, let note = RunsFolder.keepOutOfGit(projectRoot: prepared.projectRoot) { Console.note(note) }
        let request = ArtifactRequest(
            direction: .pull, podDirectory: prepared.run.podDirectory, localDirectory: local,
            selection: ArtifactSelection(patterns: common.patterns, excludes: common.excludes),
            dryRun: common.dryRun, force: common.force, compression: common.compress.flatMap(Compression.init(rawValue:)))
        if !common.json { Console.note("\(prepared.pod.name):\(prepared.run.podDirectory) (\(prepared.run.how)) → \(local)") }
        guard let watch else {
            try common.render(try common.transfer(request, prepared))
            return
        }
        // One line per round until Ctrl-C; a round never overlaps the next.
        while true {
            let report = try common.transfer(request, prepared)
            if common.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                Console.out(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n")
            } else {
                Console.out(ArtifactsRendering.round(report) + "\n")
            }
            if report.interrupted { return }
            if Interrupts.shared.sleep(seconds: watch) { return }
        }
    }
}

struct ArtifactsPushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Send inputs (datasets, configs) from ./runs/<run>/ into the run directory on the pod.",
        discussion: """
        The other direction of `ccpod artifacts pull`: new and changed files only, each \
        verified by SHA-256 on the pod and renamed into place; an interrupted push \
        resumes. The pod's `code/` is left alone unless a pattern names it.
        """)

    @OptionGroup var common: ArtifactsArguments

    @Option(help: ArgumentHelp("The local folder to send (default: ./runs/<run>/ of the project).", valueName: "dir"))
    var from: String?

    @Option(help: ArgumentHelp("The run directory on the pod, instead of --run.", valueName: "pod-path"))
    var to: String?

    func run() throws {
        let prepared = try common.prepare(podDirectory: to)
        let local = from.map(ArtifactsArguments.absolute) ?? RunsFolder.path(projectRoot: prepared.projectRoot, run: prepared.run.name)
        let request = ArtifactRequest(
            direction: .push, podDirectory: prepared.run.podDirectory, localDirectory: local,
            selection: ArtifactSelection(patterns: common.patterns, excludes: common.excludes, everythingByDefault: true),
            dryRun: common.dryRun, force: common.force, compression: common.compress.flatMap(Compression.init(rawValue:)))
        if !common.json { Console.note("\(local) → \(prepared.pod.name):\(prepared.run.podDirectory) (\(prepared.run.how))") }
        try common.render(try common.transfer(request, prepared))
    }
}

enum ArtifactsRendering {
    static func line(_ action: ArtifactAction, dryRun: Bool) -> String {
        let verb: String
        switch action.kind {
        case .new: verb = "new"
        case .grown: verb = "grown"
        case .replaced: verb = "replaced"
        case .resumed: verb = "resumed"
        case .same: verb = "same"
        case .conflict: verb = "conflict"
        case .kept: verb = "kept"
        case .link: verb = "link"
        case .failed: verb = "failed"
        case .compare: verb = "compare"
        case .pending: verb = "pending"
        }
        let bytes = action.bytes > 0 ? SyncRendering.byteCount(action.bytes) : ""
        // A path is a file name from the pod (or here): escaped; `--json` keeps it exact.
        var text = "\(SyncRendering.pad((dryRun ? "would: " : "") + verb, 16)) \(SyncRendering.pad(bytes, 9)) \(TerminalText.escape(action.path))"
        if let note = action.note { text += "  (\(TerminalText.escape(note)))" }
        return text
    }

    static func summary(_ report: ArtifactReport) -> String {
        let verb = report.direction == .pull ? "pulled" : "pushed"
        var parts: [String] = []
        let moved = report.moved
        if report.dryRun {
            parts.append("dry run: \(moved) file(s) would move (\(SyncRendering.byteCount(report.bytes)))")
        } else {
            parts.append("\(verb) \(moved) file(s), \(SyncRendering.byteCount(report.bytes))")
        }
        if report.unchanged > 0 { parts.append("\(report.unchanged) unchanged") }
        let same = report.actions.filter { $0.kind == .same }.count
        if same > 0 { parts.append("\(same) already identical") }
        if report.conflicts > 0 { parts.append("\(report.conflicts) conflict(s)") }
        if report.failures > 0 { parts.append("\(report.failures) failed") }
        let links = report.actions.filter { $0.kind == .link }.count
        if links > 0 { parts.append("\(links) link(s) not followed") }
        var text = parts.joined(separator: ", ")
        if !report.dryRun {
            text += String(format: " in %.2f s", report.seconds)
            if report.bytes > 0 && report.seconds > 0 {
                text += " (\(SyncRendering.byteCount(Int64(Double(report.bytes) / report.seconds)))/s)"
            }
        }
        if report.interrupted { text += "; interrupted: what arrived is kept, run again to finish" }
        return text
    }

    /// One line for a round of `--watch`: the time and what arrived.
    static func round(_ report: ArtifactReport) -> String {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss"
        let arrived = report.actions.filter { [.new, .grown, .replaced, .resumed].contains($0.kind) }
        var text = f.string(from: Date()) + " "
        if arrived.isEmpty {
            text += "nothing new"
        } else {
            let names = arrived.prefix(3).map { "\($0.path) +\(SyncRendering.byteCount($0.bytes))" }.joined(separator: ", ")
            text += "\(arrived.count) file(s), \(SyncRendering.byteCount(report.bytes)): \(names)\(arrived.count > 3 ? ", …" : "")"
        }
        if report.conflicts > 0 { text += "; \(report.conflicts) conflict(s) left alone" }
        if report.failures > 0 { text += "; \(report.failures) failed, retried next round" }
        if report.interrupted { text += "; interrupted" }
        return text
    }
}
