import CCPodKit
import Foundation
import Testing

/// The arithmetic of `ccpod cost`: estimates from state changes and sessions, billed
/// amounts replacing estimates, groupings, days.
@Suite struct CostReportTests {
    let calculator = CostCalculator(calendar: CostTime.utc)
    let t0 = CostTime.at("2026-11-20T10:00:00Z")

    func minutes(_ m: Double) -> Date { t0.addingTimeInterval(m * 60) }

    @Test func runningAt44CentsFor90MinutesIsOneAndAHalfHoursAnd66Cents() throws {
        let bed = try CostTestBed()
        let ledger = try bed.ledger()
        try ledger.recordPodState(pod: "gpu1", status: "RUNNING", costPerHour: 0.44, at: t0)
        try ledger.recordPodState(pod: "gpu1", status: "EXITED", costPerHour: 0, at: minutes(90))
        let now = minutes(600)
        let report = calculator.report(try ledger.snapshot(from: minutes(-60), to: now), from: minutes(-60), to: now, by: .pod)
        let row = try #require(report.rows.first)
        #expect(report.rows.count == 1)
        #expect(row.key == "gpu1")
        #expect(near(row.figures.gpuHours, 1.5))
        #expect(near(row.figures.estimatedUSD, 0.66))
        #expect(row.figures.billedUSD == 0)
        #expect(near(report.total.usd, 0.66))
        // The window cuts what lies outside it.
        let half = calculator.report(try ledger.snapshot(from: minutes(45), to: now), from: minutes(45), to: now, by: .pod)
        #expect(near(half.total.gpuHours, 0.75))
        #expect(near(half.total.estimatedUSD, 0.33))
    }

    @Test func aPodStillRunningCountsUntilNowAndPriceChangesApply() {
        let snapshot = LedgerSnapshot(states: [
            PodStateRecord(pod: "gpu1", status: "RUNNING", costPerHour: 1.0, gpuCount: 2, at: t0),
            PodStateRecord(pod: "gpu1", status: "RUNNING", costPerHour: 3.0, gpuCount: 2, at: minutes(60)),
        ])
        let report = calculator.report(snapshot, from: t0, to: minutes(90), by: .pod)
        // 1 h at $1 + 0.5 h at $3; two GPUs double the GPU-hours, not the pod's price.
        #expect(near(report.total.estimatedUSD, 2.5))
        #expect(near(report.total.gpuHours, 3.0))
    }

    @Test func sessionsCountAsRunningTimeOnceEvenWhenTheyOverlapState() {
        let snapshot = LedgerSnapshot(
            states: [PodStateRecord(pod: "gpu1", status: "RUNNING", costPerHour: 2.0, at: t0),
                     PodStateRecord(pod: "gpu1", status: "EXITED", costPerHour: 0, at: minutes(60))],
            sessions: [
                // Half inside the running hour, half after ccpod saw it stop: the session proves it ran.
                SessionRecord(id: .init(1), pod: "gpu1", project: "/p/a", run: nil, kind: .launch, start: minutes(30), end: minutes(90)),
            ])
        let report = calculator.report(snapshot, from: t0, to: minutes(120), by: .pod)
        #expect(near(report.total.gpuHours, 1.5))
        #expect(near(report.total.estimatedUSD, 3.0))
    }

    @Test func billedAmountsReplaceTheEstimateWhereTheBillCovers() {
        let snapshot = LedgerSnapshot(
            states: [PodStateRecord(pod: "gpu1", runpodId: "rp1", status: "RUNNING", costPerHour: 1.0, at: t0)],
            billing: [RunPodBillingRecord(podId: "rp1", start: t0, end: minutes(60), totalAmount: 1.25, gpuAmount: 1.2, diskAmount: 0.05)])
        let report = calculator.report(snapshot, from: t0, to: minutes(150), by: .pod)
        let row = report.rows[0]
        #expect(row.key == "gpu1")
        #expect(near(row.figures.billedUSD, 1.25))
        // Billed up to 11:00, estimated for the 1.5 h after.
        #expect(near(row.figures.estimatedUSD, 1.5))
        #expect(near(row.figures.gpuHours, 2.5))
    }

    @Test func byProjectAndByRunCountTimeInClaudeAtThePodsPrice() {
        let snapshot = LedgerSnapshot(
            states: [PodStateRecord(pod: "gpu1", status: "RUNNING", costPerHour: 2.0, at: t0),
                     PodStateRecord(pod: "gpu2", status: "RUNNING", costPerHour: 4.0, at: t0)],
            sessions: [
                SessionRecord(id: .init(1), pod: "gpu1", project: "/p/a", run: "a_20261120-090000", kind: .launch, start: minutes(0), end: minutes(30)),
                SessionRecord(id: .init(2), pod: "gpu1", project: "/p/a", run: "a_20261120-090000", kind: .attach, start: minutes(60), end: minutes(90)),
                SessionRecord(id: .init(3), pod: "gpu2", project: "/p/b", run: nil, kind: .launch, start: minutes(0), end: minutes(15)),
            ])
        let now = minutes(120)
        let projects = calculator.report(snapshot, from: t0, to: now, by: .project)
        #expect(projects.rows.map(\.key) == ["/p/a", "/p/b"])
        #expect(near(projects.rows[0].figures.gpuHours, 1.0))
        #expect(near(projects.rows[0].figures.estimatedUSD, 2.0))
        #expect(near(projects.rows[1].figures.estimatedUSD, 1.0))
        // The total is still what the pods ran: 2 h each.
        #expect(near(projects.total.estimatedUSD, 12.0))
        let runs = calculator.report(snapshot, from: t0, to: now, by: .run)
        #expect(runs.rows.map(\.key) == ["a_20261120-090000", "(no run)"])
        let pods = calculator.report(snapshot, from: t0, to: now, by: .pod)
        #expect(pods.rows.map(\.key) == ["gpu2", "gpu1"])
        #expect(near(pods.rows[0].figures.estimatedUSD, 8.0))
    }

    @Test func anOpenSessionEndsAtThePodsNextStop() {
        let snapshot = LedgerSnapshot(
            states: [PodStateRecord(pod: "gpu1", status: "RUNNING", costPerHour: 1.0, at: t0),
                     PodStateRecord(pod: "gpu1", status: "EXITED", costPerHour: 0, at: minutes(45))],
            sessions: [SessionRecord(id: .init(1), pod: "gpu1", project: "/p/a", run: nil, kind: .launch, start: minutes(15), end: nil)])
        let report = calculator.report(snapshot, from: t0, to: minutes(24 * 60), by: .project)
        #expect(near(report.rows[0].figures.gpuHours, 0.5))
    }

    @Test func timeWithoutAPriceIsCountedButNotPriced() {
        let snapshot = LedgerSnapshot(sessions: [
            SessionRecord(id: .init(1), pod: "box", project: "/p/a", run: nil, kind: .launch, start: t0, end: minutes(120)),
        ])
        let report = calculator.report(snapshot, from: t0, to: minutes(180), by: .pod)
        #expect(near(report.total.gpuHours, 2))
        #expect(near(report.total.unpricedHours, 2))
        #expect(report.total.usd == 0)
    }

    @Test func daysSplitAtMidnightInTheCalendarsTimeZone() {
        let start = CostTime.at("2026-11-20T23:00:00Z")
        let snapshot = LedgerSnapshot(states: [
            PodStateRecord(pod: "gpu1", status: "RUNNING", costPerHour: 1.0, at: start),
            PodStateRecord(pod: "gpu1", status: "EXITED", costPerHour: 0, at: start.addingTimeInterval(3 * 3600)),
        ])
        let report = calculator.report(snapshot, from: CostTime.at("2026-11-19T12:00:00Z"), to: CostTime.at("2026-11-21T12:00:00Z"), by: .pod)
        #expect(report.days.count == 3)
        #expect(report.days.map { near($0.figures.estimatedUSD, 0) } == [true, false, false])
        #expect(near(report.days[1].figures.estimatedUSD, 1))
        #expect(near(report.days[2].figures.estimatedUSD, 2))
    }

    @Test func aSameStateIsStoredOnceAndSessionsOpenAndClose() throws {
        let bed = try CostTestBed()
        let ledger = try bed.ledger()
        #expect(try ledger.recordPodState(pod: "gpu1", status: "RUNNING", costPerHour: 0.44, at: t0))
        #expect(try !ledger.recordPodState(pod: "gpu1", status: "RUNNING", costPerHour: 0.44, at: minutes(5)))
        #expect(try ledger.recordPodState(pod: "gpu1", status: "RUNNING", costPerHour: 0.69, at: minutes(10)))
        let id = try ledger.recordSessionStart(pod: "gpu1", project: "/p/a", run: "r_1", kind: .attach, at: minutes(1))
        var snapshot = try ledger.snapshot(from: t0, to: minutes(60))
        #expect(snapshot.states.count == 2)
        #expect(snapshot.sessions.first?.end == nil)
        try ledger.recordSessionEnd(id, at: minutes(31))
        snapshot = try ledger.snapshot(from: t0, to: minutes(60))
        #expect(snapshot.sessions == [SessionRecord(id: id, pod: "gpu1", project: "/p/a", run: "r_1", kind: .attach,
                                                    start: minutes(1), end: minutes(31))])
        #expect(throws: CCPodError.self) { try ledger.recordPodState(pod: "gpu1", status: "RUNNING", costPerHour: .nan, at: t0) }
        // Files: the ledger is private.
        let mode = try FileManager.default.attributesOfItem(atPath: bed.ledgerFile.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func runFoldersComeFromTheCodePath() {
        #expect(LedgerRun.folder(ofPodPath: "/workspace/runs/stage1_dpo_20261125-101500/code") == "stage1_dpo_20261125-101500")
        #expect(LedgerRun.folder(ofPodPath: "/workspace/runs/stage1/code/sub") == "stage1")
        #expect(LedgerRun.folder(ofPodPath: "/workspace/projects/app") == nil)
        #expect(LedgerRun.folder(ofPodPath: "/workspace/runs/x") == nil)
    }
}
