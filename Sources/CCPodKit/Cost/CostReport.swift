import Foundation

/// What `ccpod cost --by` groups by.
public enum CostGrouping: String, Sendable, CaseIterable, Codable {
    case pod, project, run
}

/// GPU-hours and US dollars of one group or day.
public struct CostFigures: Sendable, Equatable, Codable {
    /// Hours the pod ran (or a person was in Claude on it, for projects and runs), times its GPUs.
    public var gpuHours: Double = 0
    /// What RunPod billed (`GET /v2/billing/pods`), where the ledger has its bill.
    public var billedUSD: Double = 0
    /// $/h × time, for the time RunPod's bill does not cover yet.
    public var estimatedUSD: Double = 0
    /// GPU-hours with no known price (counted in `gpuHours`, not in the dollars).
    public var unpricedHours: Double = 0

    public init(gpuHours: Double = 0, billedUSD: Double = 0, estimatedUSD: Double = 0, unpricedHours: Double = 0) {
        self.gpuHours = gpuHours
        self.billedUSD = billedUSD
        self.estimatedUSD = estimatedUSD
        self.unpricedHours = unpricedHours
    }

    public var usd: Double { billedUSD + estimatedUSD }

    public mutating func add(_ other: CostFigures) {
        gpuHours += other.gpuHours
        billedUSD += other.billedUSD
        estimatedUSD += other.estimatedUSD
        unpricedHours += other.unpricedHours
    }
}

/// One line of the report: a pod, a project (its folder here) or a run (its folder on the pod).
public struct CostRow: Sendable, Equatable {
    public var key: String
    public var figures: CostFigures
}

/// One calendar day of the pods' cost.
public struct CostDay: Sendable, Equatable {
    /// The day's first moment in the report's time zone.
    public var start: Date
    public var figures: CostFigures
}

/// `ccpod cost`: what the pods cost in a window, grouped, and per day.
public struct CostReport: Sendable, Equatable {
    public var from: Date
    public var to: Date
    public var grouping: CostGrouping
    /// Largest first.
    public var rows: [CostRow]
    /// Every day of the window, oldest first: what the pods cost that day.
    public var days: [CostDay]
    /// What the pods cost in the window (for projects and runs too: the rows are the
    /// time spent in Claude, the total is what the pods ran).
    public var total: CostFigures
}

/// Turns the ledger's observations into GPU-hours and dollars (pure: no clock, no disk).
///
/// A pod's time is the union of its RUNNING intervals (a state lasts until the pod's
/// next state; the last one until `to`) and its sessions (a pod runs while someone is
/// in Claude on it). Each moment is priced at the $/h of the pod's state then, else the
/// nearest known price of that pod. Where RunPod's bill covers a pod's time (from its
/// first to its last billed bucket) the bill counts and the estimate does not.
/// Projects and runs are priced by their sessions: time in Claude × the pod's $/h.
public struct CostCalculator: Sendable {
    public var calendar: Calendar
    /// RunPod pod id → ccpod's name of the pod (from the config); unknown ids stay ids.
    public var podNames: [String: String]

    public init(calendar: Calendar = .current, podNames: [String: String] = [:]) {
        self.calendar = calendar
        self.podNames = podNames
    }

    /// One piece of cost: within one day, attributed to one key.
    struct Piece {
        var key: String
        var start: Date
        var figures: CostFigures
    }

    public func report(_ snapshot: LedgerSnapshot, from: Date, to: Date, by grouping: CostGrouping) -> CostReport {
        let podPieces = pods(snapshot, from: from, to: to)
        let rowPieces: [Piece]
        switch grouping {
        case .pod: rowPieces = podPieces
        case .project: rowPieces = sessions(snapshot, from: from, to: to) { $0.project }
        case .run: rowPieces = sessions(snapshot, from: from, to: to) { $0.run ?? "(no run)" }
        }
        var rows: [String: CostFigures] = [:]
        for piece in rowPieces { rows[piece.key, default: CostFigures()].add(piece.figures) }
        var total = CostFigures()
        var byDay: [Date: CostFigures] = [:]
        for piece in podPieces {
            total.add(piece.figures)
            byDay[calendar.startOfDay(for: piece.start), default: CostFigures()].add(piece.figures)
        }
        let days = dayStarts(from: from, to: to).map { CostDay(start: $0, figures: byDay[$0] ?? CostFigures()) }
        let sorted = rows.map { CostRow(key: $0.key, figures: $0.value) }
            .sorted { ($0.figures.usd, $0.figures.gpuHours, $1.key) > ($1.figures.usd, $1.figures.gpuHours, $0.key) }
        return CostReport(from: from, to: to, grouping: grouping, rows: sorted, days: days, total: total)
    }

    // MARK: - Pods

    /// A stretch of a pod's time with its price.
    struct Stretch {
        var start: Date
        var end: Date
        var rate: Double?
        var gpus: Int
        func contains(_ t: Date) -> Bool { start <= t && t < end }
    }

    func pods(_ snapshot: LedgerSnapshot, from: Date, to: Date) -> [Piece] {
        var names = Set(snapshot.states.map(\.pod)).union(snapshot.sessions.map(\.pod))
        var idToPod = podNames
        for state in snapshot.states { if let id = state.runpodId, idToPod[id] == nil { idToPod[id] = state.pod } }
        for record in snapshot.billing { names.insert(idToPod[record.podId] ?? record.podId) }
        var pieces: [Piece] = []
        for pod in names.sorted() {
            let running = runningStretches(pod: pod, snapshot, to: to)
            let attached = sessionStretches(pod: pod, snapshot, to: to)
            let bills = snapshot.billing.filter { (idToPod[$0.podId] ?? $0.podId) == pod }
            let covered: Stretch? = bills.isEmpty ? nil
                : Stretch(start: bills.map(\.start).min()!, end: bills.map(\.end).max()!, rate: nil, gpus: 0)
            var points = [from, to] + running.flatMap { [$0.start, $0.end] } + attached.flatMap { [$0.start, $0.end] }
            if let covered { points += [covered.start, covered.end] }
            for (a, b) in segments(points, from: from, to: to) {
                let mid = a.addingTimeInterval(b.timeIntervalSince(a) / 2)
                guard let stretch = running.first(where: { $0.contains(mid) }) ?? attached.first(where: { $0.contains(mid) }) else { continue }
                let hours = b.timeIntervalSince(a) / 3600
                var figures = CostFigures(gpuHours: hours * Double(stretch.gpus))
                if let rate = stretch.rate {
                    if covered?.contains(mid) != true { figures.estimatedUSD = rate * hours }
                } else {
                    figures.unpricedHours = figures.gpuHours
                }
                pieces.append(Piece(key: pod, start: a, figures: figures))
            }
            for bill in bills {
                // Prorated over the part of the bucket that lies in the window, day by day.
                let end = min(bill.end, max(to, bill.start))
                let length = end.timeIntervalSince(bill.start)
                guard length > 0 else { continue }
                for (a, b) in segments([bill.start, end], from: max(from, bill.start), to: min(to, end)) {
                    let share = b.timeIntervalSince(a) / length
                    pieces.append(Piece(key: pod, start: a, figures: CostFigures(billedUSD: bill.totalAmount * share)))
                }
            }
        }
        return pieces
    }

    /// The pod's RUNNING intervals, each at the price of its state.
    func runningStretches(pod: String, _ snapshot: LedgerSnapshot, to: Date) -> [Stretch] {
        let states = snapshot.states.filter { $0.pod == pod }
        var result: [Stretch] = []
        for (i, state) in states.enumerated() where state.isRunning {
            let end = i + 1 < states.count ? states[i + 1].at : max(to, state.at)
            guard end > state.at else { continue }
            let rate = state.costPerHour.flatMap { $0 > 0 ? $0 : nil } ?? price(of: pod, at: state.at, snapshot)
            result.append(Stretch(start: state.at, end: end, rate: rate, gpus: max(1, state.gpuCount ?? gpus(of: pod, at: state.at, snapshot))))
        }
        return result
    }

    /// The pod's sessions; an open one ends at the pod's next session or stop, else `to`.
    func sessionStretches(pod: String, _ snapshot: LedgerSnapshot, to: Date) -> [Stretch] {
        let sessions = snapshot.sessions.filter { $0.pod == pod }
        return sessions.compactMap { session in
            let end = self.end(of: session, snapshot, to: to)
            guard end > session.start else { return nil }
            return Stretch(start: session.start, end: end, rate: price(of: pod, at: session.start, snapshot),
                           gpus: max(1, gpus(of: pod, at: session.start, snapshot)))
        }
    }

    func end(of session: SessionRecord, _ snapshot: LedgerSnapshot, to: Date) -> Date {
        if let end = session.end { return min(end, max(to, session.start)) }
        var end = to
        if let next = snapshot.sessions.first(where: { $0.pod == session.pod && $0.start > session.start }) { end = min(end, next.start) }
        if let stop = snapshot.states.first(where: { $0.pod == session.pod && $0.at > session.start && !$0.isRunning }) { end = min(end, stop.at) }
        return max(end, session.start)
    }

    /// The pod's last known price at or before `t`, else its first one after.
    func price(of pod: String, at t: Date, _ snapshot: LedgerSnapshot) -> Double? {
        let priced = snapshot.states.filter { $0.pod == pod && ($0.costPerHour ?? 0) > 0 }
        return (priced.last(where: { $0.at <= t }) ?? priced.first)?.costPerHour
    }

    func gpus(of pod: String, at t: Date, _ snapshot: LedgerSnapshot) -> Int {
        let known = snapshot.states.filter { $0.pod == pod && $0.gpuCount != nil }
        return (known.last(where: { $0.at <= t }) ?? known.first)?.gpuCount ?? 1
    }

    // MARK: - Sessions (projects, runs)

    func sessions(_ snapshot: LedgerSnapshot, from: Date, to: Date, key: (SessionRecord) -> String) -> [Piece] {
        var pieces: [Piece] = []
        for session in snapshot.sessions {
            let end = self.end(of: session, snapshot, to: to)
            let running = runningStretches(pod: session.pod, snapshot, to: to)
            let points = [session.start, end] + running.flatMap { [$0.start, $0.end] }
            for (a, b) in segments(points, from: max(from, session.start), to: min(to, end)) {
                let mid = a.addingTimeInterval(b.timeIntervalSince(a) / 2)
                let stretch = running.first(where: { $0.contains(mid) })
                let rate = stretch?.rate ?? price(of: session.pod, at: mid, snapshot)
                let gpus = stretch?.gpus ?? max(1, self.gpus(of: session.pod, at: mid, snapshot))
                let hours = b.timeIntervalSince(a) / 3600
                var figures = CostFigures(gpuHours: hours * Double(gpus))
                if let rate { figures.estimatedUSD = rate * hours } else { figures.unpricedHours = figures.gpuHours }
                pieces.append(Piece(key: key(session), start: a, figures: figures))
            }
        }
        return pieces
    }

    // MARK: - Time

    /// Consecutive pairs of the points and day boundaries within `[from, to]`.
    func segments(_ points: [Date], from: Date, to: Date) -> [(Date, Date)] {
        guard from < to else { return [] }
        var all = Set(points.filter { $0 > from && $0 < to })
        all.insert(from)
        all.insert(to)
        for day in dayStarts(from: from, to: to) where day > from { all.insert(day) }
        let sorted = all.sorted()
        return zip(sorted, sorted.dropFirst()).map { ($0, $1) }
    }

    /// The first moment of every day from `from`'s to `to`'s (at most 3660).
    public func dayStarts(from: Date, to: Date) -> [Date] {
        var days: [Date] = []
        var day = calendar.startOfDay(for: from)
        while day < to || days.isEmpty, days.count < 3660 {
            days.append(day)
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { break }
            day = next
        }
        return days
    }
}
