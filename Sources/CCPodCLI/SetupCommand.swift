import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod setup`: the persistent layout, Claude Code, tmux and the retention guard on the pod.
struct SetupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Prepare the pod for Claude Code: persistent sessions, Claude Code, tmux, the retention guard.",
        discussion: """
        Keeps Claude Code's projects/, todos/ and settings.json in the pod's persistent \
        dir (default /workspace/claude-sessions) and links them from the Claude dir \
        (default /root/.claude), moving anything already there without losing a file. \
        Sets cleanupPeriodDays so Claude Code never sweeps old sessions away. Installs \
        Claude Code when missing (installCommand in the pod's config; default the official \
        installer) and links it into binDir (default /usr/local/bin). Safe to run again: \
        after a pod restart it restores what the restart wiped.
        """)

    @OptionGroup var podOptions: PodOptions

    @Flag(name: .customLong("install-tmux"), help: "Install tmux with apt-get when it is missing.")
    var installTmux = false

    @Flag(name: .customLong("forget-auth"), help: "Remove the credentials stored on the pod with `launch --persist-auth`.")
    var forgetAuth = false

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func run() throws {
        // A pod that restarted is found again once, and the whole setup runs on it: what
        // the restart wiped outside the persistent dir (links, Claude Code, tmux) comes back.
        let pod = try podOptions.session()
        let report = try pod.run {
            try SetupRunner.run(pod: $0, installTmux: installTmux, forgetAuth: forgetAuth, quiet: json)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n")
        } else {
            Console.out(SetupRunner.text(report))
        }
        try SetupRunner.throwIfBroken(report)
    }
}

/// Shared by `setup` and `launch`: run the script, ask about tmux on a terminal, render.
enum SetupRunner {
    static func runtime(of pod: ResolvedPod) -> PodRuntime { pod.settings?.runtime ?? PodRuntime() }

    /// Runs setup; when only tmux is missing and a person is there, asks and runs again with apt-get.
    static func run(pod: ResolvedPod, installTmux: Bool, forgetAuth: Bool, quiet: Bool) throws -> SetupReport {
        let setup = PodSetup(connection: pod.connection, runtime: runtime(of: pod))
        var report = try setup.run(mode: .apply, installTmux: installTmux, forgetAuth: forgetAuth)
        if !installTmux, report.onlyTmuxMissing, !quiet, CLIContext.isInteractive,
           CLIContext.askYesNo("tmux is not installed on \(pod.name). Install it with apt-get? [y/N] ") {
            report = try setup.run(mode: .apply, installTmux: true, forgetAuth: false)
        }
        AutostopRendering.afterSetup(&report, pod: pod)
        return report
    }

    /// One line per step, then what to do about problems.
    static func text(_ report: SetupReport) -> String {
        var lines = ["setup of \(report.pod)"]
        for step in report.steps {
            let state: String
            switch step.state {
            case .ok: state = "ok     "
            case .done: state = "done   "
            case .missing: state = "MISSING"
            case .failed: state = "FAILED "
            }
            lines.append("  \(state) \(SyncRendering.pad(step.name, 9)) \(step.detail)")
        }
        for line in report.log { lines.append("    | \(line)") }
        for path in report.keptAside { lines.append("  kept aside (differed from the persistent copy): \(path)") }
        if let auth = report.persistedAuth { lines.append("  credentials stored on the pod: \(auth) (remove: ccpod setup --forget-auth)") }
        if report.ok { lines.append(report.changed ? "setup: ok" : "setup: ok, nothing to change") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A usage error naming the flag when tmux is missing; a failure for anything else.
    static func throwIfBroken(_ report: SetupReport) throws {
        guard !report.ok else { return }
        if report.onlyTmuxMissing {
            throw CCPodError.unavailable("tmux is not installed on \(report.pod): run `ccpod setup --pod \(report.pod) --install-tmux` (apt-get install tmux), or install it yourself")
        }
        let first = report.problems[0]
        var message = "setup of \(report.pod) failed: \(first.name): \(first.detail)"
        if first.name == "claude" && !report.log.isEmpty {
            message += "\n  the installer's last lines:\n" + report.log.map { "    | \($0)" }.joined(separator: "\n")
            message += "\n  set another install command with installCommand in [pods.\(report.pod)] of config.toml"
        }
        throw CCPodError.failure(message)
    }
}

/// The pod side of `ccpod status`: reachable, setup, Claude Code's version, ccpod's
/// tmux sessions, GPUs, uptime. One exec (the setup script in status mode).
enum PodSideSection {
    /// Prints the section on stdout; a pod that does not answer is reported, not thrown.
    static func show(_ pod: ResolvedPod) {
        // A local: folder is not a machine of its own: no setup, tmux, GPUs or uptime to report.
        guard pod.settings != nil else {
            Console.out("pod \(pod.name): a folder on this machine\n")
            return
        }
        do {
            let report = try PodSetup(connection: pod.connection, runtime: SetupRunner.runtime(of: pod)).run(mode: .status)
            Console.out(text(report))
        } catch {
            Console.out("pod \(pod.name): not reachable: \(error)\n")
        }
    }

    static func text(_ report: SetupReport) -> String {
        var facts = ["reachable"]
        let problems = report.problems.map(\.name)
        facts.append(problems.isEmpty ? "setup ok" : "setup missing \(problems.joined(separator: ", ")) (`ccpod setup`)")
        facts.append(report.claudeVersion.map { "Claude Code \($0)" } ?? "Claude Code not installed")
        if let up = report.uptimeSeconds {
            let minutes = Int(up) / 60
            facts.append(minutes >= 60 ? "up \(minutes / 60) h \(minutes % 60) min" : "up \(minutes) min")
        }
        var lines = ["pod \(report.pod): \(facts.joined(separator: ", "))"]
        let sessions = report.tmuxSessions.map { $0.name + ($0.attached > 0 ? " (attached)" : "") }
        lines.append("  claude in tmux: " + (sessions.isEmpty ? "none" : sessions.joined(separator: ", ")))
        for gpu in report.gpus {
            let f = gpu.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            lines.append(f.count == 4 ? "  gpu: \(f[0]), \(f[1]) / \(f[2]) MiB, \(f[3]) % busy" : "  gpu: \(gpu)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
