import Foundation

/// Counts the processes a connection starts, so tests and benchmarks can assert
/// "one exec per operation". A connection records every invocation it builds
/// (`PodConnection.invocation(remoteCommand:)` is called once per process).
public final class ExecRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [String] = []

    public init() {}

    /// Process-wide recorder every `SSHConnection` and `LocalConnection` also reports to.
    /// Tests that run in parallel should inject their own recorder instead.
    public static let shared = ExecRecorder()

    /// How many invocations were built since the last `reset()`.
    public var count: Int { lock.withLock { recorded.count } }

    /// The remote commands, in order.
    public var commands: [String] { lock.withLock { recorded } }

    public func record(_ command: String) {
        lock.withLock { recorded.append(command) }
    }

    public func reset() {
        lock.withLock { recorded.removeAll() }
    }
}

/// Quoting for POSIX `sh`.
public enum ShellQuote {
    /// `text` as one `sh` word: single quotes, with `'` written as `'\''`.
    public static func quote(_ text: String) -> String {
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-+=:,@%".contains($0)) }) {
            return text
        }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
