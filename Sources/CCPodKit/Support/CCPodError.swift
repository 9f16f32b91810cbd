import Foundation

/// Exit codes shared by every command (see README, "Exit codes").
public enum ExitStatus: Int32, Sendable {
    case ok = 0
    case failure = 1
    /// Conflicts were left for the user (`ccpod resolve`).
    case conflicts = 2
    /// A budget is used up (`--over-budget` goes on anyway).
    case overBudget = 3
    /// Bad command-line usage.
    case usage = 64
    /// Bad data: a session file, a config file, an answer from the pod.
    case badData = 65
    /// An input folder is missing (the Claude Code config dir); sysexits' EX_NOINPUT.
    case noInput = 66
    /// The pod restarted or moved and ccpod has no way to find it again (no proxy, no
    /// RunPod API, nobody to ask); the message names what to configure. sysexits' EX_NOHOST.
    case podLost = 68
    /// The pod cannot be reached or is not usable.
    case unavailable = 69
    /// A local file or folder could not be read or written.
    case ioError = 74
    /// Another ccpod holds the lock of this pod or Claude dir (`--no-wait`); sysexits' EX_TEMPFAIL.
    case busy = 75
    /// A credential was rejected (the RunPod API key); sysexits' EX_NOPERM.
    case notPermitted = 77
}

/// The one error type of ccpod: a sentence a user can act on, and the exit code it maps to.
public struct CCPodError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var status: ExitStatus
    public var message: String
    /// Set when the failure was ssh's own (what a pod restart causes), so callers can recover.
    public var sshFailure: SSHFailure?

    public init(_ status: ExitStatus, _ message: String, sshFailure: SSHFailure? = nil) {
        self.status = status
        self.message = message
        self.sshFailure = sshFailure
    }

    public var description: String { message }
    public var errorDescription: String? { message }

    public static func usage(_ message: String) -> CCPodError { .init(.usage, message) }
    public static func badData(_ message: String) -> CCPodError { .init(.badData, message) }
    public static func unavailable(_ message: String) -> CCPodError { .init(.unavailable, message) }
    public static func io(_ message: String) -> CCPodError { .init(.ioError, message) }
    public static func failure(_ message: String) -> CCPodError { .init(.failure, message) }
}
