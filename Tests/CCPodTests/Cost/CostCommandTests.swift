import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The real binary: `ccpod cost` against the fake API, `cost record` from two processes
/// at once, a damaged ledger, and `launch`/`attach` refused over budget.
@Suite(.enabled(if: costTestBinary != nil, "the ccpod binary was not built next to the tests"), .enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)"))
struct CostCommandTests {
    func run(_ args: [String], _ bed: CostTestBed, env extra: [String: String] = [:], directory: String? = nil) throws -> ChildProcess.Output {
        try ChildProcess.run(costTestBinary!, args, environment: bed.environment(extra), directory: directory)
    }

    @Test func costRefreshesTheBillAndStillReportsWhenTheAPIFails() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        let bed = try CostTestBed()
        try bed.writeConfig("[pods.gpu1]\nrunpodId = \"rp1\"\ndirect = \"root@198.51.100.1:22\"\n")
        let hour = (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600
        let hours = (3...8).map { FakeRunPodBilling.Hour(podId: "rp1", start: Date(timeIntervalSince1970: hour - Double($0) * 3600), gpu: 0.44, disk: 0.01) }
        fake.billing.add(hours)
        let env = ["RUNPOD_API_KEY": fake.apiKey, "RUNPOD_API_URL": fake.baseURL.absoluteString]

        let json = try run(["cost", "--since", "2d", "--json"], bed, env: env)
        #expect(json.status == 0, "\(json.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let total = try #require(object["total"] as? [String: Any])
        #expect(near(total["billedUSD"] as? Double ?? -1, hours.reduce(0) { $0 + $1.total }))
        #expect(object["billing"] as? String == "refreshed (6 records)")
        #expect((object["rows"] as? [[String: Any]])?.first?["pod"] as? String == "gpu1")
        #expect(fake.requests.count == 1)

        fake.mode = .serverError
        let text = try run(["cost", "--since", "2d"], bed, env: env)
        #expect(text.status == 0)
        #expect(text.stderrText.contains("RunPod's bill was not refreshed"))
        #expect(text.stdoutText.contains("gpu1"))
        #expect(text.stdoutText.contains("$2.70"))
        for output in [json, text] { #expect(!(output.stdoutText + output.stderrText).contains(fake.apiKey)) }

        let usage = try run(["cost", "--since", "soon"], bed)
        #expect(usage.status == 64)
        #expect(usage.stderrText.contains("--since takes a duration"))
    }

    @Test func twoProcessesWritingAtOnceLoseNothing() throws {
        let bed = try CostTestBed()
        let rounds = 25
        // A fresh state dir: both also race to create the ledger.
        var writers: [ChildProcess] = []
        for pod in ["p1", "p2"] {
            var script = ""
            for i in 0..<rounds {
                let status = i % 2 == 0 ? "RUNNING --usd-per-hour 0.44" : "EXITED"
                script += "\"$0\" cost record \(pod) --status \(status) --at 2026-11-20T10:\(String(format: "%02d", i)):00Z >/dev/null 2>&1 || exit 1\n"
            }
            writers.append(try ChildProcess.spawn("/bin/sh", ["-c", script, costTestBinary!], environment: bed.environment(),
                                                  stdout: .null, stderr: .null))
        }
        // And this process at the same time.
        var ids: [LedgerSessionID] = []
        for i in 0..<rounds {
            let ledger = try bed.ledger()
            ids.append(try ledger.recordSessionStart(pod: "p3", project: "/p/\(i)", run: nil, kind: .launch,
                                                     at: CostTime.at("2026-11-20T10:00:00Z").addingTimeInterval(Double(i))))
        }
        #expect(writers.map { $0.wait() } == [0, 0])
        let snapshot = try bed.ledger().snapshot(from: CostTime.at("2026-11-20T00:00:00Z"), to: CostTime.at("2026-11-21T00:00:00Z"))
        #expect(snapshot.states.filter { $0.pod == "p1" }.count == rounds)
        #expect(snapshot.states.filter { $0.pod == "p2" }.count == rounds)
        #expect(snapshot.sessions.count == rounds)
        #expect(Set(ids).count == rounds)
    }

    @Test func aDamagedLedgerIsRefusedWithWhatToDo() throws {
        let bed = try CostTestBed()
        try CCPodLocations.makePrivateDirectory(bed.locations.stateDir)
        try Data("this is not a database, it was overwritten by something\n".utf8).write(to: bed.ledgerFile)
        let cost = try run(["cost"], bed)
        #expect(cost.status == 65, "\(cost.stderrText)")
        #expect(cost.stderrText.contains("the cost ledger \(bed.ledgerFile.path) is damaged"))
        #expect(cost.stderrText.contains("mv \(bed.ledgerFile.path) \(bed.ledgerFile.path).damaged"))

        // A real ledger whose pages were overwritten later: refused when read, not a crash.
        try FileManager.default.removeItem(at: bed.ledgerFile)
        do {
            let ledger = try bed.ledger()
            for i in 0..<400 {
                try ledger.recordPodState(pod: "pod-\(i % 7)", status: i % 2 == 0 ? "RUNNING" : "EXITED", costPerHour: Double(i), at: Date(timeIntervalSince1970: Double(i)))
            }
        }
        let handle = try FileHandle(forWritingTo: bed.ledgerFile)
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 8192))
        try handle.close()
        let damaged = #expect(throws: CCPodError.self) {
            _ = try bed.ledger().snapshot(from: Date(timeIntervalSince1970: 0), to: Date(timeIntervalSince1970: 1000))
        }
        #expect(damaged?.status == .badData)
        #expect(damaged?.message.contains("is damaged") == true)
        let again = try run(["cost"], bed)
        #expect(again.status == 65, "\(again.stderrText)")
    }

    @Test func launchAndAttachRefuseOverBudgetAndOverBudgetGoesOn() throws {
        let bed = try CostTestBed()
        // A pod nothing listens for: the budget is checked before any connection.
        try bed.writeConfig("[pods.gpu1]\ndirect = \"root@127.0.0.1:1\"\nbudget_usd_per_day = 0.01\n")
        let project = bed.root.appendingPathComponent("project").path
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let claude = bed.root.appendingPathComponent("claude").path
        try FileManager.default.createDirectory(atPath: claude + "/projects", withIntermediateDirectories: true)
        let recorded = try run(["cost", "record", "gpu1", "--status", "RUNNING", "--usd-per-hour", "1000", "--at", "2d"], bed)
        #expect(recorded.status == 0, "\(recorded.stderrText)")

        for command in ["launch", "attach"] {
            let refused = try run([command, "--pod", "gpu1", "--project", project, "--claude-dir", claude], bed, directory: project)
            #expect(refused.status == 3, "\(command): \(refused.stderrText)")
            #expect(refused.stderrText.contains("over budget: pod gpu1 has used $"))
            #expect(refused.stderrText.contains("budget_usd_per_day"))
            #expect(refused.stderrText.contains("--over-budget"))
            let forced = try run([command, "--pod", "gpu1", "--project", project, "--claude-dir", claude, "--over-budget"], bed, directory: project)
            #expect(forced.status != 3 && forced.status != 0, "\(command): \(forced.stderrText)")
            #expect(forced.stderrText.contains("going on (--over-budget)"))
        }
    }
}
