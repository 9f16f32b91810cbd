import CCPodKit
import Foundation
import Testing
import TOMLKit

/// Budgets: read from config.toml and .ccpod.toml, warned about at 80 %, refused at 100 %.
@Suite struct CostBudgetTests {
    let calculator = CostCalculator(calendar: CostTime.utc)
    let now = CostTime.at("2026-11-20T23:00:00Z")

    /// A pod that ran today from 08:00 for `hours` at $1/h.
    func ledger(hours: Double, bed: CostTestBed) throws -> CostLedger {
        let ledger = try bed.ledger()
        let start = CostTime.at("2026-11-20T08:00:00Z")
        try ledger.recordPodState(pod: "gpu1", status: "RUNNING", costPerHour: 1.0, at: start)
        try ledger.recordPodState(pod: "gpu1", status: "EXITED", costPerHour: 0, at: start.addingTimeInterval(hours * 3600))
        return ledger
    }

    func verdict(spentHours: Double, budget: CostBudget) throws -> BudgetVerdict {
        let bed = try CostTestBed()
        let ledger = try ledger(hours: spentHours, bed: bed)
        let monthStart = CostTime.at("2026-11-01T00:00:00Z")
        return CostBudgetCheck.evaluate(pod: "gpu1", podBudget: budget, project: nil, projectBudget: CostBudget(),
                                        snapshot: try ledger.snapshot(from: monthStart, to: now), now: now, calculator: calculator)
    }

    @Test func warnsFromEightyPercentAndRefusesFromOneHundred() throws {
        let budget = CostBudget(usdPerDay: 10)
        let quiet = try verdict(spentHours: 7.9, budget: budget)
        #expect(quiet.warnings.isEmpty && quiet.exceeded.isEmpty)
        let warned = try verdict(spentHours: 8, budget: budget)
        #expect(warned.warnings.map(\.key) == [.usdPerDay])
        #expect(warned.exceeded.isEmpty)
        #expect(warned.warnings[0].sentence == "pod gpu1 has used $8.00 of its budget of $10.00 per day (budget_usd_per_day in config.toml, 80 %)")
        let nearly = try verdict(spentHours: 9.99, budget: budget)
        #expect(nearly.exceeded.isEmpty && nearly.warnings.count == 1)
        let over = try verdict(spentHours: 10, budget: budget)
        #expect(over.exceeded.map(\.key) == [.usdPerDay])
        #expect(over.warnings.isEmpty)
    }

    @Test func hoursAndMonthsAreMeasuredToo() throws {
        let v = try verdict(spentHours: 9, budget: CostBudget(usdPerMonth: 100, hoursPerDay: 8, hoursPerMonth: 11))
        #expect(v.exceeded.map(\.key) == [.hoursPerDay])
        #expect(v.warnings.map(\.key) == [.hoursPerMonth])
        #expect(v.exceeded[0].sentence.contains("9.0 h of its budget of 8.0 h per day (budget_hours_per_day"))
    }

    @Test func enforceRefusesWithExitThreeUnlessOverBudget() throws {
        let bed = try CostTestBed()
        let ledger = try ledger(hours: 12, bed: bed)
        var notes: [String] = []
        let refusal = #expect(throws: CCPodError.self) {
            try CostBudgetCheck.enforce(pod: "gpu1", podBudget: CostBudget(usdPerDay: 10), overBudget: false, action: "launch",
                                        ledger: ledger, now: now, calculator: calculator, note: { notes.append($0) })
        }
        #expect(refusal?.status == .overBudget)
        #expect(ExitStatus.overBudget.rawValue == 3)
        let message = refusal?.message ?? ""
        #expect(message.contains("budget_usd_per_day"))
        #expect(message.contains("$12.00"))
        #expect(message.contains("--over-budget"))
        try CostBudgetCheck.enforce(pod: "gpu1", podBudget: CostBudget(usdPerDay: 10), overBudget: true, action: "launch",
                                    ledger: ledger, now: now, calculator: calculator, note: { notes.append($0) })
        #expect(notes.count == 1 && notes[0].hasPrefix("over budget: pod gpu1 has used $12.00"))
        // A project's own budget counts its sessions on any pod.
        _ = try ledger.recordSessionStart(pod: "gpu1", project: "/p/a", run: nil, kind: .launch, at: CostTime.at("2026-11-20T09:00:00Z"))
        let projectRefusal = #expect(throws: CCPodError.self) {
            try CostBudgetCheck.enforce(pod: "gpu1", podBudget: CostBudget(), project: "/p/a", projectBudget: CostBudget(hoursPerDay: 2),
                                        overBudget: false, action: "attach", ledger: ledger, now: now, calculator: calculator, note: { _ in })
        }
        #expect(projectRefusal?.message.contains("project /p/a has used") == true)
        #expect(projectRefusal?.message.contains("/p/a/.ccpod.toml") == true)
        // No budget: nothing is checked, whatever was spent.
        try CostBudgetCheck.enforce(pod: "gpu1", podBudget: CostBudget(), overBudget: false, action: "launch",
                                    ledger: ledger, now: now, calculator: calculator, note: { _ in Issue.record("a note without a budget") })
    }

    @Test func budgetsAreReadFromBothFilesAndSurviveASave() throws {
        let bed = try CostTestBed()
        try bed.writeConfig("""
            [pods.gpu1]
            direct = "root@203.0.113.7:41022"
            budget_usd_per_day = 20
            budget_hours_per_month = 120.5
            """)
        var config = try CCPodConfig.load(from: bed.locations)
        #expect(config.pods["gpu1"]?.budget == CostBudget(usdPerDay: 20, hoursPerMonth: 120.5))
        config.defaultPod = "gpu1"
        try config.save(to: bed.locations)
        #expect(try CCPodConfig.load(from: bed.locations).pods["gpu1"]?.budget == CostBudget(usdPerDay: 20, hoursPerMonth: 120.5))
        #expect(throws: CCPodError.self) { try CCPodConfig.parse("[pods.gpu1]\nbudget_usd_per_day = -1\n") }
        #expect(throws: CCPodError.self) { try CCPodConfig.parse("[pods.gpu1]\nbudget_usd_per_day = \"20\"\n") }

        let project = bed.root.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try "pod = \"gpu1\"\nbudget_usd_per_month = 50\n".write(to: project.appendingPathComponent(".ccpod.toml"), atomically: true, encoding: .utf8)
        #expect(try ProjectSettings.load(projectRoot: project.path).budget == CostBudget(usdPerMonth: 50))
        try "budget_hours_per_day = 0\n".write(to: project.appendingPathComponent(".ccpod.toml"), atomically: true, encoding: .utf8)
        let bad = #expect(throws: CCPodError.self) { try ProjectSettings.load(projectRoot: project.path) }
        #expect(bad?.status == .badData && bad?.message.contains("budget_hours_per_day") == true)
    }
}
