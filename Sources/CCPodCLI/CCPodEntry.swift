import ArgumentParser
import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses the command line, runs the command, and maps errors to exit codes.
public enum CCPodEntry {
    public static func run(arguments: [String]? = nil) async -> Never {
        // A child that exits early must not kill ccpod with SIGPIPE; writes then fail with EPIPE.
        signal(SIGPIPE, SIG_IGN)
        // Unknown keys in config.toml or .ccpod.toml, with file and line, once each.
        ConfigNotices.setSink { Console.note("warning: \($0)") }
        do {
            var command = try CCPodCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let error as CCPodError {
            Console.error(error.message)
            exit(error.status.rawValue)
        } catch {
            CCPodCommand.exit(withError: error)
        }
    }
}

/// The root command.
public struct CCPodCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ccpod",
        abstract: "Use Claude Code on your laptop and on a GPU pod as one workspace.",
        discussion: """
        ccpod carries Claude Code sessions, their history and a run's code between \
        this machine and a pod reached over SSH (RunPod first, any SSH host works). \
        Only new complete lines travel; nothing is ever overwritten silently.
        """,
        version: CCPodVersion.string,
        subcommands: CCPodCommand.allSubcommands
    )

    public init() {}
}

/// Writes to stderr, for people, and results to stdout. Everything passes through
/// `TerminalText.escape` (newlines and tabs kept): text from a pod or a file name
/// never reaches the terminal raw, and JSON keeps its meaning (see TerminalText).
public enum Console {
    public static func error(_ message: String) {
        FileHandle.standardError.write(Data("ccpod: \(TerminalText.escape(message, keepingLayout: true))\n".utf8))
    }

    public static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(TerminalText.escape(message, keepingLayout: true))\n".utf8))
    }

    /// A question on stderr, without a newline (the answer is typed after it).
    public static func ask(_ question: String) {
        FileHandle.standardError.write(Data(TerminalText.escape(question, keepingLayout: true).utf8))
    }

    /// Writes a result to stdout.
    public static func out(_ text: String) {
        FileHandle.standardOutput.write(Data(TerminalText.escape(text, keepingLayout: true).utf8))
    }

    public static var stderrIsTerminal: Bool { isatty(2) == 1 }
}
