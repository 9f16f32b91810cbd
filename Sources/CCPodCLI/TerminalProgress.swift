import CCPodKit
import Foundation

/// One line of progress: `3/12 files · 1.2 MB / 4.0 MB · 850.0 KB/s · 3 s left`.
public enum ProgressLine {
    public static func text(_ s: TransferProgress.Snapshot, elapsed: Double) -> String {
        var parts = ["\(s.filesDone)/\(s.filesTotal) files", "\(bytes(s.bytesDone)) / \(bytes(max(s.bytesTotal, s.bytesDone)))"]
        let rate = elapsed > 0.2 ? Double(s.bytesDone) / elapsed : 0
        if rate > 0 {
            parts.append("\(bytes(Int64(rate)))/s")
            let left = Double(max(0, s.bytesTotal - s.bytesDone)) / rate
            parts.append("\(duration(left)) left")
        }
        return parts.joined(separator: " · ")
    }

    public static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return String(format: "%.1f KB", Double(n) / 1024) }
        if n < 1024 * 1024 * 1024 { return String(format: "%.1f MB", Double(n) / 1_048_576) }
        return String(format: "%.2f GB", Double(n) / 1_073_741_824)
    }

    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}

/// Draws progress as one updating line on a terminal, at most every `interval`
/// seconds, and clears it before the summary. Draws nothing when `isTerminal` is false
/// (tests, CI, a pipe), so stderr then carries only what people are told anyway.
public final class TerminalProgress: Sendable {
    private struct State {
        var started: Double?
        var lastDraw: Double?
        var drawn = false
    }

    public let isTerminal: Bool
    public let interval: Double
    private let clock: @Sendable () -> Double
    private let write: @Sendable (String) -> Void
    private let state = Locked(State())

    /// - Parameters:
    ///   - isTerminal: whether stderr is a terminal (and progress is wanted at all).
    ///   - clock: seconds, monotonic; injected for tests.
    ///   - write: where the line goes (stderr).
    public init(isTerminal: Bool, interval: Double = 0.1,
                clock: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime },
                write: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.interval = interval
        self.clock = clock
        self.write = write
    }

    /// A transfer counter that draws through this line (nil when nothing is drawn).
    public func meter() -> TransferProgress? {
        guard isTerminal else { return nil }
        return TransferProgress { [self] in self.update($0) }
    }

    /// Redraws the line if `interval` passed since the last draw.
    public func update(_ snapshot: TransferProgress.Snapshot) {
        guard isTerminal else { return }
        let now = clock()
        let line: String? = state.withLock { s in
            if s.started == nil { s.started = now }
            if let last = s.lastDraw, now - last < interval { return nil }
            s.lastDraw = now
            s.drawn = true
            return ProgressLine.text(snapshot, elapsed: now - (s.started ?? now))
        }
        if let line { write("\r\u{1B}[K" + line) }
    }

    /// Removes the line (before the summary is printed).
    public func clear() {
        let drawn = state.withLock { s -> Bool in
            defer { s.drawn = false }
            return s.drawn
        }
        if drawn { write("\r\u{1B}[K") }
    }
}
