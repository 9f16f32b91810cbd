import Foundation

/// One pod in `ccpod pods`: what RunPod, the pod's setup, its runs and one status
/// exchange say, gathered by the command; the counting here is pure.
public struct PodOverview: Sendable, Codable, Equatable {
    public var name: String
    /// `user@host:port`, or the folder of a `local:` pod.
    public var address: String?
    public var reachable: Bool
    /// Why it was not reached, or what failed on the way.
    public var error: String?
    /// RunPod's status (`RUNNING`, `EXITED`, …) and price, when the pod has a RunPod id and a key is present.
    public var runpodStatus: String?
    public var costPerHour: Double?
    public var claudeVersion: String?
    /// Setup steps that are not ok (`ccpod setup` repairs them); empty when set up.
    public var setupIssues: [String]?
    public var runs: Int?
    public var tmuxSessions: [String]?
    /// Session transcripts on the pod, in the scope ccpod syncs (every project).
    public var sessions: Int?
    /// Sessions open in a claude on the pod now.
    public var liveSessions: Int?
    /// When this machine last agreed with the pod on anything (its ancestor store was written).
    public var lastSync: Date?
    /// Sessions not in sync, by state, and the bytes that would move.
    public var unsynced: [String: Int]?
    public var unsyncedBytes: Int64?

    public init(name: String, address: String?, reachable: Bool) {
        self.name = name
        self.address = address
        self.reachable = reachable
    }

    /// Counts what a status exchange (with overview notes) said of the pod's sessions.
    public mutating func count(_ report: SyncReport) {
        var onPod = 0
        var unsynced: [String: Int] = [:]
        var bytes: Int64 = 0
        for item in report.items where SyncScope.isTranscript(item.path) {
            let state = OverviewState(item.action)
            if state.existsThere { onPod += 1 }
            if state != .inSync {
                unsynced[state.rawValue, default: 0] += 1
                bytes += max(0, item.bytes)
            }
        }
        sessions = onPod
        self.unsynced = unsynced
        unsyncedBytes = bytes
        liveSessions = Set((report.sessionNotes ?? []).filter { $0.kind == .live }.map(\.sessionId)).count
    }
}
