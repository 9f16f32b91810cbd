import Foundation

/// Why an `ssh` call failed before the remote command ran.
public enum SSHFailure: String, Sendable, Codable, Equatable {
    /// The server refused our key (`Permission denied (publickey)`).
    case authenticationRefused
    /// No answer: timed out, no route, unknown host name.
    case unreachable
    /// Nothing listens on the port (on RunPod: the pod restarted on another port, or is stopped).
    case connectionRefused
    /// The pinned host key does not match the one the server showed.
    case hostKeyChanged
    /// No host key is pinned for this pod yet.
    case hostKeyUnknown
    /// The connection was set up and then closed or reset.
    case connectionLost
}
