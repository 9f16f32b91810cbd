@testable import CCPodCLI
import CCPodKit
import Foundation
import Testing

/// `--since` and what `ccpod cost` prints for a fixed ledger and a fixed "now".
@Suite struct CostRenderingTests {
    let now = CostTime.at("2026-11-20T18:30:00Z")

    @Test func sinceTakesDurationsAndDates() throws {
        let utc = CostTime.utc
        #expect(try CostSince.parse("7d", now: now, calendar: utc) == now.addingTimeInterval(-7 * 86400))
        #expect(try CostSince.parse("24h", now: now, calendar: utc) == now.addingTimeInterval(-86400))
        #expect(try CostSince.parse("30m", now: now, calendar: utc) == now.addingTimeInterval(-1800))
        #expect(try CostSince.parse("2w", now: now, calendar: utc) == now.addingTimeInterval(-14 * 86400))
        #expect(try CostSince.parse("2026-11-01", now: now, calendar: utc) == CostTime.at("2026-11-01T00:00:00Z"))
        var berlin = Calendar(identifier: .gregorian)
        berlin.timeZone = TimeZone(identifier: "Europe/Berlin")!
        #expect(try CostSince.parse("2026-11-01", now: now, calendar: berlin) == CostTime.at("2026-10-31T23:00:00Z"))
        #expect(try CostSince.parse("2026-11-20T12:00:00Z", now: now, calendar: utc) == CostTime.at("2026-11-20T12:00:00Z"))
        for bad in ["", "7", "0d", "-3d", "7x", "d", "2026-02-30", "2026-13-01", "2026-11-21", "99999d", "yesterday", "7d\u{1b}[2J"] {
            let error = #expect(throws: CCPodError.self, "\(bad)") { try CostSince.parse(bad, now: now, calendar: utc) }
            #expect(error?.status == .usage)
            #expect(error?.message.contains("\u{1b}") == false)
        }
    }

    /// Three days: billed yesterday, a day with nothing, today partly billed and estimated.
    func fixedReport(by grouping: CostGrouping = .pod) -> CostReport {
        let h = { (text: String) in CostTime.at(text) }
        let snapshot = LedgerSnapshot(
            states: [
                PodStateRecord(pod: "gpu1", runpodId: "rp1", status: "RUNNING", costPerHour: 2.0, at: h("2026-11-18T10:00:00Z")),
                PodStateRecord(pod: "gpu1", runpodId: "rp1", status: "EXITED", costPerHour: 0, at: h("2026-11-18T14:00:00Z")),
                PodStateRecord(pod: "gpu1", runpodId: "rp1", status: "RUNNING", costPerHour: 2.0, at: h("2026-11-20T12:00:00Z")),
                PodStateRecord(pod: "a100", status: "RUNNING", costPerHour: 1.5, gpuCount: 2, at: h("2026-11-20T16:00:00Z")),
                PodStateRecord(pod: "a100", status: "EXITED", costPerHour: 0, at: h("2026-11-20T17:00:00Z")),
            ],
            sessions: [
                SessionRecord(id: .init(1), pod: "gpu1", project: "/home/me/code/stage1_dpo", run: "stage1_dpo_20261118-095000",
                              kind: .launch, start: h("2026-11-18T10:30:00Z"), end: h("2026-11-18T12:00:00Z")),
            ],
            billing: [
                RunPodBillingRecord(podId: "rp1", start: h("2026-11-18T10:00:00Z"), end: h("2026-11-18T14:00:00Z"), totalAmount: 8.4, gpuAmount: 8, diskAmount: 0.4),
                RunPodBillingRecord(podId: "rp1", start: h("2026-11-20T12:00:00Z"), end: h("2026-11-20T15:00:00Z"), totalAmount: 6.1, gpuAmount: 6, diskAmount: 0.1),
            ])
        return CostCalculator(calendar: CostTime.utc, podNames: ["rp1": "gpu1"])
            .report(snapshot, from: h("2026-11-18T00:00:00Z"), to: now, by: grouping)
    }

    @Test func theReportAndItsBarsForAFixedLedger() {
        let text = CostRendering.text(fixedReport(), calendar: CostTime.utc, unicode: true)
        #expect(text == """
            from 2026-11-18 00:00 to 2026-11-20 18:30

            POD    GPU-HOURS  BILLED  ESTIMATED    TOTAL
            gpu1        10.5  $14.50     ~$7.00  ~$21.50
            a100         2.0       -     ~$1.50   ~$1.50
            ────────────────────────────────────────────
            total       12.5  $14.50     ~$8.50  ~$23.00

            11-18 Wed ██████████████████████████▌                         $8.40   4.0 h
            11-19 Thu                                                         -
            11-20 Fri ███████████████████▎▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒    ~$14.60   8.5 h
            █ billed  ▒ estimated

            ~ estimated: $/h × the time ccpod saw the pod run

            """)
        for line in text.split(separator: "\n") { #expect(line.count <= CostRendering.width, "\(line)") }
    }

    @Test func anEmptyLedgerSaysSoWithoutTrailingBlanks() {
        let report = CostCalculator(calendar: CostTime.utc).report(LedgerSnapshot(), from: now.addingTimeInterval(-1800), to: now, by: .pod)
        let text = CostRendering.text(report, calendar: CostTime.utc, unicode: false)
        #expect(text.contains("(nothing recorded)\n"))
        #expect(text.contains("total                     0.0       -          -  $0.00\n"))
        #expect(!text.split(separator: "\n").contains { $0.hasSuffix(" ") })
    }

    @Test func withoutATerminalTheBarsArePlain() {
        let text = CostRendering.chart(fixedReport().days, calendar: CostTime.utc, unicode: false)
        #expect(text == """
            11-18 Wed ###########################                         $8.40   4.0 h
            11-19 Thu                                                         -
            11-20 Fri ####################==========================    ~$14.60   8.5 h
            # billed  = estimated

            """)
    }

    @Test func byProjectShowsHomeAsTildeAndTheJSONKeepsThePath() throws {
        let report = fixedReport(by: .project)
        let text = CostRendering.text(report, calendar: CostTime.utc, unicode: true, home: "/home/me")
        #expect(text.contains("~/code/stage1_dpo"))
        #expect(text.contains("all pods"))
        let json = try CostRendering.json(report, calendar: CostTime.utc, billing: .refreshed(records: 2))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.first?["project"] as? String == "/home/me/code/stage1_dpo")
        #expect(rows.first?["gpuHours"] as? Double == 1.5)
        #expect(rows.first?["estimatedUSD"] as? Double == 3)
        let days = try #require(object["days"] as? [[String: Any]])
        #expect(days.map { $0["date"] as? String } == ["2026-11-18", "2026-11-19", "2026-11-20"])
        #expect((object["total"] as? [String: Any])?["billedUSD"] as? Double == 14.5)
        #expect(object["billing"] as? String == "refreshed (2 records)")
    }
}
