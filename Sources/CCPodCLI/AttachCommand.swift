import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod attach`: back into a running Claude on the pod; pull when it ends.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Reconnect to Claude running in tmux on the pod; pull when you leave.",
        discussion: """
        Attaches to this project's tmux session (ccpod-<project>), or the only ccpod \
        session, or the one named with --session. With several and no choice, lists them \
        (and asks on a terminal). Exits with Claude's exit code when it ended.
        """)

    @OptionGroup var podOptions: PodOptions
    @OptionGroup var claude: ClaudeDirOption

    @Option(help: ArgumentHelp("The tmux session (as `ccpod status` lists them; the ccpod- prefix may be left out).", valueName: "name"))
    var session: String?

    @Option(help: ArgumentHelp("The project directory (default: the git root of the current directory).", valueName: "path"))
    var project: String?

    @Flag(name: .customLong("over-budget"), help: "Attach even when a budget of the pod or project is used up.")
    var overBudget = false

    func run() throws {
        let claudeDir = try claude.resolve()
        let directory = project.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? FileManager.default.currentDirectoryPath
        let context = try ProjectContext.locate(directory: directory)
        let place = try LaunchPlace.resolve(podOptions: podOptions, context: context, podPathOverride: nil)
        try CostRecording.checkBudget(pod: place.pod, project: context, overBudget: overBudget, action: "attach")
        // A pod that restarted is found again here (once); the rest uses the repaired connection.
        let sessions = try place.onPod { try $0.sessions() }
        let mine = PodLaunch.sessionName(projectRoot: context.root)
        let target = try choose(from: sessions, mine: mine, pod: place.pod.name)
        Console.note("attaching to tmux session \(target) on \(place.pod.name) (detach with Ctrl-b d)")
        // Pull this project when the session is its own and its place on the pod is known; else every mapped project.
        let podPath = target == mine ? place.podPath : nil
        let status = try CostRecording.session(.attach, pod: place.pod.name, project: context.root, podPath: podPath) {
            try PodLaunch.runInteractive(place.launcher().attachInvocation(session: target), environment: ProcessInfo.processInfo.environment)
        }
        try LaunchEnding.finish(sshStatus: status, place: place, session: target) { settled in
            try place.syncArguments(claudeDir: claudeDir.path, projectRoot: context.root, podPath: podPath, settled: settled)
        }
    }

    func choose(from sessions: [TmuxSession], mine: String, pod: String) throws -> String {
        let names = sessions.map(\.name)
        if let session {
            let wanted = session.hasPrefix("ccpod-") ? session : "ccpod-" + session
            guard names.contains(wanted) else {
                throw CCPodError.usage("no tmux session \(wanted) on \(pod)" + (names.isEmpty ? "" : "; running: \(names.joined(separator: ", "))"))
            }
            return wanted
        }
        if names.isEmpty {
            throw CCPodError.unavailable("no ccpod tmux session runs on \(pod); start Claude there with `ccpod launch`")
        }
        if names.contains(mine) { return mine }
        if names.count == 1 { return names[0] }
        if CLIContext.isInteractive {
            for (i, name) in names.enumerated() { Console.note("  \(i + 1)) \(name)") }
            Console.ask("attach to which one? [1-\(names.count)] ")
            if let line = readLine(), let n = Int(line.trimmingCharacters(in: .whitespaces)), (1...names.count).contains(n) {
                return names[n - 1]
            }
            throw CCPodError.usage("no session chosen")
        }
        throw CCPodError.usage("several ccpod tmux sessions run on \(pod): \(names.joined(separator: ", ")); pick one with --session NAME")
    }
}
