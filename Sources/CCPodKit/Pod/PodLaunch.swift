import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `claude` starts in a launched session.
public enum ClaudeStart: Sendable, Equatable {
    /// `claude --continue` when the project folder has a session on the pod, else a fresh one.
    case continueLatest
    /// `claude --resume ID`.
    case resume(String)
    /// A fresh session.
    case fresh
}

/// The variables that carry Claude Code's credentials, handed to a launched session.
public enum ClaudeAuth {
    public static let variables = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]

    /// The credentials set in `environment`, in a fixed order.
    public static func values(in environment: [String: String]) -> [(name: String, value: String)] {
        variables.compactMap { name in
            guard let value = environment[name], !value.isEmpty else { return nil }
            return (name, value)
        }
    }

    /// Throws when a value has characters no token has (it travels as a tmux word).
    public static func validate(_ values: [(name: String, value: String)]) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~+/=-")
        for (name, value) in values where !value.allSatisfy({ allowed.contains($0) }) {
            throw CCPodError.usage("\(name) has characters a Claude token does not have (spaces, quotes, newlines?); check the variable")
        }
    }
}

/// Claude Code on the pod inside tmux: start a session, attach to it over `ssh -t`,
/// learn how it ended, list the running ones. The pod side is `Pod/launch.sh`.
public struct PodLaunch: Sendable {
    public let connection: SSHConnection
    public let runtime: PodRuntime

    public init(connection: SSHConnection, runtime: PodRuntime) {
        self.connection = connection
        self.runtime = runtime
    }

    /// `ccpod-<name>`: the project folder's name in letters, digits, `-` and `_` (tmux
    /// session names cannot hold `.` or `:`).
    public static func sessionName(projectRoot: String) -> String {
        let base = URL(fileURLWithPath: projectRoot).lastPathComponent.lowercased()
        var name = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") ? $0 : "-" })
        while name.hasPrefix("-") { name.removeFirst() }
        if name.isEmpty { name = "project" }
        return "ccpod-" + String(name.prefix(40))
    }

    /// The persistent dir on the pod.
    var persistentDir: String { connection.paths.persistentDir }

    /// The file the pane writes claude's exit status to.
    public func exitFile(session: String) -> String { persistentDir + "/run/" + session + ".exit" }

    /// The `sh` script the tmux pane runs: enter the project folder, find `claude`,
    /// point it at the pod's Claude dir, read persisted auth when none was handed
    /// over, run claude, record its exit status.
    public func paneScript(session: String, podDirectory: String, podSlug: String, start: ClaudeStart,
                           claudeArguments: [String]) -> String {
        let q = ShellQuote.quote
        let claudeDir = connection.paths.claudeDir
        let slugDir = claudeDir + "/projects/" + podSlug
        let exit = exitFile(session: session)
        var fixed: [String] = []
        switch start {
        case .resume(let id): fixed = ["--resume", id]
        case .fresh, .continueLatest: break
        }
        let args = (fixed + claudeArguments).map(q).joined(separator: " ")
        var lines = [
            "# ccpod: Claude Code for \(podDirectory)",
            "cd \(q(podDirectory)) || { echo 'ccpod: cannot enter \(podDirectory.replacingOccurrences(of: "'", with: ""))'; sleep 10; exit 1; }",
            "PATH=\(q(runtime.binDir)):\"$HOME/.local/bin:$PATH\"; export PATH",
            "if [ \(q(claudeDir)) != \"$HOME/.claude\" ]; then CLAUDE_CONFIG_DIR=\(q(claudeDir)); export CLAUDE_CONFIG_DIR; fi",
            "if [ -z \"${ANTHROPIC_API_KEY:-}${CLAUDE_CODE_OAUTH_TOKEN:-}\" ] && [ -r \(q(persistentDir + "/auth.env")) ]; then . \(q(persistentDir + "/auth.env")); fi",
        ]
        // The pod's `claudeEnv` (names checked when the config was read; checked again here).
        for (name, value) in runtime.claudeEnvironment.sorted(by: { $0.key < $1.key }) where PodRuntime.isVariableName(name) {
            lines.append("\(name)=\(q(value)); export \(name)")
        }
        lines.append("set -- \(args)")
        if start == .continueLatest {
            lines.append("for f in \(q(slugDir))/*.jsonl; do if [ -f \"$f\" ]; then set -- --continue \"$@\"; fi; break; done")
        }
        lines += [
            "claude \"$@\"",
            "code=$?",
            "printf '%s\\n' \"$code\" > \(q(exit + ".tmp")) && mv -f \(q(exit + ".tmp")) \(q(exit))",
            "exit \"$code\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The pod-side script's text.
    public static var source: String { String(decoding: PackageResources.launch_sh, as: UTF8.self) }

    func scriptCommand(_ arguments: [String]) -> String {
        InlineScript.command(PackageResources.launch_sh, name: "ccpod-launch",
                             arguments: [arguments[0], runtime.tmux, runtime.tmuxSocket ?? ""] + arguments.dropFirst())
    }

    /// What `start` found.
    public enum StartResult: Sendable, Equatable {
        /// A new session runs claude now.
        case started
        /// The session was already running (claude from an earlier launch).
        case running
        /// `--resume ID` names a session that is not on the pod.
        case noSession(String)
    }

    /// Starts the tmux session (detached) unless it runs already. Credentials travel on
    /// stdin into the session's environment; with `persistAuth` they are also stored in
    /// `<persistentDir>/auth.env` (0600). One exec.
    public func start(session: String, podDirectory: String, podSlug: String, start: ClaudeStart,
                      claudeArguments: [String], auth: [(name: String, value: String)], persistAuth: Bool) throws -> StartResult {
        try ClaudeAuth.validate(auth)
        let pane = paneScript(session: session, podDirectory: podDirectory, podSlug: podSlug, start: start, claudeArguments: claudeArguments)
        var want = ""
        if case .resume(let id) = start { want = connection.paths.claudeDir + "/projects/" + podSlug + "/" + id + ".jsonl" }
        let command = scriptCommand(["start", session, persistentDir, podDirectory,
                                     Data(pane.utf8).base64EncodedString(), persistAuth ? "yes" : "no", want])
        let input = Data(auth.map { "\($0.name)=\($0.value)\n" }.joined().utf8)
        let output = try connection.runCommand(command, input: input)
        let answer = output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        if answer == "started" { return .started }
        if answer == "running" { return .running }
        if answer.hasPrefix("no-session ") { return .noSession(String(answer.dropFirst("no-session ".count))) }
        if answer.hasPrefix("error ") { throw CCPodError.failure("on \(connection.displayName): \(answer.dropFirst(6))") }
        throw CCPodError.badData("unexpected answer from \(connection.displayName) when starting tmux (status \(output.status)): \(answer.prefix(300)) \(output.stderrText.prefix(300))")
    }

    /// How a session ended, as seen after the terminal came back.
    public enum Outcome: Sendable, Equatable {
        /// claude exited with this status.
        case exited(Int32)
        /// The session is still running (the user detached).
        case running
        /// The session is gone and left no exit status.
        case gone
    }

    /// Reads (and clears) the recorded exit status. One exec.
    public func finish(session: String) throws -> Outcome {
        let output = try connection.runCommand(scriptCommand(["finish", session, persistentDir]))
        let answer = output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        if answer.hasPrefix("exited "), let code = Int32(answer.dropFirst(7).trimmingCharacters(in: .whitespaces)) {
            return .exited(code)
        }
        if answer == "running" { return .running }
        if answer == "gone" || answer.hasPrefix("exited") { return .gone }
        throw CCPodError.badData("unexpected answer from \(connection.displayName) about tmux session \(session): \(answer.prefix(300))")
    }

    /// The ccpod tmux sessions on the pod. One exec.
    public func sessions() throws -> [TmuxSession] {
        let output = try connection.runCommand(scriptCommand(["list"]))
        return output.stdoutText.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 4, f[0] == "session" else { return nil }
            return TmuxSession(name: String(f[1]), attached: Int(f[2]) ?? 0, created: Int(f[3]) ?? 0)
        }
    }

    /// `ssh -t … tmux attach -t =SESSION`.
    public func attachInvocation(session: String) throws -> [String] {
        var tmux = [runtime.tmux, "-u"]
        if let socket = runtime.tmuxSocket { tmux += ["-L", socket] }
        tmux += ["attach-session", "-t", "=" + session]
        return try connection.interactiveInvocation(remoteCommand: "exec " + tmux.map(ShellQuote.quote).joined(separator: " "))
    }

    /// Runs an interactive child on this terminal (fds 0, 1, 2 as they are) and waits.
    /// ccpod ignores SIGINT meanwhile, so Ctrl-C reaches the program on the other end.
    /// Credentials are left out of the child's environment (an `ssh_config` `SendEnv`
    /// must not carry them).
    public static func runInteractive(_ arguments: [String], environment: [String: String]) throws -> Int32 {
        var env = environment
        for name in ClaudeAuth.variables { env.removeValue(forKey: name) }
        let previous = signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, previous) }
        let child = try ChildProcess.spawn(arguments[0], Array(arguments.dropFirst()), environment: env,
                                           stdin: .inherit, stdout: .inherit, stderr: .inherit)
        return child.wait()
    }
}
