import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built `ccpod` next to the test bundle, or nil.
let launchTestBinary: String? = {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("ccpod").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

/// A laptop and a pod for launch tests: the loopback sshd as the pod, every pod path a
/// temporary folder (Claude dir, persistent dir, bin dir), a private tmux server on the
/// pod (`tmuxSocket`), and a stand-in `claude` installed by a stand-in install command.
/// Never touches the machine's own ~/.claude, /workspace, /usr/local/bin or tmux server.
final class LaunchTestBed {
    let pod: SSHTestPod
    let root: URL
    let podSocket = "ccpod-t-\(UUID().uuidString.prefix(8).lowercased())"
    let laptopSocket = "ccpod-l-\(UUID().uuidString.prefix(8).lowercased())"
    private(set) var settings = PodSettings(name: "gpu")
    /// A dummy credential: it must reach the stand-in and nothing else.
    let secret = "sk-ant-ccpod-test-\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"

    var podDir: String { root.path + "/pod" }
    var claudeDir: String { podDir + "/root/.claude" }
    var persistentDir: String { podDir + "/workspace/claude-sessions" }
    var binDir: String { podDir + "/usr/local/bin" }
    var podProject: String { podDir + "/workspace/runs/demo/code" }
    var localProject: String { root.path + "/laptop/demo" }
    var localClaude: String { root.path + "/laptop/.claude" }
    var control: String { root.path + "/ctl" }
    var standIn: String { root.path + "/standin/claude" }
    var localSlug: String { ProjectSlug.of(localProject) }
    var podSlug: String { ProjectSlug.of(podProject) }
    let tmuxSession = "ccpod-demo"

    init(installCommand: String? = nil, tmux: String = "tmux") throws {
        pod = try SSHTestPod()
        root = pod.root
        let fm = FileManager.default
        for dir in [localProject, localClaude, control, root.path + "/standin", podDir + "/workspace"] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try Self.standInScript(control: control).write(toFile: standIn, atomically: true, encoding: .utf8)
        chmod(standIn, 0o755)
        var s = pod.settings()
        s.paths = PodPaths(claudeDir: claudeDir, persistentDir: persistentDir, workspace: podDir + "/workspace")
        s.runtime = PodRuntime(
            installCommand: installCommand ?? "echo fetching the stand-in; mkdir -p \(binDir) && cp \(standIn) \(binDir)/claude",
            binDir: binDir, tmux: tmux, tmuxSocket: podSocket)
        settings = s
        _ = try PodRegistry(locations: pod.locations, recorder: pod.recorder).add(s, makeDefault: true, trust: SSHTestPod.acceptNew)
    }

    /// Behaves like Claude Code for a launch: finds the session in the slug folder of
    /// its cwd (`--continue`: the newest; `--resume ID`), appends a line, records what
    /// it saw in the control folder (a hash of the credential, never the value), and
    /// waits until the test writes `release` (exit status in `exit-code`).
    static func standInScript(control: String) -> String {
        """
        #!/bin/sh
        # A stand-in for claude in ccpod's launch tests.
        ctl=\(control)
        case "${1:-}" in --version) echo "2.1.999 (ccpod stand-in)"; exit 0 ;; esac
        base="${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects/$(pwd -P | sed 's/[^A-Za-z0-9]/-/g')"
        mode=new id=
        while [ $# -gt 0 ]; do
            case $1 in --continue) mode=continue ;; --resume) mode=resume; id=$2; shift ;; esac
            shift
        done
        mkdir -p "$base"
        case $mode in
            continue) f=$(ls -t "$base"/*.jsonl 2>/dev/null | head -n 1); [ -n "$f" ] || { echo "No conversation found to continue"; exit 1; } ;;
            resume) f="$base/$id.jsonl"; [ -f "$f" ] || { echo "No conversation found with session ID: $id"; exit 1; } ;;
            new) f="$base/$(cat /proc/sys/kernel/random/uuid).jsonl" ;;
        esac
        sid=$(basename "$f" .jsonl)
        echo "$mode $sid" >> "$ctl/log"
        printf '%s' "${ANTHROPIC_API_KEY:-}" | sha256sum | cut -c1-64 > "$ctl/auth-seen"
        n=$(date +%s%N)
        printf '{"type":"user","uuid":"pod-%s","sessionId":"%s","cwd":"%s","message":{"role":"user","content":"work done on the pod"}}\\n' "$n" "$sid" "$(pwd -P)" >> "$f"
        echo "stand-in claude: $mode $sid"
        : > "$ctl/running"
        while [ ! -e "$ctl/release" ]; do sleep 0.1; done
        rm -f "$ctl/release" "$ctl/running"
        exit "$(cat "$ctl/exit-code" 2>/dev/null || echo 0)"
        """
    }

    /// The environment of ccpod on the laptop.
    func environment(auth: Bool = true) -> [String: String] {
        var env = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": root.path,
            "XDG_CONFIG_HOME": root.path + "/config",
            "XDG_STATE_HOME": root.path + "/state",
            "CLAUDE_CONFIG_DIR": localClaude,
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
        ]
        if auth { env["ANTHROPIC_API_KEY"] = secret }
        return env
    }

    /// Runs ccpod without a terminal (for what fails before `ssh -t`, and for setup).
    func ccpod(_ arguments: [String], auth: Bool = true) throws -> ChildProcess.Output {
        try ChildProcess.run(launchTestBinary!, arguments, environment: environment(auth: auth), directory: localProject)
    }

    /// A local session with `lines` lines in this project.
    func writeLocalSession(_ id: String, lines: Int) throws {
        let dir = localClaude + "/projects/" + localSlug
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var text = ""
        for i in 0..<lines {
            text += "{\"type\":\"user\",\"uuid\":\"laptop-\(i)\",\"sessionId\":\"\(id)\",\"cwd\":\"\(localProject)\",\"message\":{\"role\":\"user\",\"content\":\"planned here \(i)\"}}\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/\(id).jsonl"))
        // An old mtime, as a real transcript would have: the sync must not treat it as busy.
        let old = Date().addingTimeInterval(-3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: dir + "/\(id).jsonl")
    }

    func localLines(_ id: String) -> [String] {
        let text = (try? String(contentsOfFile: localClaude + "/projects/\(localSlug)/\(id).jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    // MARK: the laptop's terminal: a private tmux server

    /// Starts `ccpod ARGS` in a new pane of the laptop-side tmux server (a real PTY for
    /// `ssh -t`); its exit status lands in `<root>/exit-<tag>`.
    func startInTerminal(_ arguments: [String], tag: String, auth: Bool = true) throws {
        var script = "#!/bin/sh\n"
        for (k, v) in environment(auth: auth).sorted(by: { $0.key < $1.key }) {
            script += "export \(k)=\(ShellQuote.quote(v))\n"
        }
        script += "cd \(ShellQuote.quote(localProject))\n"
        script += ([launchTestBinary!] + arguments).map(ShellQuote.quote).joined(separator: " ")
            + " 2>\(ShellQuote.quote(root.path + "/stderr-" + tag))\n"
        script += "echo $? > \(ShellQuote.quote(root.path + "/exit-" + tag + ".tmp")); mv \(ShellQuote.quote(root.path + "/exit-" + tag + ".tmp")) \(ShellQuote.quote(root.path + "/exit-" + tag))\n"
        let file = root.path + "/run-\(tag).sh"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let hasServer = (try? ChildProcess.run("tmux", ["-L", laptopSocket, "has-session"]))?.status == 0
        let args = hasServer ? ["-L", laptopSocket, "new-window", "-d", "sh \(file)"]
            : ["-L", laptopSocket, "new-session", "-d", "-x", "120", "-y", "40", "sh \(file)"]
        let out = try ChildProcess.run("tmux", args, environment: environment(auth: false))
        guard out.status == 0 else { throw CCPodError.failure("laptop tmux: \(out.stderrText)") }
    }

    /// Waits for the ccpod started with `tag` to exit; returns its status and stderr.
    func waitForExit(tag: String, timeout: Double = 180) async -> (status: Int32?, stderr: String) {
        let deadline = Date().addingTimeInterval(timeout)
        let file = root.path + "/exit-" + tag
        while Date() < deadline {
            if let text = try? String(contentsOfFile: file, encoding: .utf8) {
                let stderr = (try? String(contentsOfFile: root.path + "/stderr-" + tag, encoding: .utf8)) ?? ""
                return (Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), stderr)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return (nil, (try? String(contentsOfFile: root.path + "/stderr-" + tag, encoding: .utf8)) ?? "")
    }

    /// Waits until `condition` holds.
    func waitUntil(timeout: Double = 30, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }

    /// Whether the stand-in claude is running now.
    var standInRunning: Bool { FileManager.default.fileExists(atPath: control + "/running") }

    /// Lets the stand-in exit with `code`.
    func release(exitCode: Int32) throws {
        try "\(exitCode)\n".write(toFile: control + "/exit-code", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: control + "/release", contents: nil)
    }

    /// The pod-side tmux server.
    func podTmux(_ arguments: [String]) -> ChildProcess.Output? {
        try? ChildProcess.run("tmux", ["-L", podSocket] + arguments)
    }

    func podSessions() -> [String] {
        (podTmux(["list-sessions", "-F", "#{session_name}"])?.stdoutText ?? "").split(separator: "\n").map(String.init)
    }

    /// A pod restart: the container disk (Claude dir, bin dir) wiped, the persistent dir kept.
    func simulateRestart() throws {
        try FileManager.default.removeItem(atPath: podDir + "/root")
        try? FileManager.default.removeItem(atPath: podDir + "/usr")
    }

    /// The pid of ssh's master connection for this pod (to cut it like a dropped network).
    func masterPid() throws -> pid_t? {
        let ssh = try pod.connection()
        let out = try ChildProcess.run("ssh", ssh.sshOptions() + ["-O", "check", ssh.destination])
        let text = out.stderrText + out.stdoutText
        guard let range = text.range(of: "pid=") else { return nil }
        return pid_t(text[range.upperBound...].prefix { $0.isNumber })
    }

    deinit {
        _ = try? ChildProcess.run("tmux", ["-L", laptopSocket, "kill-server"])
        _ = try? ChildProcess.run("tmux", ["-L", podSocket, "kill-server"])
        // Let a waiting stand-in go.
        _ = FileManager.default.createFile(atPath: control + "/release", contents: nil)
    }
}
