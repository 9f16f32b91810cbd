import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod launch`: push, Claude Code in tmux on the pod over `ssh -t`, pull.
struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run Claude Code on the pod in this project's folder there, then bring its sessions home.",
        discussion: """
        Pushes this project's sessions, repairs the pod's setup when it restarted, and \
        opens `ssh -t` into tmux session ccpod-<project> running `claude --continue` (or \
        --resume ID, or a fresh session with --new) in the project's folder on the pod \
        (--pod-path, or pod_path in .ccpod.toml). Ctrl-C goes to Claude. Detach with \
        Ctrl-b d and Claude keeps working; `ccpod attach` gets you back. When the \
        terminal comes back, ccpod pulls and exits with Claude's exit code. \
        ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN from here reach that tmux session \
        only (never a command line, never the pod's disk unless --persist-auth).
        """)

    @OptionGroup var podOptions: PodOptions
    @OptionGroup var claude: ClaudeDirOption

    @Option(help: ArgumentHelp("Resume this session (its id, as `ccpod sessions` shows).", valueName: "id"))
    var session: String?

    @Flag(help: "Start a fresh session instead of continuing the latest one.")
    var new = false

    @Option(name: .customLong("pod-path"), help: ArgumentHelp(
        "Where this project lives on the pod (default: pod_path in .ccpod.toml, else the path used last time).",
        valueName: "path"))
    var podPath: String?

    @Option(help: ArgumentHelp("The project directory (default: the git root of the current directory).", valueName: "path"))
    var project: String?

    @Flag(name: .customLong("persist-auth"), help: "Also store the credentials on the pod (0600, under the persistent dir) for later launches.")
    var persistAuth = false

    @Flag(name: .customLong("install-tmux"), help: "Install tmux with apt-get when the pod has none.")
    var installTmux = false

    @Flag(name: .customLong("over-budget"), help: "Launch even when a budget of the pod or project is used up.")
    var overBudget = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Arguments for claude, after --.", valueName: "claude-args"))
    var claudeArguments: [String] = []

    func validate() throws {
        if session != nil && new { throw ValidationError("--session and --new cannot be used together") }
        if let session, UUID(uuidString: session) == nil {
            throw ValidationError("--session takes a session id (a UUID, as `ccpod sessions` shows)")
        }
        if let podPath, !podPath.hasPrefix("/") {
            throw ValidationError("--pod-path must be an absolute path on the pod, as in /workspace/runs/NAME/code")
        }
    }

    func run() throws {
        let env = CLIContext.environment
        let claudeDir = try claude.resolve()
        let directory = project.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? FileManager.default.currentDirectoryPath
        let context = try ProjectContext.locate(directory: directory)
        let place = try LaunchPlace.resolve(podOptions: podOptions, context: context, podPathOverride: podPath)
        try CostRecording.checkBudget(pod: place.pod, project: context, overBudget: overBudget, action: "launch")
        guard let podPath = place.podPath else {
            throw CCPodError.usage("""
                ccpod does not know where \(context.root) lives on \(place.pod.name). Pass it once with \
                `ccpod launch --pod-path /workspace/runs/NAME/code`, or write `pod_path = "/workspace/runs/NAME/code"` \
                into \(context.root)/\(ProjectSettings.fileName)
                """)
        }
        let localSlug = ProjectSlug.of(context.root)
        let podSlug = ProjectSlug.of(podPath)
        let sessionName = PodLaunch.sessionName(projectRoot: context.root)
        let auth = ClaudeAuth.values(in: env)
        try ClaudeAuth.validate(auth)

        var start = ClaudeStart.continueLatest
        if new { start = .fresh }
        if let session {
            start = .resume(session)
            let local = claudeDir.appendingPathComponent("projects/\(localSlug)/\(session).jsonl").path
            if !FileManager.default.fileExists(atPath: local) {
                let onPod = place.pod.connection.paths.claudeDir + "/projects/\(podSlug)/\(session).jsonl"
                let probe = try place.session.run { try $0.connection.runCommand("test -f \(ShellQuote.quote(onPod))") }
                if probe.status != 0 {
                    throw CCPodError.usage("no session \(session) in this project, here (\(local)) or on \(place.pod.name) (\(onPod)); `ccpod sessions` lists the sessions, `ccpod launch` continues the latest")
                }
            }
        }

        // Every step below reaches the pod through `place.session`: a pod that restarted
        // (new port, new host key) is found again at the first step that meets it, once,
        // and the later steps use the repaired connection.
        // 1. The pod's setup (cheap when nothing changed; after a restart it restores what
        // the restart wiped: the links into the persistent dir, Claude Code, its link).
        let setup = try place.session.run {
            try SetupRunner.run(pod: $0, installTmux: installTmux, forgetAuth: false, quiet: false)
        }
        try SetupRunner.throwIfBroken(setup)
        for step in setup.steps where step.state == .done { Console.note("setup: \(step.name): \(step.detail)") }

        // 2. This project's sessions to the pod.
        let sync = try place.syncArguments(claudeDir: claudeDir.path, projectRoot: context.root, podPath: podPath)
        let pushed = try sync.run(SyncOptions(direction: .push), on: place.session)
        Console.note(SyncRendering.summary(pushed))
        PodWarnings.show(pushed.warnings)

        // 3. tmux on the pod, credentials through stdin.
        let started = try place.onPod {
            try $0.start(session: sessionName, podDirectory: podPath, podSlug: podSlug, start: start,
                         claudeArguments: claudeArguments, auth: auth, persistAuth: persistAuth)
        }
        switch started {
        case .started:
            Console.note("claude runs in tmux session \(sessionName) on \(place.pod.name) in \(podPath)" + (auth.isEmpty ? "" : " (with \(auth.map(\.name).joined(separator: ", ")) from here)"))
        case .running:
            Console.note("Claude is already running in tmux session \(sessionName) on \(place.pod.name); attaching to it" + (session != nil || new || !claudeArguments.isEmpty ? " (--session/--new/claude arguments apply to a new session only)" : ""))
        case .noSession(let path):
            throw CCPodError.usage("no session \(session ?? "") on \(place.pod.name) (\(path)); `ccpod sessions` lists the sessions")
        }
        Console.note("detach with Ctrl-b d: Claude keeps running, `ccpod attach` gets you back")

        // 4. The terminal goes to tmux; 5. pull and pass claude's status through.
        let status = try CostRecording.session(.launch, pod: place.pod.name, project: context.root, podPath: podPath) {
            try PodLaunch.runInteractive(place.launcher().attachInvocation(session: sessionName), environment: ProcessInfo.processInfo.environment)
        }
        try LaunchEnding.finish(sshStatus: status, place: place, session: sessionName) { settled in
            try place.syncArguments(claudeDir: claudeDir.path, projectRoot: context.root, podPath: podPath, settled: settled)
        }
    }
}

/// The pod (as a session: found again once after a restart) and where the project lives there.
struct LaunchPlace {
    var session: PodSession
    var podPath: String?
    var podOptions: PodOptions

    /// The pod as it is now (found again after a restart).
    var pod: ResolvedPod { session.pod }

    /// `--pod-path` > `pod_path` in .ccpod.toml > the mapping remembered from an earlier launch or push.
    static func resolve(podOptions: PodOptions, context: ProjectContext, podPathOverride: String?) throws -> LaunchPlace {
        let session = try podOptions.session(projectPod: context.settings.pod)
        let pod = session.pod
        guard pod.connection is SSHConnection else {
            throw CCPodError.usage("\(pod.name) is a folder, not a pod: launch and attach run Claude over ssh; add a pod with `ccpod pod add NAME --direct root@HOST:PORT`")
        }
        var podPath = podPathOverride ?? context.settings.podPath
        if podPath == nil {
            let memory = MappingMemory(stateDir: CLIContext.locations.podStateDir(podName: pod.name))
            let slug = ProjectSlug.of(context.root)
            podPath = memory.load().first { $0.localSlug == slug && $0.podPath != nil && $0.podPath != $0.localPath }?.podPath
        }
        var options = podOptions
        options.pod = pod.name
        return LaunchPlace(session: session, podPath: podPath, podOptions: options)
    }

    /// Claude in tmux on `pod` (default: the session's pod as it is now).
    func launcher(_ pod: ResolvedPod? = nil) throws -> PodLaunch {
        let pod = pod ?? session.pod
        guard let ssh = pod.connection as? SSHConnection else {
            throw CCPodError.usage("\(pod.name) is a folder, not a pod: launch and attach run Claude over ssh")
        }
        return PodLaunch(connection: ssh, runtime: pod.settings?.runtime ?? PodRuntime())
    }

    /// One step with the launcher, through the session (see `PodSession.run`).
    func onPod<T>(_ body: (PodLaunch) throws -> T) throws -> T {
        try session.run { try body(launcher($0)) }
    }

    /// The push/pull of this project, exactly as `ccpod push --pod-path PATH` would run it
    /// (`podPath` nil: every project ccpod has mapped for this pod, as `--all`).
    /// `settled`: claude has exited, so a session written seconds ago is not busy (`--busy-seconds 0`).
    func syncArguments(claudeDir: String, projectRoot: String, podPath: String?, settled: Bool = false) throws -> SyncArguments {
        var arguments = ["--pod", pod.name, "--claude-dir", claudeDir]
        if settled { arguments += ["--busy-seconds", "0"] }
        if let podPath { arguments += ["--project", projectRoot, "--pod-path", podPath] } else { arguments.append("--all") }
        return try SyncArguments.parse(arguments)
    }
}

/// What launch and attach do when the terminal comes back.
enum LaunchEnding {
    /// `pull(settled)`: the pull to run; `settled` when claude has exited.
    static func finish(sshStatus: Int32, place: LaunchPlace, session: String,
                       pull: (Bool) throws -> SyncArguments) throws {
        let pod = place.pod.name
        if sshStatus == 255 {
            Console.note("""
                the connection to \(pod) dropped. Claude keeps running in tmux session \(session) on the pod: \
                `ccpod attach` gets you back (and pulls when it ends); `ccpod pull` brings its sessions home now
                """)
            throw ExitCode(ExitStatus.unavailable.rawValue)
        }
        let outcome = try place.onPod { try $0.finish(session: session) }
        var settled = false
        if case .exited = outcome { settled = true }
        let report = try pull(settled).run(SyncOptions(direction: .pull), on: place.session)
        Console.note(SyncRendering.summary(report))
        PodWarnings.show(report.warnings)
        switch outcome {
        case .exited(let code):
            Console.note("Claude exited with status \(code); its sessions are here: `claude --continue` goes on locally")
            if code != 0 { throw ExitCode(code) }
        case .running:
            Console.note("Claude is still running on the pod (tmux session \(session)); `ccpod attach` to get back, `ccpod pull` to bring its sessions home")
        case .gone:
            Console.note("the tmux session \(session) ended without recording Claude's exit status")
            throw ExitCode(ExitStatus.failure.rawValue)
        }
    }
}
