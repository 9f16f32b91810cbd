import Foundation

/// Options of one push, pull, sync or status.
public struct SyncOptions: Sendable, Equatable {
    public enum Direction: String, Sendable { case push, pull, sync, status }

    public var direction: Direction
    /// Plan only: nothing is written on either side.
    public var dryRun: Bool
    /// Propagate deletions (never by default).
    public var delete: Bool
    /// A file modified less than this many seconds ago is busy and skipped.
    public var busySeconds: Int
    /// Sessions archived here (`ccpod archive`): left alone in both directions. Their
    /// absence here is not a deletion, and the pod's copy does not come back as new.
    public var archivedSessions: Set<String>
    /// `push --only-recent`: only sessions active here in this many seconds are sent;
    /// the others are left alone (never deleted on the pod, never changed here).
    public var onlyRecent: TimeInterval?
    /// With status: the pod also says which sessions a running claude holds and what its
    /// transcripts not in sync say (`SyncReport.sessionNotes`; `ccpod sessions --everywhere`).
    public var overview = false

    public init(direction: Direction, dryRun: Bool = false, delete: Bool = false, busySeconds: Int = 5,
                archivedSessions: Set<String> = []) {
        self.direction = direction
        self.dryRun = dryRun
        self.delete = delete
        self.busySeconds = busySeconds
        self.archivedSessions = archivedSessions
    }

    var sends: Bool { !dryRun && (direction == .push || direction == .sync) }
    var receives: Bool { !dryRun && (direction == .pull || direction == .sync) }

    /// What the agent is asked to do: a dry run only looks.
    var agentMode: AgentRequest.Mode {
        if dryRun { return .status }
        switch direction {
        case .push: return .push
        case .pull: return .pull
        case .sync: return .sync
        case .status: return .status
        }
    }
}
