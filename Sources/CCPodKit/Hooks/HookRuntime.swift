import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What Claude Code gives a hook on stdin: `{"session_id", "transcript_path", "cwd",
/// "hook_event_name", …}`. Only a session id that is a UUID and an absolute cwd are kept.
public struct HookInput: Sendable, Equatable {
    public var sessionId: String
    public var cwd: String?
    public var event: String?

    /// At most this much of stdin is read.
    public static let limit = 256 * 1024

    public init(sessionId: String, cwd: String? = nil, event: String? = nil) {
        self.sessionId = sessionId
        self.cwd = cwd
        self.event = event
    }

    public static func parse(_ data: Data) -> HookInput? {
        guard data.count <= limit,
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let id = object["session_id"] as? String, UUID(uuidString: id) != nil
        else { return nil }
        let cwd = (object["cwd"] as? String).flatMap { $0.hasPrefix("/") && $0.utf8.count < 4096 && !$0.contains("\0") ? $0 : nil }
        let event = (object["hook_event_name"] as? String).map { String($0.prefix(64)) }
        return HookInput(sessionId: id.lowercased(), cwd: cwd, event: event)
    }

    /// Reads stdin up to `limit` bytes, until its end or a complete JSON object, for at
    /// most `seconds`; a terminal is not read.
    public static func readStandardInput(seconds: Double = 1) -> Data {
        guard isatty(0) == 0 else { return Data() }
        let deadline = Date().addingTimeInterval(seconds)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while data.count <= limit {
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 1, left)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { break }
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            data.append(contentsOf: buffer[0..<n])
            // A complete object is all there is: no need to wait for the end of input.
            if let last = data.last(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }), last == UInt8(ascii: "}"),
                (try? JSONSerialization.jsonObject(with: data)) != nil {
                break
            }
        }
        return data
    }
}

/// `<state>/logs/hooks.log`: what hooks and their background jobs did, one line each
/// (and the output of the syncs they ran). Past 1 MiB it moves to `hooks.log.1`.
public struct HookLog: Sendable {
    public let file: URL
    public static let rotateAt: Int64 = 1 << 20

    public init(stateDir: URL) {
        file = stateDir.appendingPathComponent("logs", isDirectory: true).appendingPathComponent("hooks.log")
    }

    /// Opens the log for appending (rotating it first when it is too big); -1 when it cannot.
    public func open() -> Int32 {
        try? CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        var info = stat()
        if stat(file.path, &info) == 0, Int64(info.st_size) > Self.rotateAt {
            rename(file.path, file.path + ".1")
        }
        #if canImport(Glibc)
        return Glibc.open(file.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        #else
        return Darwin.open(file.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        #endif
    }

    /// Appends one line with the time: `2026-12-06T08:00:00Z hook: …`.
    public func append(_ line: String) {
        let fd = open()
        guard fd >= 0 else { return }
        defer { close(fd) }
        let text = "\(ISO8601DateFormatter().string(from: Date())) \(TerminalText.escape(line))\n"
        try? FileDescriptorIO.writeAll(fd, Data(text.utf8), path: file.path)
    }

    /// The log's text (tests, `ccpod hooks status`): at most the last `limit` bytes.
    public func tail(limit: Int = 64 * 1024) -> String {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(limit) ? size - UInt64(limit) : 0)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }
}

/// A hook's work, started so that Claude never waits for it: a child in its own session
/// (no terminal, not in Claude's process group), stdin from /dev/null, stdout and stderr
/// into the hook log; the hook returns as soon as the child is started.
public enum HookLauncher {
    /// Starts `executable arguments` detached; throws only when it cannot be started.
    public static func detach(_ executable: String, _ arguments: [String], log: HookLog) throws {
        let fd = log.open()
        defer { if fd >= 0 { close(fd) } }
        let output: ChildProcess.Stream = fd >= 0 ? .fd(fd) : .null
        _ = try ChildProcess.spawn(executable, arguments, stdin: .null, stdout: output, stderr: output, newSession: true)
    }

    /// This program's own path (the hook runs the ccpod it was installed with).
    public static var selfExecutable: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
    }
}

/// The background job of a hook: waits until Claude has let go of the session (its
/// `sessions/<pid>.json` gone, at most `releaseWait` seconds), then runs one ccpod
/// command with a time limit, and writes a line before and after into the hook log.
public struct HookJob: Sendable {
    public var log: HookLog
    public var claudeDir: URL?
    public var sessionId: String?
    /// How long the command may run; then its process group is ended.
    public var timeLimit: Double
    public var releaseWait: Double = 30

    public init(log: HookLog, claudeDir: URL?, sessionId: String?, timeLimit: Double) {
        self.log = log
        self.claudeDir = claudeDir
        self.sessionId = sessionId
        self.timeLimit = timeLimit
    }

    /// Runs `executable arguments` (its output goes to the log); returns its exit status.
    @discardableResult
    public func run(label: String, _ executable: String, _ arguments: [String]) -> Int32 {
        if let sessionId, let claudeDir {
            let deadline = Date().addingTimeInterval(releaseWait)
            while LiveSessions.ids(configDir: claudeDir).contains(sessionId), Date() < deadline { usleep(100_000) }
        }
        let started = Date()
        log.append("hook: \(label): started `ccpod \(arguments.joined(separator: " "))`")
        let fd = log.open()
        defer { if fd >= 0 { close(fd) } }
        let output: ChildProcess.Stream = fd >= 0 ? .fd(fd) : .null
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable, arguments, stdin: .null, stdout: output, stderr: output, newProcessGroup: true)
        } catch {
            log.append("hook: \(label): could not start: \(error)")
            return 1
        }
        var status: Int32 = 0
        var timedOut = false
        let deadline = started.addingTimeInterval(timeLimit)
        while true {
            let done = waitpid(child.pid, &status, WNOHANG)
            if done == child.pid { break }
            if done < 0 && errno != EINTR { break }
            if Date() >= deadline && !timedOut {
                timedOut = true
                child.signalGroup(SIGTERM)
                // A last chance to finish the file in flight, then everything ends.
                let hard = Date().addingTimeInterval(5)
                while waitpid(child.pid, &status, WNOHANG) == 0 && Date() < hard { usleep(100_000) }
                child.signalGroup(SIGKILL)
                _ = waitpid(child.pid, &status, 0)
                break
            }
            usleep(50_000)
        }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
        log.append(timedOut
            ? "hook: \(label): stopped after the time limit of \(Int(timeLimit)) s"
            : "hook: \(label): finished with exit \(code) in \(seconds) s")
        return code
    }
}
