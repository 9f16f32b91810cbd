import Foundation

/// ccpod's hook on a pod, where there is no ccpod and the laptop cannot be reached: a
/// small `sh` script in ccpod's pod state dir (`<persistent dir>/.ccpod/ccpod-hook.sh`)
/// that, when Claude ends a session there, appends `TIME SESSION-ID` to `ended-sessions`
/// beside it. `ccpod hooks status --where pod` reports them; the next laptop sync brings
/// them home.
public struct PodHooks: Sendable {
    public let connection: any PodConnection
    public let podName: String

    public init(connection: any PodConnection, podName: String) {
        self.connection = connection
        self.podName = podName
    }

    /// Paths as the pod's shell sees them (a `local:` pod's folder in front).
    public var stateDir: String { connection.rootPrefix + connection.paths.persistentDir + "/.ccpod" }
    public var scriptPath: String { stateDir + "/ccpod-hook.sh" }
    public var endedFile: String { stateDir + "/ended-sessions" }

    /// The command Claude runs on the pod for SessionEnd.
    public var command: String { "sh \(ShellQuote.quote(scriptPath)) hook \(HookEvent.sessionEnd.argument)" }

    /// The script: reads at most 64 KiB of the hook's JSON, keeps only a UUID session id,
    /// appends one line, keeps the file under 64 KiB, prints nothing, always exits 0.
    public static let script = """
        # ccpod's Claude Code hook on this pod (written by `ccpod hooks install --where pod`).
        # SessionEnd: appends "TIME SESSION-ID" to ended-sessions beside this script, so the
        # laptop knows which sessions ended here. Prints nothing; always exits 0.
        [ "$2" = session-end ] || exit 0
        dir=$(dirname "$0")
        id=$(head -c 65536 | tr -d '\\n' | sed -n 's/.*"session_id"[[:space:]]*:[[:space:]]*"\\([0-9a-fA-F-]\\{36\\}\\)".*/\\1/p')
        [ -n "$id" ] || exit 0
        printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$id" >> "$dir/ended-sessions" 2>/dev/null
        if [ "$(wc -c < "$dir/ended-sessions" 2>/dev/null || echo 0)" -gt 65536 ]; then
            tail -n 500 "$dir/ended-sessions" > "$dir/.ended-sessions.tmp" 2>/dev/null && mv -f "$dir/.ended-sessions.tmp" "$dir/ended-sessions"
        fi
        exit 0

        """

    /// Writes the script (before the settings name it).
    public func installScript() throws {
        let dir = ShellQuote.quote(stateDir), path = ShellQuote.quote(scriptPath)
        let output = try connection.runCommand(
            "set -e; mkdir -p \(dir); cat > \(path).tmp; chmod 700 \(path).tmp; mv -f \(path).tmp \(path)",
            input: Data(Self.script.utf8), activity: "writing ccpod's hook")
        guard output.status == 0 else {
            throw CCPodError.unavailable("\(podName): cannot write \(scriptPath): \(TerminalText.escape(String(output.stderrText.prefix(400))))")
        }
    }

    public func removeScript() throws {
        _ = try connection.runCommand("rm -f \(ShellQuote.quote(scriptPath))", activity: "removing ccpod's hook")
    }

    /// The file in the pod's state folder here that says the pod has ccpod's hook (its
    /// command): a push of settings.json keeps it there (`HookSettingsPlan.forPod`).
    public static func markerFile(podStateDir: URL) -> URL { podStateDir.appendingPathComponent("pod-hook") }

    public static func recordedCommand(podStateDir: URL) -> String? {
        guard let data = try? Data(contentsOf: markerFile(podStateDir: podStateDir)), data.count < 4096 else { return nil }
        let command = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        return HookSettingsPlan.isOurs(command, .sessionEnd) ? command : nil
    }

    public func remember(podStateDir: URL, installed: Bool) throws {
        let file = Self.markerFile(podStateDir: podStateDir)
        if installed {
            try CCPodLocations.makePrivateDirectory(podStateDir)
            try AtomicFile.write(Data((command + "\n").utf8), to: file)
        } else {
            try? FileManager.default.removeItem(at: file)
        }
    }

    /// One session the pod's hook recorded.
    public struct Ended: Sendable, Equatable, Codable {
        public var time: String
        public var sessionId: String

        public init(time: String, sessionId: String) {
            self.time = time
            self.sessionId = sessionId
        }
    }

    /// The sessions recorded as ended on the pod (the last 200; malformed lines skipped).
    public func endedSessions() throws -> [Ended] {
        let output = try connection.runCommand("tail -n 200 \(ShellQuote.quote(endedFile)) 2>/dev/null; exit 0",
                                               activity: "reading the sessions that ended", outputLimit: 1 << 20)
        return Self.parseEnded(output.stdoutText)
    }

    /// A session the sync agent passed on (`hook-ended ID TIME`, once per recorded line).
    public static func endedWarning(_ warning: String) -> Ended? {
        // The answer reader names where a warning came from ("pod: …").
        let text = warning.hasPrefix("pod: ") ? String(warning.dropFirst(5)) : warning
        let parts = text.split(separator: " ")
        guard parts.count == 3, parts[0] == "hook-ended" else { return nil }
        return parseEnded("\(parts[2]) \(parts[1])").first
    }

    /// What a sync says about them.
    public static func sentence(_ ended: [Ended]) -> String {
        let ids = ended.prefix(5).map(\.sessionId).joined(separator: ", ") + (ended.count > 5 ? " and \(ended.count - 5) more" : "")
        let count = ended.count == 1 ? "1 session" : "\(ended.count) sessions"
        return "on the pod, Claude ended \(count) since the last sync (\(ids)); this sync took this project's (those of other projects: `ccpod sync --all`)"
    }

    static func parseEnded(_ text: String) -> [Ended] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, parts[0].count <= 32, parts[0].allSatisfy({ $0.isASCII && ($0.isNumber || "-:TZ".contains($0)) }),
                UUID(uuidString: String(parts[1])) != nil
            else { return nil }
            return Ended(time: String(parts[0]), sessionId: String(parts[1]).lowercased())
        }
    }
}

/// Claude Code's `settings.json` on a pod, read and replaced through the connection
/// (a temporary file beside it, then a rename; its mode kept).
public struct PodSettingsFile: HookSettingsStore {
    public let connection: any PodConnection
    public let podName: String

    public init(connection: any PodConnection, podName: String) {
        self.connection = connection
        self.podName = podName
    }

    var path: String { connection.rootPrefix + connection.paths.claudeDir + "/settings.json" }
    public var origin: String { "\(podName):\(path)" }

    /// The file on the pod, through a link if it is one.
    private var resolve: String {
        "f=\(ShellQuote.quote(path)); t=$(readlink -f \"$f\" 2>/dev/null) && [ -n \"$t\" ] && f=$t"
    }

    public func read() throws -> Data? {
        let output = try connection.runCommand("\(resolve); if [ -f \"$f\" ]; then printf 'Y\\n'; cat \"$f\"; else printf 'N\\n'; fi",
                                               activity: "reading Claude's settings", outputLimit: 4 << 20)
        guard output.status == 0, let newline = output.stdout.firstIndex(of: 0x0A) else {
            throw CCPodError.unavailable("\(podName): cannot read \(path): \(TerminalText.escape(String(output.stderrText.prefix(400))))")
        }
        switch output.stdout[output.stdout.startIndex..<newline] {
        case Data("Y".utf8): return Data(output.stdout[(newline + 1)...])
        case Data("N".utf8): return nil
        default: throw CCPodError.badData("\(podName): an unexpected answer while reading \(path)")
        }
    }

    public func write(_ data: Data?) throws {
        let command: String
        if data == nil {
            command = "\(resolve); rm -f \"$f\""
        } else {
            command = """
                set -e; \(resolve); mkdir -p "$(dirname "$f")"; tmp="$f.ccpod-$$"; cat > "$tmp"
                if [ -f "$f" ]; then m=$(stat -c %a "$f" 2>/dev/null || stat -f %Lp "$f" 2>/dev/null) && chmod "$m" "$tmp"; else chmod 600 "$tmp"; fi
                mv -f "$tmp" "$f"
                """
        }
        let output = try connection.runCommand(command, input: data, activity: "writing Claude's settings")
        guard output.status == 0 else {
            throw CCPodError.unavailable("\(podName): cannot write \(path): \(TerminalText.escape(String(output.stderrText.prefix(400))))")
        }
    }
}
