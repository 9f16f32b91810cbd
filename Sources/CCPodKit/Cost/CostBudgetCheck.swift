import Foundation

/// One budget measured: how much of it is used.
public struct BudgetFinding: Sendable, Equatable {
    public enum Scope: Sendable, Equatable {
        /// A pod's budget (`[pods.NAME]` in config.toml).
        case pod(String)
        /// A project's budget (its folder's `.ccpod.toml`).
        case project(String)
    }

    public var scope: Scope
    public var key: CostBudget.Key
    public var limit: Double
    public var spent: Double

    public var fraction: Double { limit > 0 ? spent / limit : 1 }
    /// Used up: at or past 100 %.
    public var isExceeded: Bool { spent >= limit }

    /// "pod gpu1 has used $17.10 of its budget of $20.00 per day (budget_usd_per_day in config.toml, 86 %)".
    public var sentence: String {
        let who: String, whereSet: String
        switch scope {
        case .pod(let name): who = "pod \(name)"; whereSet = "config.toml"
        case .project(let path): who = "project \(path)"; whereSet = "\(path)/\(ProjectSettings.fileName)"
        }
        let period = key.isMonthly ? "per month" : "per day"
        let used = key.isMoney ? CostFormat.usd(spent) : CostFormat.hours(spent)
        let budget = key.isMoney ? CostFormat.usd(limit) : CostFormat.hours(limit)
        let percent = Int((fraction * 100).rounded(.down))
        return "\(who) has used \(used) of its budget of \(budget) \(period) (\(key.rawValue) in \(whereSet), \(percent) %)"
    }
}

/// Budget findings at the warning level (80 %) and past the limit.
public struct BudgetVerdict: Sendable, Equatable {
    /// At or above 80 % and below 100 %.
    public var warnings: [BudgetFinding] = []
    /// At or past 100 %.
    public var exceeded: [BudgetFinding] = []
}

/// The budget check of `launch`, `attach` and `pod start`.
public enum CostBudgetCheck {
    /// The share of a budget at which ccpod starts to warn.
    public static let warnFraction = 0.8

    /// Measures the budgets against the ledger (pure). Spent today and this month, in
    /// `calculator`'s calendar, as `ccpod cost` counts it: billed plus estimated dollars,
    /// GPU-hours; for a project, its sessions on every pod.
    public static func evaluate(pod: String, podBudget: CostBudget, project: String?, projectBudget: CostBudget,
                                snapshot: LedgerSnapshot, now: Date, calculator: CostCalculator) -> BudgetVerdict {
        let calendar = calculator.calendar
        let dayStart = calendar.startOfDay(for: now)
        let monthStart = calendar.dateInterval(of: .month, for: now)?.start ?? dayStart
        var verdict = BudgetVerdict()
        func measure(_ budget: CostBudget, scope: BudgetFinding.Scope, grouping: CostGrouping, key rowKey: String) {
            guard !budget.isEmpty else { return }
            var figures: [Bool: CostFigures] = [:]
            for monthly in [false, true] {
                let report = calculator.report(snapshot, from: monthly ? monthStart : dayStart, to: now, by: grouping)
                figures[monthly] = report.rows.first { $0.key == rowKey }?.figures ?? CostFigures()
            }
            for key in CostBudget.Key.allCases {
                guard let limit = budget[key], let f = figures[key.isMonthly] else { continue }
                let finding = BudgetFinding(scope: scope, key: key, limit: limit, spent: key.isMoney ? f.usd : f.gpuHours)
                if finding.isExceeded {
                    verdict.exceeded.append(finding)
                } else if finding.fraction >= warnFraction {
                    verdict.warnings.append(finding)
                }
            }
        }
        measure(podBudget, scope: .pod(pod), grouping: .pod, key: pod)
        if let project { measure(projectBudget, scope: .project(project), grouping: .project, key: project) }
        return verdict
    }

    /// The check as one call: warns (through `note`) at 80 %, and past 100 % throws
    /// (exit 3) naming the budget, what was spent and `--over-budget`, unless
    /// `overBudget`, when it only says so. Does nothing when no budget is set.
    ///
    /// `action` completes "pass --over-budget to … anyway" (`launch`, `attach`, `start gpu1`).
    public static func enforce(pod: String, podBudget: CostBudget, project: String? = nil, projectBudget: CostBudget = CostBudget(),
                               overBudget: Bool, action: String, ledger: CostLedger, now: Date = Date(),
                               calculator: CostCalculator = CostCalculator(), note: (String) -> Void) throws {
        guard !podBudget.isEmpty || (project != nil && !projectBudget.isEmpty) else { return }
        let monthStart = calculator.calendar.dateInterval(of: .month, for: now)?.start ?? calculator.calendar.startOfDay(for: now)
        let snapshot = try ledger.snapshot(from: monthStart, to: now)
        let verdict = evaluate(pod: pod, podBudget: podBudget, project: project, projectBudget: projectBudget,
                               snapshot: snapshot, now: now, calculator: calculator)
        for finding in verdict.warnings { note("budget: \(finding.sentence)") }
        guard let first = verdict.exceeded.first else { return }
        if overBudget {
            for finding in verdict.exceeded { note("over budget: \(finding.sentence); going on (--over-budget)") }
            return
        }
        let others = verdict.exceeded.dropFirst().map { "; " + $0.sentence }.joined()
        throw CCPodError(.overBudget, "over budget: \(first.sentence)\(others). Pass --over-budget to \(action) anyway, or raise the budget")
    }
}

/// How ccpod writes money and hours for people.
public enum CostFormat {
    /// `$12.34` (`$0.004` → `$0.00`; large amounts without cents).
    public static func usd(_ value: Double) -> String {
        let v = value.isFinite ? value : 0
        if abs(v) >= 100_000 { return "$" + String(Int(v.rounded())) }
        return "$" + String(format: "%.2f", v)
    }

    /// `1.5 h`.
    public static func hours(_ value: Double) -> String {
        let v = value.isFinite ? value : 0
        return String(format: v >= 100 ? "%.0f h" : "%.1f h", v)
    }
}
