import Foundation

/// A pod's status as ccpod saw it at one moment, with its price then.
public struct PodStateRecord: Sendable, Equatable, Codable {
    /// ccpod's name of the pod.
    public var pod: String
    public var runpodId: String?
    /// RunPod's desired status: `RUNNING`, `EXITED`, `STARTING`, `TERMINATED`, …
    public var status: String
    /// US dollars per hour at that moment (RunPod reports 0 while stopped); nil when unknown.
    public var costPerHour: Double?
    /// GPUs of the pod (GPU-hours = hours × this); nil counts as 1.
    public var gpuCount: Int?
    public var at: Date

    public init(pod: String, runpodId: String? = nil, status: String, costPerHour: Double?, gpuCount: Int? = nil, at: Date) {
        self.pod = pod
        self.runpodId = runpodId
        self.status = status
        self.costPerHour = costPerHour
        self.gpuCount = gpuCount
        self.at = at
    }

    /// Whether the pod runs (and is billed for compute) in this state.
    public var isRunning: Bool { status == "RUNNING" }
}

/// What a person did with Claude on a pod: a `launch` or an `attach`, from the moment
/// the terminal went to the pod until it came back.
public enum LedgerSessionKind: String, Sendable, Codable, CaseIterable {
    case launch, attach
}

/// The ledger's id of one session (`recordSessionStart` → `recordSessionEnd`).
public struct LedgerSessionID: Sendable, Hashable, Codable {
    public var rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
}

/// A launch or attach as recorded.
public struct SessionRecord: Sendable, Equatable, Codable {
    public var id: LedgerSessionID
    public var pod: String
    /// The project's folder here.
    public var project: String
    /// The run's folder on the pod (`stage1_dpo_20261125-101500`), when the project works in one.
    public var run: String?
    public var kind: LedgerSessionKind
    public var start: Date
    /// Nil while the session is open (or the ccpod that started it was killed).
    public var end: Date?

    public init(id: LedgerSessionID, pod: String, project: String, run: String?, kind: LedgerSessionKind, start: Date, end: Date?) {
        self.id = id
        self.pod = pod
        self.project = project
        self.run = run
        self.kind = kind
        self.start = start
        self.end = end
    }
}

/// Everything the ledger holds that matters for one time window.
public struct LedgerSnapshot: Sendable, Equatable {
    /// Every state change, oldest first (a state lasts until the next one of its pod).
    public var states: [PodStateRecord]
    /// Sessions that overlap the window, oldest first.
    public var sessions: [SessionRecord]
    /// Billing buckets that overlap the window.
    public var billing: [RunPodBillingRecord]

    public init(states: [PodStateRecord] = [], sessions: [SessionRecord] = [], billing: [RunPodBillingRecord] = []) {
        self.states = states.sorted { $0.at < $1.at }
        self.sessions = sessions.sorted { $0.start < $1.start }
        self.billing = billing
    }
}

/// Which run a session belongs to, from where the project lives on the pod.
public enum LedgerRun {
    /// The run folder of a pod path inside a run (`…/runs/<folder>/code…` → `<folder>`), else nil.
    public static func folder(ofPodPath podPath: String) -> String? {
        let parts = podPath.split(separator: "/").map(String.init)
        guard let i = parts.lastIndex(of: "runs"), i + 2 < parts.count, parts[i + 2] == "code" else { return nil }
        return parts[i + 1]
    }
}
