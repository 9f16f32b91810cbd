import Foundation

/// A POSIX `sh` script built into ccpod and run on the pod from the command line
/// (base64 in the command, so stdin stays free for data), never through a login shell.
public enum InlineScript {
    /// `exec sh -c "<script>" NAME ARGS…`, every argument quoted for sh.
    public static func command(_ script: [UInt8], name: String, arguments: [String]) -> String {
        let b64 = Data(script).base64EncodedString()
        let words = arguments.map(ShellQuote.quote).joined(separator: " ")
        return "exec sh -c \"$(printf %s \(b64) | base64 -d)\" \(name)" + (words.isEmpty ? "" : " \(words)")
    }
}
