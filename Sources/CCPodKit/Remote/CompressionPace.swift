import Foundation

/// When to compress a stream harder: when the compressor spends its time waiting for
/// the link instead of compressing.
///
/// Window by window: the compressor's CPU time says how busy it was, and the time ccpod
/// spent waiting to hand it bytes says whether it took them. Mostly idle while ccpod
/// waited on it, the compressor was waiting to write: the link (or the pod) drains
/// slower than it compresses, so a denser level costs no time and sends fewer bytes.
/// A denser level takes about three times the CPU; the compressor must have been busy
/// less than a quarter of one core, so that even then it stays ahead of the link.
/// (On a loopback link with the pod on the same two cores the compressor is busy a
/// third to a half of a core and keeps its level; on a 20 Mbit/s link a tenth.)
///
/// Pure: the caller measures. Where the system does not say what the compressor's CPU
/// time is, nothing is judged and the stream keeps its level.
public struct CompressionPace: Sendable {
    /// One window's measures.
    public struct Window: Sendable {
        public var seconds: TimeInterval
        /// Seconds ccpod waited for the compressor to take its bytes.
        public var blocked: TimeInterval
        /// CPU seconds the compressor used (all its threads); nil when not known.
        public var compressorCPU: TimeInterval?

        public init(seconds: TimeInterval, blocked: TimeInterval, compressorCPU: TimeInterval?) {
            self.seconds = seconds
            self.blocked = blocked
            self.compressorCPU = compressorCPU
        }
    }

    /// Seconds per window.
    public var window: TimeInterval = 0.5
    /// Windows in a row that must say "the link".
    public var slowWindows = 2
    /// Busier than this (in cores), the compressor is what sets the pace.
    public var maximumBusyCores = 0.25
    /// ccpod waited on the compressor at least this share of the window.
    public var minimumBlockedShare = 0.5
    /// Nothing is judged before this many bytes went in (small requests stay as they are).
    public var minimumBytes: Int64 = 16 << 20

    private var total: Int64 = 0
    private var slowInARow = 0

    public init() {}

    /// Whether `window` (with the bytes before it) says the link holds the stream back
    /// for long enough; the caller then moves to a denser level with a new pace.
    public mutating func judge(_ window: Window, bytes: Int64) -> Bool {
        total += bytes
        guard window.seconds > 0, let cpu = window.compressorCPU else { slowInARow = 0; return false }
        let waiting = cpu / window.seconds < maximumBusyCores
            && window.blocked / window.seconds >= minimumBlockedShare
        slowInARow = total >= minimumBytes && waiting ? slowInARow + 1 : 0
        return slowInARow >= slowWindows
    }
}

/// What the system says of CPU time (Linux: /proc; elsewhere nothing, nil).
enum CPUTime {
    private static let ticksPerSecond: Double = {
        #if os(Linux)
        let t = sysconf(Int32(_SC_CLK_TCK))
        return t > 0 ? Double(t) : 100
        #else
        return 100
        #endif
    }()

    /// CPU seconds (user + system, all threads) process `pid` used so far.
    static func ofProcess(_ pid: Int32) -> TimeInterval? {
        guard let line = firstLine("/proc/\(pid)/stat"), let close = line.lastIndex(of: ")") else { return nil }
        // After "pid (name)": state is field 3, utime 14 and stime 15.
        let fields = line[line.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticksPerSecond
    }

    private static func firstLine(_ path: String) -> Substring? {
        #if os(Linux)
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 1024) else { return nil }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").first
        #else
        return nil
        #endif
    }
}
