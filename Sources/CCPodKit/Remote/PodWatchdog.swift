import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Watches one pod exchange for silence: every byte from the pod (stdout or stderr)
/// counts as a sign of life; when none came for `timeout` seconds, or when the
/// exchange is cancelled, the watchdog stops it. Stopping wakes every read and write
/// waiting on the exchange's pipes (they wait on `wakeDescriptor` too) and runs the
/// `onStop` action given to `start` (which kills the processes).
public final class PodWatchdog: @unchecked Sendable {
    /// Why an exchange was stopped.
    public enum Reason: Sendable, Equatable {
        /// Nothing came from the pod for `timeout` seconds.
        case stalled
        /// The user (or the program) asked it to stop.
        case cancelled
    }

    /// Seconds of silence before the exchange is stopped.
    public let timeout: TimeInterval
    private struct State {
        var lastActivity: UInt64
        var reason: Reason?
        var finished = false
        var onStop: (@Sendable (Reason) -> Void)?
    }
    private let state: Locked<State>
    private let wake: Pipe2
    private let finishedSignal = DispatchSemaphore(value: 0)

    public init(timeout: TimeInterval) throws {
        self.timeout = timeout
        wake = try Pipe2()
        state = Locked(State(lastActivity: Self.now()))
    }

    deinit {
        wake.closeBoth()
    }

    /// Readable once the exchange is stopped (never written to otherwise).
    var wakeDescriptor: Int32 { wake.read }

    /// Why the exchange was stopped; nil while it runs or after it ended by itself.
    public var reason: Reason? { state.current.reason }

    /// A byte came from the pod.
    public func touch() {
        let now = Self.now()
        state.withLock { $0.lastActivity = now }
    }

    /// Starts watching; `onStop` runs once, when the exchange is stopped (after every
    /// waiting read and write was woken), with the reason.
    func start(onStop: @escaping @Sendable (Reason) -> Void) {
        let stoppedAlready = state.withLock { s -> Reason? in
            s.onStop = onStop
            s.lastActivity = Self.now()
            return s.reason
        }
        if let stoppedAlready { onStop(stoppedAlready); return }
        // The thread holds the watchdog until `watch` returns, and nothing holds the
        // thread: kept in a property, the finished thread's closure kept the watchdog
        // (and its wake pipe) alive for good, two descriptors per exchange.
        let thread = Thread { [self] in self.watch() }
        thread.name = "ccpod-watchdog"
        thread.start()
    }

    /// Stops the exchange now (Ctrl-C, or a caller that has seen enough).
    public func cancel() { stop(.cancelled) }

    /// The exchange ended: the watchdog stops watching.
    func finish() {
        let first = state.withLock { s -> Bool in
            defer { s.finished = true }
            return !s.finished
        }
        if first { finishedSignal.signal() }
    }

    private func watch() {
        let limit = UInt64(max(timeout, 0.001) * 1e9)
        while true {
            let (last, done) = state.withLock { ($0.lastActivity, $0.finished || $0.reason != nil) }
            if done { return }
            let now = Self.now()
            let idle = now &- last
            if now >= last && idle >= limit {
                stop(.stalled)
                return
            }
            let wait = min(limit - (now >= last ? idle : 0), 1_000_000_000)
            if finishedSignal.wait(timeout: .now() + .nanoseconds(Int(wait))) == .success { return }
        }
    }

    private func stop(_ reason: Reason) {
        let action = state.withLock { s -> (@Sendable (Reason) -> Void)? in
            guard s.reason == nil, !s.finished else { return nil }
            s.reason = reason
            defer { s.onStop = nil }
            return s.onStop ?? { _ in }
        }
        guard let action else { return }
        var byte: UInt8 = 1
        _ = Glibc_write(wake.write, &byte, 1)
        action(reason)
    }

    /// The error a read or write waiting on the exchange throws once it was stopped.
    var stoppedError: Stopped { Stopped(reason: reason ?? .cancelled) }

    /// Thrown by reads and writes of an exchange the watchdog stopped; the exchange
    /// turns it into a sentence that names the pod and what it was doing.
    public struct Stopped: Error, Sendable {
        public var reason: Reason
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Waits until `fd` is ready for `events` (POLLIN or POLLOUT) or the exchange is
    /// stopped; false when it was stopped.
    func wait(for fd: Int32, events: Int16) -> Bool {
        var fds = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let rc = poll(&fds, 2, -1)
            if rc < 0 {
                if errno == EINTR { continue }
                return true
            }
            if fds[1].revents != 0 { return false }
            if fds[0].revents != 0 { return true }
        }
    }
}
