@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// RunPod's bill through the API into the ledger: the sums must be the fake's.
@Suite(.enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)")) struct CostBillingTests {
    let now = CostTime.at("2026-11-20T18:30:00Z")

    /// Hours of two pods over two days, with cents that do not add up to round numbers.
    func bill(_ fake: FakeRunPodAPI) -> [FakeRunPodBilling.Hour] {
        var hours: [FakeRunPodBilling.Hour] = []
        let start = CostTime.at("2026-11-19T02:00:00Z")
        for i in 0..<30 {
            let at = start.addingTimeInterval(Double(i) * 3600)
            hours.append(.init(podId: "rp1", start: at, gpu: 0.44 + Double(i % 3) * 0.01, disk: 0.013))
            if i % 2 == 0 { hours.append(.init(podId: "rp2", start: at, gpu: 1.19, cpu: 0.02, disk: 0.007)) }
        }
        // An hour before the window that must not be counted.
        hours.append(.init(podId: "rp1", start: CostTime.at("2026-11-10T05:00:00Z"), gpu: 99))
        fake.billing.add(hours)
        fake.billing.now = now
        return hours
    }

    func client(_ fake: FakeRunPodAPI) -> RunPodAPI {
        RunPodAPI(apiKey: fake.apiKey, baseURL: fake.baseURL, requestTimeout: .seconds(5), sleep: { _ in })
    }

    @Test func theLedgersSumsMatchTheFakeAPIsBillingRecords() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        let hours = bill(fake)
        let from = CostTime.at("2026-11-18T00:00:00Z")
        let page = try client(fake).podBilling(from: from, bucket: .hour)
        #expect(page.windowStart == from)
        #expect(page.records.count == 45)
        let request = try #require(fake.requests.last)
        #expect(request.path.hasPrefix("/v2/billing/pods?"))
        #expect(request.path.contains("startTime=2026-11-18T00:00:00Z"))
        #expect(request.path.contains("bucketSize=hour"))

        let bed = try CostTestBed()
        let ledger = try bed.ledger()
        #expect(try ledger.importBilling(page, at: now) == 45)
        // Importing the same window again replaces, never adds.
        #expect(try ledger.importBilling(try client(fake).podBilling(from: from, bucket: .hour), at: now) == 45)

        let calculator = CostCalculator(calendar: CostTime.utc, podNames: ["rp1": "gpu1", "rp2": "h100"])
        let report = calculator.report(try ledger.snapshot(from: from, to: now), from: from, to: now, by: .pod)
        let inWindow = hours.filter { $0.start >= from }
        func expected(_ id: String) -> Double { inWindow.filter { $0.podId == id }.reduce(0) { $0 + $1.total } }
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.key, $0.figures) })
        #expect(near(rows["gpu1"]?.billedUSD ?? -1, expected("rp1")))
        #expect(near(rows["h100"]?.billedUSD ?? -1, expected("rp2")))
        #expect(near(report.total.billedUSD, inWindow.reduce(0) { $0 + $1.total }))
        #expect(report.total.estimatedUSD == 0)
        // Per day: what the fake billed that UTC day.
        let day19 = inWindow.filter { $0.start < CostTime.at("2026-11-20T00:00:00Z") }.reduce(0) { $0 + $1.total }
        #expect(near(report.days[1].figures.billedUSD, day19))

        // Day buckets sum to the same.
        let daily = try client(fake).podBilling(from: from, bucket: .day, podId: "rp2")
        #expect(near(daily.records.reduce(0) { $0 + $1.totalAmount }, expected("rp2")))
        #expect(Set(daily.records.map(\.podId)) == ["rp2"])
    }

    @Test func oneRefreshCallForTheConfiguredPodsAndFailuresAreReturned() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        let hours = bill(fake)
        let bed = try CostTestBed()
        let ledger = try bed.ledger()
        let env = ["RUNPOD_API_KEY": fake.apiKey, "RUNPOD_API_URL": fake.baseURL.absoluteString]
        let one = try CCPodConfig.parse("[pods.gpu1]\nrunpodId = \"rp1\"\n[pods.box]\ndirect = \"root@198.51.100.1:22\"\n")
        let from = CostTime.at("2026-11-19T00:00:00Z")
        let outcome = CostBillingRefresh.refresh(config: one, environment: env, ledger: ledger, from: from, now: now)
        #expect(outcome == .refreshed(records: hours.filter { $0.podId == "rp1" && $0.start >= from }.count))
        #expect(fake.requests.count == 1)
        #expect(fake.requests[0].path.contains("podId=rp1"))

        // No key: nothing is asked.
        #expect(CostBillingRefresh.refresh(config: one, environment: [:], ledger: ledger, from: from, now: now) == .notConfigured)
        #expect(fake.requests.count == 1)

        // The API fails: the sentence comes back, the key never.
        fake.mode = .serverError
        guard case .failed(let why) = CostBillingRefresh.refresh(config: one, environment: env, ledger: ledger, from: from, now: now) else {
            Issue.record("a failing API was not reported")
            return
        }
        #expect(why.contains("500") && !why.contains(fake.apiKey))
        fake.mode = .garbage
        guard case .failed(let garbage) = CostBillingRefresh.refresh(config: one, environment: env, ledger: ledger, from: from, now: now) else {
            Issue.record("an answer that is not a bill was accepted")
            return
        }
        #expect(garbage.contains("not a pod bill"))
        // What the first refresh stored is still there.
        #expect(try ledger.snapshot(from: from, to: now).billing.count == hours.filter { $0.podId == "rp1" && $0.start >= from }.count)
    }

    @Test func billsThatLieAreRefused() throws {
        func decode(_ records: String, window: String = #"{"startTime":"2026-11-18T00:00:00Z","endTime":"2026-11-19T00:00:00Z"}"#) throws -> RunPodBillingPage {
            try RunPodAPI.decodeBilling(Data(#"{"records":[\#(records)],"metadata":{"query":\#(window),"recordCount":1,"totals":{}}}"#.utf8))
        }
        let good = #"{"podId":"rp1","startTime":"2026-11-18T01:00:00Z","endTime":"2026-11-18T02:00:00Z","totalAmount":0.5}"#
        #expect(try decode(good).records.first?.totalAmount == 0.5)
        let lies = [
            #"{"podId":"../x","startTime":"2026-11-18T01:00:00Z","endTime":"2026-11-18T02:00:00Z","totalAmount":0.5}"#,
            #"{"podId":"rp1","startTime":"2026-11-18T03:00:00Z","endTime":"2026-11-18T02:00:00Z","totalAmount":0.5}"#,
            #"{"podId":"rp1","startTime":"yesterday","endTime":"2026-11-18T02:00:00Z","totalAmount":0.5}"#,
            #"{"podId":"rp1","startTime":"2026-11-18T01:00:00Z","endTime":"2026-11-18T02:00:00Z","totalAmount":1e300}"#,
            #"{"podId":"rp1","startTime":"2026-11-18T01:00:00Z","endTime":"2026-11-18T02:00:00Z"}"#,
        ]
        for lie in lies {
            let error = #expect(throws: CCPodError.self, "\(lie)") { try decode(lie) }
            #expect(error?.status == .badData)
        }
    }
}
