import Foundation

/// Claude Code's config dir: `--claude-dir` > `$CLAUDE_CONFIG_DIR` > `~/.claude`.
public enum ClaudeConfigDir {
    /// Resolves the config dir and checks that it exists.
    ///
    /// - Parameters:
    ///   - override: the `--claude-dir` value, if given (relative paths are taken from the current directory).
    ///   - environment: usually `ProcessInfo.processInfo.environment`.
    /// - Throws: `CCPodError` (exit 66) naming the folder when it does not exist or is not a folder.
    public static func resolve(override: String?, environment: [String: String]) throws -> URL {
        let (path, source): (String, String)
        if let override, !override.isEmpty {
            (path, source) = (expandTilde(override, environment: environment), "--claude-dir")
        } else if let env = environment["CLAUDE_CONFIG_DIR"], !env.isEmpty {
            (path, source) = (expandTilde(env, environment: environment), "CLAUDE_CONFIG_DIR")
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            (path, source) = ((home as NSString).appendingPathComponent(".claude"), "the default location")
        }
        let url = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
        guard let stat = FileStat.of(url.path, followSymlinks: true) else {
            throw CCPodError(.noInput,
                "Claude Code config dir \(url.path) (from \(source)) does not exist: Claude Code has not run here yet; "
                    + "pass --claude-dir (or set CLAUDE_CONFIG_DIR) to the folder that holds projects/, "
                    + "e.g. --claude-dir Examples/claude in ccpod's source tree to try it on the example session")
        }
        guard stat.isDirectory else {
            throw CCPodError(.noInput, "Claude Code config dir \(url.path) (from \(source)) is not a folder")
        }
        return url
    }

    static func expandTilde(_ path: String, environment: [String: String]) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + path.dropFirst()
    }
}
