import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `ccpod pods` with a RunPod API key: RunPod's status and price per pod that has a RunPod
/// id (from the API, faked from its published document); a stopped pod is reported as
/// RunPod says and not dialled; a pod without an id is asked over ssh only.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"),
       .enabled(if: ClaudeTestPaths.ccpodBinary != nil, "the ccpod binary was not built next to the tests"),
       .enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)"))
struct PodsRunPodTests {
    @Test func runPodStatusAndPricePerPod() throws {
        let bed = try ThreePodBed()
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        let locations = CCPodLocations.resolve(environment: bed.env)
        var config = try CCPodConfig.load(from: locations)
        config.pods["gpua"]?.runpodId = "runninga"
        config.pods["gpub"]?.runpodId = "stoppedb"
        try config.save(to: locations)
        fake.setPod(.init(id: "runninga", sshPort: try #require(bed.sshds["gpua"]).port, cost: 0.69))
        fake.setPod(.init(id: "stoppedb", status: "EXITED", sshPort: try #require(bed.sshds["gpub"]).port, cost: 0))
        // gpub's sshd is gone too: were it dialled, its error would be ssh's, not RunPod's.
        bed.sshds["gpub"]?.shutdown()

        var env = bed.env
        env["RUNPOD_API_KEY"] = fake.apiKey
        env["RUNPOD_API_URL"] = fake.baseURL.absoluteString
        let binary = try #require(ClaudeTestPaths.ccpodBinary)
        let out = try ChildProcess.run(binary.path, ["pods", "--json"], environment: env, directory: bed.project)
        #expect(out.status == 0, "\(out.stderrText)")
        let list = try #require(try JSONSerialization.jsonObject(with: out.stdout) as? [[String: Any]], "\(out.stdoutText)")
        let a = try #require(list.first { $0["name"] as? String == "gpua" })
        #expect(a["runpodStatus"] as? String == "RUNNING")
        #expect(a["costPerHour"] as? Double == 0.69)
        #expect(a["reachable"] as? Bool == true)
        let b = try #require(list.first { $0["name"] as? String == "gpub" })
        #expect(b["runpodStatus"] as? String == "EXITED")
        #expect(b["reachable"] as? Bool == false)
        #expect((b["error"] as? String)?.contains("ccpod pod start gpub") == true, "\(b)")
        let c = try #require(list.first { $0["name"] as? String == "gpuc" })
        #expect(c["runpodStatus"] == nil && c["reachable"] as? Bool == true)
        // The key never reaches the output.
        #expect(!out.stdoutText.contains(fake.apiKey) && !out.stderrText.contains(fake.apiKey))

        // The table says the same in columns.
        let table = try ChildProcess.run(binary.path, ["pods"], environment: env, directory: bed.project)
        let rowA = table.stdoutText.split(separator: "\n").first { $0.hasPrefix("gpua") }.map(String.init) ?? ""
        #expect(rowA.contains("RUNNING") && rowA.contains("0.69"), "\(table.stdoutText)")
    }
}
