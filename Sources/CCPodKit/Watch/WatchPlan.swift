import Foundation

/// How `ccpod watch` waits between rounds while the pod cannot be reached: the interval,
/// doubled after each failed round up to `cap`, said once when the pod goes away and once
/// when it is back (pure; `WatchBackoffTests`).
public struct WatchBackoff: Sendable, Equatable {
    public let interval: Double
    public let cap: Double
    public private(set) var failures = 0

    public init(interval: Double, cap: Double = 300) {
        self.interval = interval
        self.cap = max(cap, interval)
    }

    /// The wait before the next round.
    public var delay: Double {
        guard failures > 0 else { return interval }
        return min(cap, interval * pow(2, Double(min(failures, 30))))
    }

    /// A round failed to reach the pod; true for the first failure (say it, once).
    public mutating func failed() -> Bool {
        failures += 1
        return failures == 1
    }

    /// A round reached the pod; true when it was unreachable before (say it is back).
    public mutating func succeeded() -> Bool {
        defer { failures = 0 }
        return failures > 0
    }

    /// `30s`, `2m`, `1h30m`; a bare number is seconds. 1 s to a day.
    public static func parseInterval(_ text: String) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let seconds: Int
        if let n = Int(t) {
            seconds = n
        } else {
            seconds = try AutostopSettings.parseDuration(t)
        }
        guard (1...86_400).contains(seconds) else {
            throw CCPodError.usage("--interval must be 1 s to 1 day (30s, 2m, 1h)")
        }
        return Double(seconds)
    }

    /// `30 s`, `2 min`, `1 h`.
    public static func describe(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" }
        return "\(s / 3600) h"
    }
}

/// The service that runs `ccpod watch` at login: a systemd user unit on Linux
/// (`$XDG_CONFIG_HOME/systemd/user/ccpod-watch-<pod>.service`), a launchd agent on macOS
/// (`~/Library/LaunchAgents/dev.ccpod.watch.<pod>.plist`). Pure text; `WatchService`
/// writes it.
public struct WatchServicePlan: Sendable, Equatable {
    public enum Kind: String, Sendable { case systemd, launchd }

    public var kind: Kind
    public var file: URL
    public var text: String
    /// What the user runs to start it now and at every login.
    public var enableCommand: String
    public var disableCommand: String

    /// A pod name as a file name part.
    public static func safeName(_ pod: String) -> String {
        String(pod.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" }.prefix(64))
    }

    public static func make(kind: Kind, pod: String, arguments: [String], environment: [String: String]) -> WatchServicePlan {
        let home = URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory())
        let name = safeName(pod)
        switch kind {
        case .systemd:
            let configHome = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? URL(fileURLWithPath: $0) : nil }
                ?? home.appendingPathComponent(".config")
            let unit = "ccpod-watch-\(name).service"
            let file = configHome.appendingPathComponent("systemd/user/\(unit)")
            let exec = arguments.map(systemdQuote).joined(separator: " ")
            var lines = [
                "# Written by `ccpod watch --install`; `ccpod watch --uninstall` removes it.",
                "[Unit]",
                "Description=ccpod watch: sync Claude Code sessions with \(pod)",
                "After=network-online.target",
                "",
                "[Service]",
                "ExecStart=\(exec)",
                "Restart=on-failure",
                "RestartSec=30",
            ]
            for key in ["CLAUDE_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "CCPOD_POD"] {
                if let value = environment[key], !value.isEmpty { lines.append("Environment=\(systemdQuote("\(key)=\(value)"))") }
            }
            lines += ["", "[Install]", "WantedBy=default.target", ""]
            return WatchServicePlan(kind: kind, file: file, text: lines.joined(separator: "\n"),
                                    enableCommand: "systemctl --user daemon-reload && systemctl --user enable --now \(unit)",
                                    disableCommand: "systemctl --user disable --now \(unit)")
        case .launchd:
            let label = "dev.ccpod.watch.\(name)"
            let file = home.appendingPathComponent("Library/LaunchAgents/\(label).plist")
            let args = arguments.map { "    <string>\(xmlEscape($0))</string>" }.joined(separator: "\n")
            var env = ""
            for key in ["CLAUDE_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "CCPOD_POD", "PATH"] {
                if let value = environment[key], !value.isEmpty {
                    env += "    <key>\(key)</key>\n    <string>\(xmlEscape(value))</string>\n"
                }
            }
            let text = """
                <?xml version="1.0" encoding="UTF-8"?>
                <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
                <!-- Written by `ccpod watch --install`; `ccpod watch --uninstall` removes it. -->
                <plist version="1.0">
                <dict>
                  <key>Label</key>
                  <string>\(label)</string>
                  <key>ProgramArguments</key>
                  <array>
                \(args)
                  </array>
                  <key>EnvironmentVariables</key>
                  <dict>
                \(env)  </dict>
                  <key>RunAtLoad</key>
                  <true/>
                  <key>KeepAlive</key>
                  <dict><key>SuccessfulExit</key><false/></dict>
                </dict>
                </plist>

                """
            return WatchServicePlan(kind: kind, file: file, text: text,
                                    enableCommand: "launchctl load -w \(ShellQuote.quote(file.path))",
                                    disableCommand: "launchctl unload -w \(ShellQuote.quote(file.path))")
        }
    }

    /// One systemd word: double-quoted, with `\`, `"`, `$` and `%` escaped.
    static func systemdQuote(_ s: String) -> String {
        var out = "\""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "$": out += "$$"
            case "%": out += "%%"
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    static func xmlEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
