import CCPodKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real Claude Code CLI, run offline in a private tmux server so its session
/// picker can be read (docs/ARCHITECTURE.md, "Tests").
enum RealClaude {
    /// The bundled CLI of the PyPI package `claude-agent-sdk`, or `CCPOD_CLAUDE_BIN`.
    static let binary: String? = locate()

    /// Whether the end-to-end tests can run here (claude and tmux both present).
    static var available: Bool { binary != nil && ChildProcess.exists("tmux") }

    static let unavailableReason: Comment = """
        the real Claude Code is not available: set CCPOD_CLAUDE_BIN, or `python3 -m pip install claude-agent-sdk` \
        (its claude_agent_sdk/_bundled/claude), and install tmux
        """

    /// A dummy key: claude never reaches the network in these tests.
    static let apiKey = "sk-ant-api03-ccpod-end-to-end-dummy-key-0000000000AA"

    private static func locate() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["CCPOD_CLAUDE_BIN"], !explicit.isEmpty {
            return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        guard ChildProcess.exists("python3") else { return nil }
        let probe = "import claude_agent_sdk, os; print(os.path.join(os.path.dirname(claude_agent_sdk.__file__), \"_bundled\", \"claude\"))"
        guard let output = try? ChildProcess.run("python3", ["-c", probe]), output.status == 0 else { return nil }
        let path = output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        return !path.isEmpty && FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// Writes the `.claude.json` that lets claude start offline without any dialog in
    /// `trusted` (onboarding done, the dummy key approved, the folder trusted).
    static func prepareConfig(claudeDir: String, trusted directories: [String]) throws {
        try FileManager.default.createDirectory(atPath: claudeDir, withIntermediateDirectories: true)
        var projects: [String: Any] = [:]
        for directory in directories { projects[directory] = ["hasTrustDialogAccepted": true] }
        let config: [String: Any] = [
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": ["approved": [String(apiKey.suffix(20))], "rejected": [String]()],
            "projects": projects,
        ]
        let data = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
        try data.write(to: URL(fileURLWithPath: claudeDir).appendingPathComponent(".claude.json"))
    }

    /// One `claude` started in its own tmux server (its own socket name), never the user's.
    final class Screen: @unchecked Sendable {
        let socket = "ccpod-test-\(UUID().uuidString.prefix(12).lowercased())"
        let label: String
        private(set) var panePid: pid_t?
        private var socketPath: String?

        /// Starts `claude <arguments>` (or `executable <arguments>`, a program that becomes
        /// claude, such as `ccpod resume`) in `directory` with `claudeDir` as its config dir
        /// and `home` as HOME, on a 160×45 screen.
        init(label: String, directory: String, claudeDir: String, home: String, arguments: [String],
             environment extra: [String: String] = [:], executable: String? = nil) throws {
            self.label = label
            guard let binary = executable ?? RealClaude.binary else { throw CCPodError.failure("claude is not available") }
            let inherited = ProcessInfo.processInfo.environment
            let environment: [String: String] = [
                "PATH": inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
                "HOME": home,
                "LANG": "C.UTF-8",
                "TERM": "xterm-256color",
                "CLAUDE_CONFIG_DIR": claudeDir,
                "ANTHROPIC_API_KEY": RealClaude.apiKey,
                "DISABLE_AUTOUPDATER": "1",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            ].merging(extra) { $1 }
            let started = try tmux(["new-session", "-d", "-x", "160", "-y", "45", "-c", directory, "-P", "-F", "#{pane_pid} #{socket_path}",
                                    binary] + arguments, environment: environment)
            guard started.status == 0 else {
                throw CCPodError.failure("tmux new-session failed (\(started.status)): \(started.stderrText)")
            }
            let printed = started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ", maxSplits: 1)
            panePid = printed.first.flatMap { pid_t($0) }
            socketPath = printed.count == 2 ? String(printed[1]) : nil
        }

        /// The visible screen, as text.
        func capture() -> String {
            (try? tmux(["capture-pane", "-p", "-t", "0"], environment: nil))?.stdoutText ?? ""
        }

        /// Types keys into claude (tmux key names: "Enter", "Escape", "C-c", or text).
        func send(_ keys: [String]) {
            _ = try? tmux(["send-keys", "-t", "0"] + keys, environment: nil)
        }

        /// Whether claude (the pane's process) still runs.
        var isRunning: Bool { panePid.map { kill($0, 0) == 0 } ?? false }

        /// Polls the screen until `done` holds or `timeout` seconds pass; returns the last screen.
        func waitFor(timeout: Double, _ done: (String) -> Bool) async -> (ok: Bool, screen: String) {
            let deadline = Date().addingTimeInterval(timeout)
            var screen = capture()
            while !done(screen) {
                if Date() >= deadline { return (false, screen) }
                try? await Task.sleep(for: .milliseconds(500))
                screen = capture()
            }
            return (true, screen)
        }

        /// Ends this tmux server, waits (briefly) for claude to exit, SIGKILL if it lingers,
        /// and removes the server's socket (tmux leaves it behind).
        func stop() {
            guard panePid != nil || socketPath != nil else { return }
            _ = try? tmux(["kill-server"], environment: nil)
            if let pid = panePid, pid > 0 {
                for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
                if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
            }
            if let socketPath { unlink(socketPath) }
            panePid = nil
            socketPath = nil
        }

        deinit { stop() }

        private func tmux(_ arguments: [String], environment: [String: String]?) throws -> ChildProcess.Output {
            try ChildProcess.run("tmux", ["-u", "-L", socket] + arguments, environment: environment)
        }
    }
}

/// Realistic Claude Code transcript lines (the shapes of 2.1.x): a file-history
/// snapshot, user prompts, assistant messages with usage, chained by uuid.
struct TranscriptWriter {
    let sessionId: String
    var cwd: String
    var lastUuid: String?
    var clock: Date

    init(sessionId: String, cwd: String, startedMinutesAgo: Double = 90) {
        self.sessionId = sessionId
        self.cwd = cwd
        self.clock = Date().addingTimeInterval(-startedMinutesAgo * 60)
    }

    /// One exchange: the user's prompt and the assistant's answer.
    mutating func turn(prompt: String, answer: String) -> Data {
        let promptId = UUID().uuidString.lowercased()
        var out = Data()
        if lastUuid == nil {
            out += line([
                "type": "file-history-snapshot", "messageId": promptId, "isSnapshotUpdate": false,
                "snapshot": ["messageId": promptId, "trackedFileBackups": [String: Any](), "timestamp": stamp()],
            ])
        }
        out += line(common(uuid: promptId, type: "user").merging([
            "message": ["role": "user", "content": prompt],
            "permissionMode": "default",
        ]) { $1 })
        tick()
        let answerId = UUID().uuidString.lowercased()
        out += line(common(uuid: answerId, type: "assistant").merging([
            "requestId": "req_\(answerId.prefix(8))",
            "message": [
                "id": "msg_\(answerId.suffix(12))", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                "content": [["type": "text", "text": answer]],
                "stop_reason": "end_turn", "stop_sequence": NSNull(),
                "usage": ["input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "output_tokens": 30, "service_tier": "standard"],
            ] as [String: Any],
        ]) { $1 })
        tick()
        return out
    }

    private mutating func common(uuid: String, type: String) -> [String: Any] {
        defer { lastUuid = uuid }
        return [
            "parentUuid": lastUuid.map { $0 as Any } ?? NSNull(), "isSidechain": false, "userType": "external",
            "cwd": cwd, "sessionId": sessionId, "version": "2.1.332", "gitBranch": "main",
            "type": type, "uuid": uuid, "timestamp": stamp(),
        ]
    }

    private mutating func tick() { clock = clock.addingTimeInterval(7) }

    private func stamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: clock)
    }

    private func line(_ object: [String: Any]) -> Data {
        // Sorted keys keep the bytes reproducible within a run; claude does not care about order.
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        data.append(0x0A)
        return data
    }
}
