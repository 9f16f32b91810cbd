import ArgumentParser
import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod resume SESSION [--here | --on POD] [--fork]`: the session's newest state,
/// wherever it is, continued here or on a pod.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a session where you are (or on a pod), after bringing its newest state there.",
        discussion: """
        Asks this machine and every configured pod (as `ccpod sessions --everywhere --all`) \
        where SESSION's newest state is. --here (the default) pulls it from that pod and \
        replaces ccpod with `claude --resume ID` in the session's project directory \
        ($CCPOD_CLAUDE_BIN, else claude on PATH). --on POD pulls it when it is newest on \
        another pod, pushes it to POD and starts `claude --resume ID` in ccpod's tmux \
        session there (attaching when this is a terminal, as `ccpod launch`). A claude \
        that has the session open anywhere is named and left alone (exit 75) unless \
        --fork: claude then continues it under a new id (--fork-session), a sibling. \
        SESSION is an id, a unique id prefix, or words of its title; several matches \
        are listed (exit 64).
        """)

    @Argument(help: ArgumentHelp("The session: its id, a unique prefix of it, or words of its title.", valueName: "session"))
    var query: String

    @Flag(help: "Continue it on this machine (the default).")
    var here = false

    @Option(help: ArgumentHelp("Continue it on this pod, in ccpod's tmux session there.", valueName: "pod"))
    var on: String?

    @Flag(help: "Continue it as a sibling session (a new id), even when a claude has it open.")
    var fork = false

    @OptionGroup var claude: ClaudeDirOption

    @Flag(name: .customLong("no-wait"), help: "When another ccpod is working with a pod or this Claude dir, exit 75 at once instead of waiting for it.")
    var noWait = false

    func validate() throws {
        if here && on != nil { throw ValidationError("--here and --on cannot be used together") }
        if query.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("name a session: its id, a prefix of it, or words of its title") }
    }

    func run() throws {
        let claudeDir = try claude.resolve()
        let pod = try PodOptions.parse(noWait ? ["--no-wait"] : [])
        let names = try SessionsEverywhereRun.configuredPods()
        if let on, !names.contains(on) {
            throw CCPodError.usage("no pod named \(on): `ccpod pod list` shows the pods configured")
        }
        let overview = try SessionsEverywhereRun(podNames: names, projectPath: nil, claudeDir: claudeDir, pod: pod).gather()
        for answer in overview.pods where answer.error != nil {
            Console.error("\(answer.name): left out, where the session is newest may be unknown: \(answer.error!)")
        }
        let session: OverviewSession
        switch SessionMatch.find(query, in: overview.sessions) {
        case .found(let s): session = s
        case .none:
            throw CCPodError.usage("no session matches \"\(query)\" here or on \(names.isEmpty ? "any pod" : names.joined(separator: ", ")); `ccpod sessions --everywhere --all` lists them")
        case .ambiguous(let candidates):
            Console.error("\"\(query)\" matches \(candidates.count) sessions; name one by id:")
            for s in candidates.prefix(20) {
                Console.note("  \(s.id)  \(s.title ?? "(untitled)")  [\(s.places.joined(separator: ", "))]")
            }
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let target: ResumePlan.Target = on.map { .pod($0) } ?? .here
        let plan = try ResumePlan.make(session, target: target, fork: fork)
        if !session.live.isEmpty {
            Console.note("\(session.id) is open in a claude \(session.live.joined(separator: ", ")): continuing it as a sibling (--fork)")
        }
        if let from = plan.pullFrom {
            let report = try Self.move(.pull, session: session, pod: from, claudeDir: claudeDir, noWait: noWait)
            Console.note("pulled from \(from): \(SyncRendering.summary(report))")
        }
        switch target {
        case .here:
            try Self.execClaude(session: session, fork: plan.fork, claudeDir: claudeDir, explicitDir: claude.claudeDir != nil)
        case .pod(let name):
            try ResumeOnPod(session: session, pod: name, fork: plan.fork, push: plan.pushTo != nil, claudeDir: claudeDir, noWait: noWait).run()
        }
    }

    /// A pull or push of this one session (every project's mapping, as `--all`). No claude
    /// holds it (checked before), so a line written a second ago moves too.
    static func move(_ direction: SyncOptions.Direction, session: OverviewSession, pod: String, claudeDir: URL, noWait: Bool) throws -> SyncReport {
        let args = try SyncArguments.parse(["--pod", pod, "--claude-dir", claudeDir.path, "--all", "--session", session.id, "--json",
                                            "--busy-seconds", session.live.isEmpty ? "0" : "5"] + (noWait ? ["--no-wait"] : []))
        let report = try args.run(SyncOptions(direction: direction))
        PodWarnings.show(report.warnings)
        if report.conflicts > 0 || report.count(.failed) > 0 || report.count(.diverged) > 0 || report.count(.busy) > 0 {
            throw CCPodError.failure("the session did not move cleanly (\(SyncRendering.summary(report))); `ccpod status --pod \(pod) --all` shows why")
        }
        return report
    }

    /// Replaces ccpod with `claude --resume ID` in the session's project directory.
    static func execClaude(session: OverviewSession, fork: Bool, claudeDir: URL, explicitDir: Bool) throws -> Never {
        let directory = session.project
        var isDirectory: ObjCBool = false
        guard directory.hasPrefix("/"), FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CCPodError(.noInput, "the session's project directory \(directory) does not exist here; create it (or check it out) and run `ccpod resume \(session.id)` again")
        }
        let env = CLIContext.environment
        let program = env["CCPOD_CLAUDE_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "claude"
        let arguments = [program, "--resume", session.id] + (fork ? ["--fork-session"] : [])
        // Claude reads the Claude dir ccpod was told about (the default needs nothing).
        if explicitDir { setenv("CLAUDE_CONFIG_DIR", claudeDir.path, 1) }
        guard chdir(directory) == 0 else {
            throw CCPodError(.ioError, "cannot enter \(directory): \(String(cString: strerror(errno)))")
        }
        Console.note("claude --resume \(session.id)\(fork ? " --fork-session" : "") in \(directory)")
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execvp(program, &argv)
        let why = String(cString: strerror(errno))
        throw CCPodError(.unavailable, "cannot start \(program): \(why); install Claude Code or set CCPOD_CLAUDE_BIN to its path")
    }
}

/// `ccpod resume --on POD`: the pod's setup, the session pushed, `claude --resume ID` in
/// ccpod's tmux session for the project there (as `ccpod launch --session ID`).
struct ResumeOnPod {
    var session: OverviewSession
    var pod: String
    var fork: Bool
    var push: Bool
    var claudeDir: URL
    var noWait: Bool

    func run() throws {
        let options = try PodOptions.parse(["--pod", pod] + (noWait ? ["--no-wait"] : []))
        let context = try ProjectContext.locate(directory: session.project)
        let mapped = session.pods.first { $0.pod == pod }?.podProject
        let place = try LaunchPlace.resolve(podOptions: options, context: context, podPathOverride: mapped)
        try CostRecording.checkBudget(pod: place.pod, project: context, overBudget: false, action: "resume")
        let podPath = place.podPath ?? session.project
        let podSlug = ProjectSlug.of(podPath)
        let auth = ClaudeAuth.values(in: CLIContext.environment)
        try ClaudeAuth.validate(auth)

        let setup = try place.session.run { try SetupRunner.run(pod: $0, installTmux: false, forgetAuth: false, quiet: false) }
        try SetupRunner.throwIfBroken(setup)
        for step in setup.steps where step.state == .done { Console.note("setup: \(step.name): \(step.detail)") }
        if push {
            let args = try SyncArguments.parse(["--pod", place.pod.name, "--claude-dir", claudeDir.path, "--all", "--session", session.id, "--json",
                                                "--busy-seconds", session.live.isEmpty ? "0" : "5"] + (noWait ? ["--no-wait"] : []))
            let report = try args.run(SyncOptions(direction: .push), on: place.session)
            PodWarnings.show(report.warnings)
            Console.note("pushed to \(place.pod.name): \(SyncRendering.summary(report))")
        }
        let tmuxSession = PodLaunch.sessionName(projectRoot: context.root)
        let started = try place.onPod {
            try $0.start(session: tmuxSession, podDirectory: podPath, podSlug: podSlug, start: .resume(session.id),
                         claudeArguments: fork ? ["--fork-session"] : [], auth: auth, persistAuth: false)
        }
        switch started {
        case .started:
            Console.note("claude --resume \(session.id)\(fork ? " --fork-session" : "") runs in tmux session \(tmuxSession) on \(place.pod.name) in \(podPath)")
        case .running:
            throw CCPodError(.busy, "tmux session \(tmuxSession) on \(place.pod.name) already runs a claude for this project; it was left alone: `ccpod attach --pod \(place.pod.name)` goes there")
        case .noSession(let path):
            throw CCPodError.failure("the session is not on \(place.pod.name) at \(path) after the push; `ccpod status --pod \(place.pod.name) --all` shows why")
        }
        guard CLIContext.isInteractive else {
            Console.note("`ccpod attach --pod \(place.pod.name) --project \(context.root)` goes there; `ccpod pull` brings it home")
            return
        }
        Console.note("detach with Ctrl-b d: Claude keeps running, `ccpod attach` gets you back")
        let status = try CostRecording.session(.launch, pod: place.pod.name, project: context.root, podPath: podPath) {
            try PodLaunch.runInteractive(place.launcher().attachInvocation(session: tmuxSession), environment: ProcessInfo.processInfo.environment)
        }
        try LaunchEnding.finish(sshStatus: status, place: place, session: tmuxSession) { settled in
            try place.syncArguments(claudeDir: claudeDir.path, projectRoot: context.root, podPath: podPath, settled: settled)
        }
    }
}
