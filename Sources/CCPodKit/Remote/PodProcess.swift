import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One process that talks to the pod (one `ssh` exec, or a local `sh` for `local:`
/// pods): the one place where ccpod starts it, wires its pipes (1 MiB), compresses
/// what it writes and decompresses what it reads when asked, collects its stderr
/// (bounded), and watches it for silence.
///
/// Every byte from the pod, on stdout or stderr, counts as a sign of life; the pod
/// scripts write a keepalive line on stderr every few seconds while they work. When
/// nothing came for the connection's `inactivityTimeout`, the watchdog wakes every
/// read and write ccpod is waiting in (they throw `PodWatchdog.Stopped`) and kills
/// the processes; the caller keeps what arrived, as for a cut connection, and
/// reports `stallError()`.
///
/// Use: `init` (starts the process), optionally `compressInput(with:)`, then write the
/// request with `startWriter` (from a thread, so the answer can be read meanwhile) or
/// `write` (in line), read the answer from `answer` (switched to a decompressor with
/// `decompressAnswer(with:)`, also mid-stream), and always end with `finish()` (or,
/// once a whole answer is read, `finishInBackground()`).
/// `cancel()` (Ctrl-C) stops it at once from any thread.
public final class PodProcess: @unchecked Sendable {
    /// What the process reads on stdin.
    public enum Input: Sendable {
        /// Nothing (/dev/null).
        case none
        /// What ccpod writes (`input`, `write`, `startWriter`).
        case pipe
        /// A local file, read by the process itself (never loaded into memory).
        case file(String)
    }

    /// How the process is run and named in messages.
    public struct Options: Sendable {
        /// What ccpod was doing, for messages ("syncing", "listing runs").
        public var activity: String
        /// What a stopped exchange left behind ("nothing was changed here").
        public var afterStop: String
        public var input: Input
        /// The process and what it starts get their own process group: Ctrl-C then
        /// reaches only ccpod, which stops the exchange itself (`cancel`).
        public var newProcessGroup: Bool
        /// Seconds without a byte from the pod before it is stopped; nil: the connection's.
        public var inactivityTimeout: TimeInterval?

        public init(activity: String, afterStop: String = "nothing was changed here", input: Input = .none,
                    newProcessGroup: Bool = false, inactivityTimeout: TimeInterval? = nil) {
            self.activity = activity
            self.afterStop = afterStop
            self.input = input
            self.newProcessGroup = newProcessGroup
            self.inactivityTimeout = inactivityTimeout
        }
    }

    /// The result of `finish()`.
    public struct Outcome: Sendable {
        /// Exit status of the local process (ssh's, or the local shell's); 128 + signal when killed.
        public var status: Int32
        /// Its stderr, keepalive lines dropped, bounded.
        public var stderr: String
        /// Why the watchdog stopped the exchange, if it did.
        public var stopped: PodWatchdog.Reason?
    }

    public let connection: any PodConnection
    public let options: Options
    public let watchdog: PodWatchdog
    let child: ChildProcess
    /// The raw stdout of the process.
    let output: FDReader
    /// Where the answer is read from: `output`, or the decompressor's output.
    private(set) var answer: FDReader
    private var decompressor: ChildProcess?
    private var compressor: RequestCompressor?
    /// ccpod's end of the process's stdin (after `compressInput`, still set while the
    /// input is open; the compressor holds the fds).
    private var inputFD: Int32 = -1
    private let stderrText = Locked(PodStderr())
    private let stderrDone = DispatchSemaphore(value: 0)
    private var writerDone: DispatchSemaphore?
    /// What the writer thread threw, if anything.
    public let writeError = Locked<Error?>(nil)
    /// The processes of the exchange that may be signalled: the main one first, then
    /// the (de)compressors. One leaves the list, under the lock, before it is reaped,
    /// so a signal from another thread never reaches a recycled pid.
    private let running: Locked<[ChildProcess]>
    private var outcome: Outcome?

    /// Starts `command` on the pod through `connection.invocation(remoteCommand:)`.
    public init(connection: any PodConnection, command: String, options: Options) throws {
        self.connection = connection
        self.options = options
        watchdog = try PodWatchdog(timeout: options.inactivityTimeout ?? connection.inactivityTimeout)
        let (arguments, environment) = try connection.invocation(remoteCommand: command)
        guard let executable = arguments.first else { throw CCPodError.failure("empty command for \(connection.displayName)") }
        let out = try Pipe2()
        let err: Pipe2
        do { err = try Pipe2() } catch { out.closeBoth(); throw error }
        out.enlarge()
        var stdin = ChildProcess.Stream.null
        var inPipe: Pipe2?
        var inFile: Int32 = -1
        func closeAll() {
            out.closeBoth(); err.closeBoth(); inPipe?.closeBoth()
            if inFile >= 0 { close(inFile) }
        }
        switch options.input {
        case .none: break
        case .pipe:
            do { inPipe = try Pipe2() } catch { closeAll(); throw error }
            inPipe?.enlarge()
            stdin = .fd(inPipe!.read)
        case .file(let path):
            inFile = open(path, O_RDONLY | O_CLOEXEC)
            guard inFile >= 0 else {
                let why = String(cString: strerror(errno))
                closeAll()
                throw CCPodError.io("cannot open \(path): \(why)")
            }
            stdin = .fd(inFile)
        }
        do {
            child = try ChildProcess.spawn(executable, Array(arguments.dropFirst()), environment: environment,
                                           stdin: stdin, stdout: .fd(out.write), stderr: .fd(err.write),
                                           newProcessGroup: options.newProcessGroup)
        } catch {
            closeAll()
            throw error
        }
        running = Locked([child])
        out.closeWrite(); err.closeWrite()
        if let inPipe { inPipe.closeRead(); inputFD = inPipe.write }
        if inFile >= 0 { close(inFile) }
        output = FDReader(fd: out.read, watchdog: watchdog)
        answer = output
        startStderrCollector(err.read)
        let running = self.running, group = options.newProcessGroup
        watchdog.start { reason in
            // A stalled pod is not asked twice; Ctrl-C lets the pod side clean up (SIGTERM).
            Self.signal(running, reason == .stalled ? SIGKILL : SIGTERM, group: group)
        }
    }

    private func startStderrCollector(_ fd: Int32) {
        let text = stderrText, done = stderrDone, watchdog = self.watchdog
        Thread.detachNewThread {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16384, alignment: 8)
            defer { buffer.deallocate() }
            // Waits for the pipe or for the watchdog: a process the pod left behind may
            // keep stderr open after the exchange was stopped.
            while watchdog.wait(for: fd, events: Int16(POLLIN)) {
                let n = Glibc_read(fd, buffer.baseAddress!, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                watchdog.touch()
                text.withLock { $0.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
            }
            close(fd)
            done.signal()
        }
    }

    /// Where the request goes (the compressor after `compressInput`); nil without `.pipe` input.
    var input: PodInput? {
        if let compressor { return inputFD >= 0 ? PodInput(compressor: compressor, watchdog: watchdog) : nil }
        return inputFD >= 0 ? PodInput(fd: inputFD, watchdog: watchdog) : nil
    }

    /// Compresses everything written from here on with `tool` (a filter command), or,
    /// given more `steps` (lightest first), with the next one whenever the link turns
    /// out to hold the stream back (`RequestCompressor`).
    public func compressInput(with tool: [String], steps: [[String]] = []) throws {
        guard inputFD >= 0, compressor == nil, !tool.isEmpty else { return }
        let running = self.running
        compressor = try RequestCompressor(
            steps: [tool] + steps.filter { !$0.isEmpty }, sink: inputFD,
            started: { process in running.withLock { $0.append(process) } },
            reap: { [unowned self] process in self.reap(process) })
        // ccpod writes to the compressor from now on; `inputFD` only says the input is open.
    }

    /// Writes `data` to the process's stdin now.
    public func write(_ data: Data) throws {
        guard let input else { throw CCPodError.failure("the exchange with \(connection.displayName) takes no input") }
        try input.write(data)
    }

    /// Writes the request from a thread, so the answer can be read meanwhile; stdin is
    /// closed when `body` returns. What it throws is kept in `writeError`.
    func startWriter(_ body: @escaping @Sendable (PodInput) throws -> Void) {
        guard let input, writerDone == nil else { return }
        let done = DispatchSemaphore(value: 0), errorBox = writeError
        writerDone = done
        inputFD = -1
        Thread.detachNewThread {
            do { try body(input) } catch { errorBox.withLock { $0 = error } }
            input.close()
            done.signal()
        }
    }

    /// Closes stdin (the process reads its end).
    public func closeInput() {
        guard inputFD >= 0 else { return }
        if let compressor { compressor.closeInput() } else { close(inputFD) }
        inputFD = -1
    }

    /// Reads the rest of the answer through `tool` (a decompressing filter), or through
    /// `ZstdDecoder` in this process when `tool` is ccpod's zstd and the system has
    /// libzstd; bytes the answer reader had read ahead go first. False when already switched.
    @discardableResult
    public func decompressAnswer(with tool: [String]) throws -> Bool {
        guard let executable = tool.first, decompressor == nil, answer === output else { return false }
        let pending = output.takeBuffered()
        // zstd in this process where the system has libzstd: no child, no second pipe;
        // it decodes on a thread of its own (`DecodeAhead`).
        if tool == Compression.zstd.decompressor, let decoder = ZstdDecoder(prefix: pending) {
            answer = try FDReader(fd: output.fd, watchdog: watchdog, decoder: decoder)
            return true
        }
        let out = try Pipe2()
        out.enlarge()
        let process: ChildProcess
        do {
            if pending.isEmpty {
                // The decompressor reads the rest of the stream straight from the pipe.
                process = try ChildProcess.spawn(executable, Array(tool.dropFirst()), stdin: .fd(output.fd), stdout: .fd(out.write), stderr: .null)
            } else {
                process = try Self.spawnWithPrefix(tool, prefix: pending, rest: output.fd, output: out.write, watchdog: watchdog)
            }
        } catch {
            out.closeBoth()
            throw error
        }
        out.closeWrite()
        decompressor = process
        running.withLock { $0.append(process) }
        answer = FDReader(fd: out.read, watchdog: watchdog)
        return true
    }

    /// A decompressor fed first with bytes already read, then with the rest of the pipe.
    static func spawnWithPrefix(_ tool: [String], prefix: Data, rest: Int32, output: Int32, watchdog: PodWatchdog? = nil) throws -> ChildProcess {
        let feed = try Pipe2()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()), stdin: .fd(feed.read), stdout: .fd(output), stderr: .null)
        } catch {
            feed.closeBoth()
            throw error
        }
        feed.closeRead()
        let writeFD = feed.write
        Thread.detachNewThread {
            _ = try? FileDescriptorIO.writeAll(writeFD, prefix, path: "decompressor")
            let size = 1 << 16
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                if let watchdog, !watchdog.wait(for: rest, events: Int16(POLLIN)) { break }
                let n = Glibc_read(rest, buffer.baseAddress!, size)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                watchdog?.touch()
                if (try? FileDescriptorIO.writeAll(writeFD, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: "decompressor")) == nil { break }
            }
            close(writeFD)
        }
        return child
    }

    /// Reads the whole answer (at most `limit` bytes). More than that stops the process
    /// and throws an error that says so.
    /// The answer to its end, written to `path` as it arrives: at most `limit` bytes, else
    /// the exchange is stopped and refused as `readAll` refuses.
    public func saveAll(toFile path: String, limit: Int64) throws -> Int64 {
        guard let count = try answer.copyToEnd(toFile: path, limit: limit) else {
            cancel()
            throw CCPodError.badData("the pod \(connection.displayName) sent more than \(Self.describe(bytes: Int(limit))) while \(options.activity); \(options.afterStop)")
        }
        return count
    }

    public func readAll(limit: Int) throws -> Data {
        guard let data = try answer.readToEnd(limit: limit) else {
            cancel()
            throw CCPodError.badData("the pod \(connection.displayName) sent more than \(Self.describe(bytes: limit)) while \(options.activity); \(options.afterStop)")
        }
        return data
    }

    /// Stops the exchange at once (Ctrl-C): every read and write waiting on it ends
    /// (throwing `PodWatchdog.Stopped`), the processes get SIGTERM (the process group
    /// when it has its own).
    public func cancel() {
        watchdog.cancel()
    }

    /// After a complete answer, when nothing more is wanted from the process: waits
    /// for the request's writer (a whole answer means the agent read the request to
    /// its end) and returns what it failed with, if anything; the process is then
    /// finished on a thread of its own, so the pod's clean-up and the connection's
    /// close are not waited for. Its outcome is not looked at.
    public func finishInBackground() -> Error? {
        writerDone?.wait()
        writerDone = nil
        let error = writeError.current
        Thread.detachNewThread { _ = self.finish() }
        return error
    }

    /// Waits for every process and thread of the exchange; call it once whatever happened.
    @discardableResult
    public func finish() -> Outcome {
        if let outcome { return outcome }
        // A thread decoding the answer ahead holds a copy of its descriptor: stopped first.
        answer.stopReadingAhead()
        // Closing the read ends first: a process still writing gets EPIPE, not a full pipe.
        if answer !== output && answer.fd != output.fd { close(answer.fd) }
        close(output.fd)
        if writerDone == nil { closeInput() }
        let status = reap(child)
        if let decompressor { reap(decompressor) }
        writerDone?.wait()
        if let last = compressor?.process { reap(last) }
        stderrDone.wait()
        watchdog.finish()
        let result = Outcome(status: status, stderr: stderrText.current.text, stopped: watchdog.reason)
        outcome = result
        return result
    }

    /// Sends `sig` to the processes still running (the first one's group with `group`).
    private static func signal(_ running: Locked<[ChildProcess]>, _ sig: Int32, group: Bool) {
        running.withLock { processes in
            for (i, process) in processes.enumerated() {
                if i == 0 && group { process.signalGroup(sig) }
                process.signal(sig)
            }
        }
    }

    /// Waits until `process` exits, takes it off the list of processes to signal, then reaps it.
    @discardableResult
    private func reap(_ process: ChildProcess) -> Int32 {
        var info = siginfo_t()
        while waitid(P_PID, id_t(process.pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        running.withLock { $0.removeAll { $0.pid == process.pid } }
        return process.wait()
    }

    /// The sentence for an exchange the watchdog stopped for silence.
    public func stallError() -> CCPodError {
        .unavailable("the pod \(connection.displayName) sent nothing for \(Self.describe(seconds: watchdog.timeout)) while \(options.activity); it may be stalled or overloaded; \(options.afterStop); run the command again")
    }

    static func describe(seconds: TimeInterval) -> String {
        seconds == seconds.rounded() && seconds < 1e9 ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }

    static func describe(bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : bytes % 1024 == 0 ? "\(bytes >> 10) KiB" : "\(bytes) bytes"
    }

    /// The default inactivity timeout: `CCPOD_TIMEOUT` (seconds) when set, else the
    /// pod's configured `inactivityTimeout`, else 60 s.
    public static func inactivityTimeout(configured: TimeInterval? = nil,
                                         environment: [String: String] = ProcessInfo.processInfo.environment) -> TimeInterval {
        if let text = environment["CCPOD_TIMEOUT"], let seconds = parseTimeout(text) { return seconds }
        return configured ?? 60
    }

    /// A timeout in seconds: a positive number up to a day.
    public static func parseTimeout(_ text: String) -> TimeInterval? {
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0, seconds <= 86400 else { return nil }
        return seconds
    }
}
