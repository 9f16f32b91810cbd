import Foundation

/// What happened (or, for status and dry runs, would happen) to one file.
public struct SyncItem: Sendable, Equatable, Codable {
    public enum Action: String, Sendable, Codable {
        case inSync = "in-sync"
        case pushed, pulled
        case copiedToPod = "copied-to-pod"
        case copiedFromPod = "copied-from-pod"
        case replacedOnPod = "replaced-on-pod"
        case replacedLocally = "replaced-locally"
        case forked
        case conflict
        case busy
        case localAhead = "local-ahead"
        case podAhead = "pod-ahead"
        case diverged
        case localOnly = "local-only"
        case podOnly = "pod-only"
        case deletedLocally = "deleted-locally"
        case deletedOnPod = "deleted-on-pod"
        case deletedFromPod = "deleted-from-pod"
        case deletedHere = "deleted-here"
        case failed
    }

    /// Path relative to the local Claude dir.
    public var path: String
    public var action: Action
    /// Complete lines that moved (or would move).
    public var lines: Int
    /// Bytes that moved (or would move), before compression; for a fork, the bytes
    /// received (the other side's continuation).
    public var bytes: Int64
    /// A fork's bytes sent the other way (this side's continuation put on the pod, in the
    /// second exchange); nil for everything else.
    public var sentBytes: Int64?
    /// A sentence for people (sibling ids of a fork, why something was skipped).
    public var detail: String?

    public init(path: String, action: Action, lines: Int = 0, bytes: Int64 = 0, detail: String? = nil, sentBytes: Int64? = nil) {
        self.path = path
        self.action = action
        self.lines = lines
        self.bytes = bytes
        self.detail = detail
        self.sentBytes = sentBytes
    }
}

/// The result of a push, pull, sync or status.
public struct SyncReport: Sendable, Codable {
    public var mode: String
    public var pod: String
    public var dryRun: Bool
    public var items: [SyncItem]
    /// Agent calls (ssh execs) this operation made.
    public var exchanges: Int
    public var seconds: Double
    public var warnings: [String]
    /// With `SyncOptions.overview`: what the pod said of its sessions (checked, unescaped).
    public var sessionNotes: [SessionNote]?

    public func count(_ action: SyncItem.Action) -> Int { items.filter { $0.action == action }.count }

    public var conflicts: Int { count(.conflict) }

    /// Bytes sent to the pod, in every exchange (a fork's second one too).
    public var bytesUp: Int64 {
        items.filter { [.pushed, .copiedToPod, .replacedOnPod].contains($0.action) }.reduce(0) { $0 + $1.bytes }
            + items.reduce(0) { $0 + ($1.sentBytes ?? 0) }
    }

    /// Bytes received from the pod (a fork's continuation too).
    public var bytesDown: Int64 {
        items.filter { [.pulled, .copiedFromPod, .replacedLocally, .forked].contains($0.action) }.reduce(0) { $0 + $1.bytes }
    }
}
