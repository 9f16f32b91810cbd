import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The pod-side deploy script (Deploy/deploy.sh), built into the binary and sent in
/// the command line like the agent, so stdin stays free for the git bundle.
public enum DeployScript {
    /// The script's text.
    public static var source: String { String(decoding: PackageResources.deploy_sh, as: UTF8.self) }

    /// Exit statuses of the script (see its header).
    enum Status: Int32 {
        case noGit = 10
        case baseMissing = 12
        case runConflict = 13
        case notFastForward = 14
    }

    /// A POSIX command line that runs the script with `sh` in `mode` with `arguments`.
    public static func remoteCommand(_ mode: String, _ arguments: [String]) -> String {
        InlineScript.command(PackageResources.deploy_sh, name: "ccpod-deploy", arguments: [mode] + arguments)
    }

    /// The reason the script gave (its `ccpod-deploy: ` line), else stderr's last line;
    /// escaped for the terminal.
    static func reason(_ stderr: String) -> String {
        let lines = stderr.split(whereSeparator: \.isNewline).map(String.init)
        if let line = lines.last(where: { $0.hasPrefix("ccpod-deploy: ") }) {
            return TerminalText.escape(String(line.dropFirst("ccpod-deploy: ".count)))
        }
        return lines.last.map { TerminalText.escape($0) } ?? "no message"
    }

    /// Whether stderr says the pod's disk (or quota) is full.
    static func saysDiskFull(_ stderr: String) -> Bool {
        let s = stderr.lowercased()
        return s.contains("no space left on device") || s.contains("disk quota exceeded") || s.contains("file too large")
    }
}
