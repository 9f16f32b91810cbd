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

    /// The reason the script gave (its `ccpod-deploy: ` line), else stderr's last line.
    static func reason(_ stderr: String) -> String {
        let lines = stderr.split(whereSeparator: \.isNewline).map(String.init)
        if let line = lines.last(where: { $0.hasPrefix("ccpod-deploy: ") }) {
            return String(line.dropFirst("ccpod-deploy: ".count))
        }
        return lines.last ?? "no message"
    }

    /// Whether stderr says the pod's disk (or quota) is full.
    static func saysDiskFull(_ stderr: String) -> Bool {
        let s = stderr.lowercased()
        return s.contains("no space left on device") || s.contains("disk quota exceeded") || s.contains("file too large")
    }
}

extension PodConnection {
    /// Runs `command` on the pod with stdin read from the file `stdinPath` (streamed,
    /// never loaded into memory); stdout and stderr are collected. Transport failures
    /// are thrown as explained errors, like `runCommand(_:input:)`.
    public func runCommand(_ command: String, stdinPath: String) throws -> ChildProcess.Output {
        let (arguments, environment) = try invocation(remoteCommand: command)
        let scratch = try TemporaryFolder(prefix: "ccpod-exec")
        defer { scratch.remove() }
        func openFile(_ path: String, _ flags: Int32) throws -> Int32 {
            let fd = open(path, flags | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CCPodError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
            return fd
        }
        let input = try openFile(stdinPath, O_RDONLY)
        defer { close(input) }
        let outPath = scratch.path + "/stdout", errPath = scratch.path + "/stderr"
        let out = try openFile(outPath, O_WRONLY | O_CREAT | O_EXCL)
        let err: Int32
        do { err = try openFile(errPath, O_WRONLY | O_CREAT | O_EXCL) } catch { close(out); throw error }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(arguments[0], Array(arguments.dropFirst()), environment: environment,
                                           stdin: .fd(input), stdout: .fd(out), stderr: .fd(err))
        } catch {
            close(out); close(err)
            throw error
        }
        close(out); close(err)
        let status = child.wait()
        let output = ChildProcess.Output(
            status: status,
            stdout: FileManager.default.contents(atPath: outPath) ?? Data(),
            stderr: FileManager.default.contents(atPath: errPath) ?? Data())
        if output.status != 0, let error = explainFailure(status: output.status, stderr: output.stderrText) {
            throw error
        }
        return output
    }
}
