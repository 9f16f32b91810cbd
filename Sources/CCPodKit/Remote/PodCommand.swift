import Foundation

/// Short commands on the pod (`runs`, `check`, `setup`, `launch`, `deploy`), through
/// `PodProcess` like every exchange: watched for silence, their output bounded.
public enum PodCommand {
    /// The most stdout a command may send; more fails the command.
    public static let outputLimit = 8 << 20
}

extension PodConnection {
    /// Runs `command` on the pod through `invocation(remoteCommand:)`, feeding `input`,
    /// and returns its output; failures of the transport itself are thrown as
    /// explained errors, a failing remote command is returned as it is.
    ///
    /// `activity` says what ccpod was doing in messages ("listing runs"). Stdout beyond
    /// `outputLimit` fails the command; stderr is kept to 64 KiB ("… and N more
    /// bytes …"), the pod scripts' keepalive lines left out.
    public func runCommand(_ command: String, input: Data? = nil, activity: String = "running a command",
                           outputLimit: Int = PodCommand.outputLimit) throws -> ChildProcess.Output {
        try collect(command, input: input == nil ? .none : .pipe, data: input, activity: activity, limit: outputLimit)
    }

    /// Runs `command` on the pod with stdin read from the file `stdinPath` (streamed,
    /// never loaded into memory); stdout and stderr are collected as by
    /// `runCommand(_:input:activity:)`, and transport failures thrown the same way.
    public func runCommand(_ command: String, stdinPath: String, activity: String = "deploying") throws -> ChildProcess.Output {
        try collect(command, input: .file(stdinPath), data: nil, activity: activity, limit: PodCommand.outputLimit)
    }

    /// Runs `command` on the pod with its stdout written to the file `outputPath` as it
    /// arrives (never held in memory), at most `outputLimit` bytes; the returned output's
    /// stdout is empty. Failures as `runCommand(_:input:activity:outputLimit:)`.
    public func runCommand(_ command: String, outputPath: String, activity: String, outputLimit: Int) throws -> ChildProcess.Output {
        try collect(command, input: .none, data: nil, activity: activity, limit: outputLimit, outputPath: outputPath)
    }

    private func collect(_ command: String, input: PodProcess.Input, data: Data?, activity: String, limit: Int,
                         outputPath: String? = nil) throws -> ChildProcess.Output {
        let process = try PodProcess(connection: self, command: command, options: .init(activity: activity, input: input))
        if let data {
            // A command that does not read all of its input is not an error.
            process.startWriter { try $0.write(data) }
        }
        let stdout: Data
        do {
            if let outputPath {
                _ = try process.saveAll(toFile: outputPath, limit: Int64(limit))
                stdout = Data()
            } else {
                stdout = try process.readAll(limit: limit)
            }
        } catch let refused as CCPodError where refused.status == .badData {
            // ccpod's own refusal (too much output) is the reason, not the process it stopped.
            process.finish()
            throw refused
        } catch {
            process.cancel()
            let outcome = process.finish()
            if outcome.stopped == .stalled || error is PodWatchdog.Stopped { throw process.stallError() }
            if let explained = explainFailure(status: outcome.status, stderr: outcome.stderr) { throw explained }
            throw error
        }
        let outcome = process.finish()
        let output = ChildProcess.Output(status: outcome.status, stdout: stdout, stderr: Data(outcome.stderr.utf8))
        if output.status != 0, let error = explainFailure(status: output.status, stderr: outcome.stderr) {
            throw error
        }
        return output
    }
}
