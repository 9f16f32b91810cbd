import Foundation

/// `ccpod watch`'s rounds: one sync (the caller's `round`, the code path of `ccpod sync`)
/// when files changed here or the interval passed; one line per round that moved
/// something; while the pod cannot be reached, rounds come less often (`WatchBackoff`)
/// and that is said once, then once when it is back; a round that finds another ccpod at
/// work is skipped, not queued.
public struct WatchLoop {
    /// What one round did.
    public enum Round: Sendable, Equatable {
        /// Something moved: the line to print.
        case moved(String)
        case nothing
        /// Another ccpod holds the lock: skipped.
        case busy
        /// The pod could not be reached (the reason).
        case unreachable(String)
        /// Anything else went wrong (the reason).
        case failed(String)
    }

    public var podName: String
    public var backoff: WatchBackoff
    public let watcher: LocalChangeWatcher
    /// A result line (stdout) and a note (stderr).
    public var output: (String) -> Void
    public var note: (String) -> Void

    public init(podName: String, backoff: WatchBackoff, watcher: LocalChangeWatcher,
                output: @escaping (String) -> Void, note: @escaping (String) -> Void) {
        self.podName = podName
        self.backoff = backoff
        self.watcher = watcher
        self.output = output
        self.note = note
    }

    /// The least time between the starts of two rounds when files here keep changing
    /// (a working Claude appends every few seconds): half the interval, at most 5 s.
    public var minimumGap: Double { min(backoff.interval / 2, 5) }

    /// Runs rounds until `stop` holds (checked between rounds and while waiting).
    public mutating func run(stop: () -> Bool, round: () -> Round) {
        var lastFailure: String?
        while !stop() {
            let started = Date()
            switch round() {
            case .moved(let line):
                output(line)
                reached()
                lastFailure = nil
            case .nothing:
                reached()
                lastFailure = nil
            case .busy:
                break
            case .unreachable(let why):
                if backoff.failed() {
                    note("\(podName) unreachable; retrying every \(WatchBackoff.describe(backoff.delay)), then less often (at most every \(WatchBackoff.describe(backoff.cap))): \(why)")
                }
            case .failed(let why):
                _ = backoff.failed()
                if why != lastFailure { note("watch: \(why); retrying in \(WatchBackoff.describe(backoff.delay))") }
                lastFailure = why
            }
            if stop() { return }
            if backoff.failures > 0 {
                // The pod is away: local changes wait for it.
                let end = Date().addingTimeInterval(backoff.delay)
                while Date() < end, !stop() { usleep(100_000) }
            } else if watcher.wait(seconds: backoff.interval, stop: stop) {
                // A change here: the next round, but not sooner than the gap.
                while Date().timeIntervalSince(started) < minimumGap, !stop() { usleep(50_000) }
            }
        }
    }

    private mutating func reached() {
        if backoff.succeeded() { note("\(podName) is reachable again") }
    }
}
