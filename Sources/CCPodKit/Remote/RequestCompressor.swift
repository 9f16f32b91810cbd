import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The compressor between ccpod and the pod's stdin, made denser mid-stream when the
/// link holds the stream back (`CompressionPace`): the running compressor's input is
/// closed, it ends its frame and exits, and the next step's compressor writes on into
/// the same stdin; the pod's `zstd -d` reads the frames back to back as one stream.
/// Used from one thread at a time (the request's writer, then `PodProcess.finish`).
final class RequestCompressor: @unchecked Sendable {
    /// ccpod's end of the pod process's stdin, held while a later step may still start.
    private var sink: Int32
    private let steps: [[String]]
    private(set) var step = 0
    /// Where the request goes now: the running compressor's stdin.
    private(set) var fd: Int32 = -1
    /// The running compressor; nil between one step's end and the next's start.
    private(set) var process: ChildProcess?
    private var nonBlocking = false
    private let firstPace: CompressionPace
    private var pace: CompressionPace
    /// The window being measured: when it began, bytes and waiting in it, and the
    /// compressor's CPU time at its start.
    private var windowStart: TimeInterval?
    private var windowBytes: Int64 = 0
    private var windowBlocked: TimeInterval = 0
    private var cpuAtStart: TimeInterval?
    private let started: (ChildProcess) -> Void
    private let reap: (ChildProcess) -> Int32

    /// Starts the first of `steps` (filter commands, lightest first) writing into `sink`,
    /// which it then owns. `started` and `reap` keep the caller's list of processes to signal.
    init(steps: [[String]], sink: Int32, pace: CompressionPace = CompressionPace(),
         started: @escaping (ChildProcess) -> Void, reap: @escaping (ChildProcess) -> Int32) throws {
        precondition(!steps.isEmpty)
        self.steps = steps
        self.firstPace = pace
        self.pace = pace
        self.sink = sink
        self.started = started
        self.reap = reap
        // The compressor writes to this end blocking (ccpod's own writes may have made it non-blocking).
        _ = fcntl(sink, F_SETFL, fcntl(sink, F_GETFL) & ~O_NONBLOCK)
        let (first, input) = try Self.spawn(steps[0], into: sink)
        (process, fd) = (first, input)
        started(first)
        releaseSinkIfLast()
    }

    /// The writer makes its end non-blocking (it waits with the watchdog); later steps' too.
    func setNonBlocking() {
        nonBlocking = true
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Counts `bytes` the compressor took after ccpod waited `blocked` seconds for it;
    /// moves to the next step when the pace says the link holds the stream back.
    func took(_ bytes: Int, blocked: TimeInterval) throws {
        guard step + 1 < steps.count, let running = process else { return }
        let now = ProcessInfo.processInfo.systemUptime
        windowBytes += Int64(bytes)
        windowBlocked += blocked
        guard let start = windowStart, now - start >= pace.window else {
            if windowStart == nil { startWindow(at: now, cpu: CPUTime.ofProcess(running.pid)) }
            return
        }
        let cpu = CPUTime.ofProcess(running.pid)
        let window = CompressionPace.Window(seconds: now - start, blocked: windowBlocked,
                                            compressorCPU: cpu.flatMap { c in cpuAtStart.map { c - $0 } })
        let bytesInWindow = windowBytes
        startWindow(at: now, cpu: cpu)
        if pace.judge(window, bytes: bytesInWindow) { try nextStep() }
    }

    private func startWindow(at now: TimeInterval, cpu: TimeInterval?) {
        windowStart = now
        windowBytes = 0
        windowBlocked = 0
        cpuAtStart = cpu
    }

    /// Ends this step's compressor (its frame complete) and starts the next one.
    private func nextStep() throws {
        close(fd)
        fd = -1
        if let ended = process {
            process = nil
            guard reap(ended) == 0 else {
                throw CCPodError.io("the local compressor (\(steps[step][0])) failed while sending the request; run the command again")
            }
        }
        step += 1
        pace = firstPace
        windowStart = nil
        let (next, input) = try Self.spawn(steps[step], into: sink)
        (process, fd) = (next, input)
        started(next)
        if nonBlocking { setNonBlocking() }
        releaseSinkIfLast()
    }

    /// Closes the compressor's input (it ends the stream) and ccpod's end of the pod's stdin.
    func closeInput() {
        if fd >= 0 { close(fd); fd = -1 }
        if sink >= 0 { close(sink); sink = -1 }
    }

    private func releaseSinkIfLast() {
        if step + 1 >= steps.count, sink >= 0 { close(sink); sink = -1 }
    }

    private static func spawn(_ tool: [String], into sink: Int32) throws -> (ChildProcess, Int32) {
        let pipe = try Pipe2()
        pipe.enlarge()
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()), stdin: .fd(pipe.read), stdout: .fd(sink), stderr: .null)
        } catch {
            pipe.closeBoth()
            throw error
        }
        pipe.closeRead()
        return (process, pipe.write)
    }
}
