import Foundation

/// Which session `ccpod resume SESSION` means: an id, a unique id prefix, or a title match.
public enum SessionMatch {
    public enum Outcome: Sendable, Equatable {
        case found(OverviewSession)
        case none
        case ambiguous([OverviewSession])
    }

    /// An exact id wins, then a unique prefix of ids, then titles containing `query`
    /// (case-insensitive); a sibling differs from its session by id, so two matches are
    /// two candidates.
    public static func find(_ query: String, in sessions: [OverviewSession]) -> Outcome {
        let q = query.lowercased()
        if let exact = sessions.first(where: { $0.id == q }) { return .found(exact) }
        let byId = sessions.filter { $0.id.hasPrefix(q) }
        if byId.count == 1 { return .found(byId[0]) }
        if byId.count > 1 { return .ambiguous(byId) }
        let byTitle = sessions.filter { ($0.title ?? "").lowercased().contains(q) }
        if let whole = byTitle.filter({ ($0.title ?? "").lowercased() == q }).onlyElement { return .found(whole) }
        if byTitle.count == 1 { return .found(byTitle[0]) }
        return byTitle.isEmpty ? .none : .ambiguous(byTitle)
    }
}

extension Array {
    fileprivate var onlyElement: Element? { count == 1 ? first : nil }
}

/// What `ccpod resume` does before claude starts: where the newest state comes from and
/// where it goes. Pure: decided from the overview alone.
public struct ResumePlan: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case here
        case pod(String)
    }

    /// Pull the session from this pod first (its newest state is there).
    public var pullFrom: String?
    /// Then push it to this pod (`--on`).
    public var pushTo: String?
    /// Claude continues it under a new id (`--fork-session`): the session stays as it is.
    public var fork: Bool

    public static func make(_ session: OverviewSession, target: Target, fork: Bool) throws -> ResumePlan {
        let name = session.title.map { "\"\(TerminalText.escape($0))\" (\(session.id))" } ?? session.id
        if !session.live.isEmpty && !fork {
            let places = session.live.map { $0 == "here" ? "on this machine" : "on \($0)" }.joined(separator: " and ")
            throw CCPodError(.busy, """
                \(name) is open in a running claude \(places); ccpod leaves it alone. \
                Go there (`ccpod attach`), end that claude first, or pass --fork to continue it as a sibling session
                """)
        }
        var plan = ResumePlan(pullFrom: nil, pushTo: nil, fork: fork)
        if session.newest.count > 1 {
            let others = session.newest.filter { $0 != "here" }
            throw CCPodError(.conflicts, """
                \(name) diverged between \(session.newest.map { $0 == "here" ? "here" : $0 }.joined(separator: " and ")): \
                `ccpod sync --pod \(others.first ?? "")` keeps both continuations as sibling sessions; then resume the one you want
                """)
        }
        if let newest = session.newest.first, newest != "here" {
            if case .pod(let pod) = target, pod == newest {
                // Already newest where it will run: nothing to move.
            } else {
                plan.pullFrom = newest
            }
        }
        if case .pod(let pod) = target, session.newest.first != pod { plan.pushTo = pod }
        return plan
    }
}
