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
///
/// A reader that went away (`ccpod push --json | head -1`, a closed terminal) never
/// stops ccpod part way: the write fails with EPIPE (SIGPIPE is ignored), the rest of
/// that stream's output is dropped, and the command finishes its work and exits as it
/// would have.
public enum Console {
    public static func error(_ message: String) {
        writeError("ccpod: \(TerminalText.escape(message, keepingLayout: true))\n")
    }

    public static func note(_ message: String) {
        writeError("\(TerminalText.escape(message, keepingLayout: true))\n")
    }

    /// A question on stderr, without a newline (the answer is typed after it).
    public static func ask(_ question: String) {
        writeError(TerminalText.escape(question, keepingLayout: true))
    }

    /// Writes a result to stdout.
    public static func out(_ text: String) {
        write(TerminalText.escape(text, keepingLayout: true), to: 1)
    }

    /// Writes text already made safe (progress lines of ccpod's own) to stderr.
    public static func writeError(_ text: String) {
        write(text, to: 2)
    }

    public static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Streams (1, 2) whose reader is gone: nothing more is written to them.
    private static let closed = Locked<Set<Int32>>([])

    private static func write(_ text: String, to fd: Int32) {
        guard !closed.withLock({ $0.contains(fd) }) else { return }
        do {
            try FileDescriptorIO.writeAll(fd, Data(text.utf8), path: fd == 1 ? "standard output" : "standard error")
        } catch {
            closed.withLock { _ = $0.insert(fd) }
        }
    }
}
