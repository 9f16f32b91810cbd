import ArgumentParser
import CCPodKit
import Foundation

/// `--claude-dir`, shared by the commands that read Claude Code's files.
struct ClaudeDirOption: ParsableArguments {
    @Option(name: .customLong("claude-dir"), help: ArgumentHelp(
        "Claude Code's config dir (default: $CLAUDE_CONFIG_DIR, else ~/.claude).", valueName: "dir"))
    var claudeDir: String?

    func resolve() throws -> URL {
        try ClaudeConfigDir.resolve(override: claudeDir, environment: ProcessInfo.processInfo.environment)
    }
}
