@testable import CCPodCLI
@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Time that passes only when slept: waits are counted, never taken.
final class VirtualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var elapsed: Duration = .zero
    private let start = ContinuousClock.now
    var now: ContinuousClock.Instant { lock.lock(); defer { lock.unlock() }; return start + elapsed }
    func sleep(_ d: Duration) { lock.lock(); elapsed += d; lock.unlock() }
}

/// Lines said, in order.
final class Said: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
}

/// The RunPod side of the pod lifecycle: the fake API's transitions, the start wait,
/// error mapping, the key's rules, and `ccpod pod status` (one call, running or stopped).
@Suite(.enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)")) struct PodLifecycleAPITests {
    static let key = "rpa_LIFECYCLE0000000000000000000000000000001"

    func client(_ fake: FakeRunPodAPI, key: String? = nil) -> RunPodAPI {
        RunPodAPI(apiKey: key ?? fake.apiKey, baseURL: fake.baseURL, maxAttempts: 2, requestTimeout: .seconds(5), sleep: { _ in })
    }

    @Test func theFakeGoesRunningExitedRunningOnANewPortWithoutCostWhileStopped() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "pod1", sshPort: 41000, startingPolls: 2))
        let seen = Said()
        fake.onAction { action, pod in seen.add("\(action) \(pod.status)"); if action == "start" { pod.sshPort = 42424 } }
        let api = client(fake)
        let stopped = try #require(try api.perform(.stop, podId: "pod1"))
        #expect(stopped.status == "EXITED" && stopped.costPerHour == 0 && stopped.directSSH == nil && stopped.uptimeSeconds == nil)
        #expect(stopped.details.gpuType == "NVIDIA GeForce RTX 4090" && stopped.details.volumePath == "/workspace")
        #expect(stopped.actions == ["start", "terminate"])
        let starting = try #require(try api.perform(.start, podId: "pod1"))
        #expect(starting.status == "STARTING" && starting.costPerHour == 0)
        #expect(try api.pod(id: "pod1").status == "STARTING")
        let running = try api.pod(id: "pod1")
        #expect(running.status == "RUNNING" && running.costPerHour == 0.44)
        #expect(try running.directEndpoint().port == 42424)
        #expect(seen.all == ["stop EXITED", "start STARTING"])
    }

    @Test func startWaitsForTheGPUThenForSSHAndSaysEachOnce() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "pod1", status: "EXITED", sshPort: 41000, startingPolls: 3))
        let clock = VirtualClock(), said = Said()
        let answers = Said()
        let starter = PodStarter(api: client(fake), podId: "pod1", pollInterval: .seconds(5), timeout: .seconds(600),
                                 sshAnswers: { _ in answers.add("try"); return answers.all.count >= 3 },
                                 progress: { said.add($0) }, sleep: { clock.sleep($0) }, now: { clock.now })
        let outcome = try starter.run()
        #expect(outcome.started && outcome.pod.isRunning && outcome.endpoint.port == 41001)
        #expect(said.all == ["waiting for a GPU (STARTING)", "waiting for SSH at 127.0.0.1:41001"])
        #expect(answers.all.count == 3)
        // One GET, the start, three GETs until RUNNING.
        #expect(fake.requests.map(\.method) == ["GET", "POST", "GET", "GET", "GET"])
    }

    @Test func startGivesUpAtItsTimeoutSayingWhatThePodDoes() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "pod1", status: "EXITED", sshPort: 41000, startingPolls: 1000))
        let clock = VirtualClock()
        let starter = PodStarter(api: client(fake), podId: "pod1", pollInterval: .seconds(5), timeout: .seconds(60),
                                 sshAnswers: { _ in true }, sleep: { clock.sleep($0) }, now: { clock.now })
        let error = try #require(throws: CCPodError.self) { try starter.run() }
        #expect(error.status == .unavailable && error.message.contains("still STARTING after 60 s") && error.message.contains("--wait-timeout"))
        #expect(fake.requests.count == 2 + 12)
    }

    @Test(arguments: [(401, CCPodKit.ExitStatus.notPermitted, "rejected"), (403, .notPermitted, "may not"), (404, .noInput, "no pod"),
                      (429, .busy, "rate limit"), (500, .unavailable, "failed"), (503, .unavailable, "failed")])
    func apiErrorsHaveTheirOwnExitCodeAndNeverTheKey(status: Int, exit: CCPodKit.ExitStatus, words: String) throws {
        let fake = try FakeRunPodAPI(apiKey: Self.key)
        defer { fake.shutdown() }
        fake.setPod(.init(id: "pod1", sshPort: 41000))
        fake.failNext(status, count: 5)
        let error = try #require(throws: CCPodError.self) { try client(fake).perform(.stop, podId: "pod1") }
        #expect(error.status == exit, "\(error.message)")
        #expect(error.message.contains(words), "\(error.message)")
        #expect(!error.message.contains(Self.key) && !"\(error)".contains(Self.key))
        let response = try #require(fake.requests.first)
        #expect(response.headers["authorization"] == "Bearer \(Self.key)")
    }

    @Test func oddExtrasInThePodDocumentAreLeftOutNotFatal() throws {
        let json = #"{"id":"pod1","status":"EXITED","actions":["start"],"cost":0,"gpu":"lots","mounts":{"network":{"volumeId":7}},"#
            + #""image":["x"],"locked":"no","startedAt":null,"ssh":{"proxy":null,"direct":null},"runtime":null}"#
        let pod = try RunPodAPI.decodePod(Data(json.utf8))
        #expect(pod.status == "EXITED" && pod.details == RunPodPodDetails())
        let long = String(repeating: "G", count: 5000)
        let big = try RunPodAPI.decodePod(Data(#"{"id":"pod1","status":"RUNNING","gpu":{"id":"\#(long)","count":100000}}"#.utf8))
        #expect(big.details.gpuType?.count == 200 && big.details.gpuCount == 1024)
    }

    @Test func theKeyFileMustBePrivate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-key-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("runpod.key").path
        try (Self.key + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let pod = PodSettings(name: "gpu", runpodId: "pod1", apiKeyFile: file)
        chmod(file, 0o644)
        let error = try #require(throws: CCPodError.self) { try pod.apiKey(environment: [:]) }
        #expect(error.status == .notPermitted && error.message.contains("chmod 600") && !error.message.contains(Self.key))
        chmod(file, 0o600)
        #expect(try pod.apiKey(environment: [:]) == Self.key)
        #expect(try pod.apiKey(environment: ["RUNPOD_API_KEY": "rpa_env"]) == "rpa_env")
    }

    @Test func theAPIAddressComesFromRUNPOD_API_URLAndWhatIsMissingIsNamed() throws {
        #expect(try RunPodAPI.baseURL(environment: [:]) == RunPodAPI.defaultBaseURL)
        #expect(try RunPodAPI.baseURL(environment: ["RUNPOD_API_URL": "http://127.0.0.1:9"]).absoluteString == "http://127.0.0.1:9")
        #expect(throws: CCPodError.self) { try RunPodAPI.baseURL(environment: ["RUNPOD_API_URL": "file:///etc/passwd"]) }
        let noId = try #require(throws: CCPodError.self) {
            try RunPodAPI.forPod(PodSettings(name: "gpu"), environment: ["RUNPOD_API_KEY": "k"], what: "`ccpod pod start`")
        }
        #expect(noId.status == .usage && noId.message.contains("--runpod-id"))
        let noKey = try #require(throws: CCPodError.self) {
            try RunPodAPI.forPod(PodSettings(name: "gpu", runpodId: "pod1"), environment: [:], what: "`ccpod pod start`")
        }
        #expect(noKey.status == .usage && noKey.message.contains("RUNPOD_API_KEY"))
        let made = try RunPodAPI.forPod(PodSettings(name: "gpu", runpodId: "pod1"),
                                        environment: ["RUNPOD_API_KEY": "k", "RUNPOD_API_URL": "http://127.0.0.1:9"], what: "x")
        #expect(made.api.baseURL.absoluteString == "http://127.0.0.1:9" && made.podId == "pod1")
    }

    // MARK: - ccpod pod status

    struct Config {
        let root: URL
        let env: [String: String]
        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    /// A config with one RunPod pod, and the environment that points ccpod at the fake.
    func config(_ fake: FakeRunPodAPI) throws -> Config {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-life-\(UUID().uuidString.prefix(6))")
        let locations = CCPodLocations(configDir: root.appendingPathComponent("config/ccpod"), stateDir: root.appendingPathComponent("state/ccpod"))
        var config = CCPodConfig()
        config.pods["gpu"] = PodSettings(name: "gpu", direct: SSHEndpoint(user: "root", host: "127.0.0.1", port: 41000), runpodId: "pod1")
        config.defaultPod = "gpu"
        try config.save(to: locations)
        let env = ["HOME": root.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path, "XDG_STATE_HOME": root.appendingPathComponent("state").path,
                   "RUNPOD_API_KEY": fake.apiKey, "RUNPOD_API_URL": fake.baseURL.absoluteString]
        return Config(root: root, env: env)
    }

    func run(_ args: [String], _ env: [String: String]) throws { try runCCPod(args, env) }

    @Test func statusIsOneCallWhetherThePodRunsOrNot() throws {
        let fake = try FakeRunPodAPI(apiKey: Self.key)
        defer { fake.shutdown() }
        fake.setPod(.init(id: "pod1", sshPort: 41022, gpuCount: 2))
        let c = try config(fake)
        defer { c.remove() }
        try run(["pod", "status", "gpu", "--json"], c.env)
        #expect(fake.requests.count == 1 && fake.requests[0].path == "/v2/pods/pod1")
        fake.updatePod("pod1") { $0.status = "EXITED" }
        try run(["pod", "status"], c.env)
        #expect(fake.requests.count == 2 && fake.requests.allSatisfy { $0.method == "GET" })
        // What RunPod said went into the cost ledger: running at $0.44/h with 2 GPUs, then stopped at $0.
        let locations = CCPodLocations(configDir: c.root.appendingPathComponent("config/ccpod"), stateDir: c.root.appendingPathComponent("state/ccpod"))
        let states = try CostLedger.open(locations: locations).snapshot(from: .distantPast, to: Date().addingTimeInterval(60)).states
        #expect(states.map(\.status) == ["RUNNING", "EXITED"])
        #expect(states.first?.costPerHour == 0.44 && states.first?.gpuCount == 2 && states.last?.costPerHour == 0)

        var stoppedView = PodStatusView(settings: PodSettings(name: "gpu", runpodId: "pod1"), pod: try client(fake).pod(id: "pod1"))
        #expect(stoppedView.status == "EXITED" && stoppedView.costPerHour == 0 && stoppedView.direct == nil)
        #expect(stoppedView.text().contains("none while EXITED; `ccpod pod start gpu`"))
        fake.updatePod("pod1") { $0.status = "RUNNING" }
        stoppedView = PodStatusView(settings: PodSettings(name: "gpu", direct: SSHEndpoint(user: "root", host: "127.0.0.1", port: 41000), runpodId: "pod1"),
                                    pod: try client(fake).pod(id: "pod1"))
        let text = stoppedView.text()
        #expect(text.contains("2 × NVIDIA GeForce RTX 4090") && text.contains("$0.44/h") && text.contains("1 h 0 min"))
        #expect(text.contains("root@127.0.0.1:41022") && text.contains("the config has root@127.0.0.1:41000") && text.contains("20 GB at /workspace"))
        let json = try stoppedView.json()
        #expect(json.contains("\"gpuCount\" : 2") && !json.contains(Self.key))
    }

    @Test func aCommandWithoutKeyOrIdSaysWhatToConfigure() throws {
        let fake = try FakeRunPodAPI(apiKey: Self.key)
        defer { fake.shutdown() }
        let c = try config(fake)
        defer { c.remove() }
        var env = c.env
        env["RUNPOD_API_KEY"] = nil
        let error = try #require(throws: CCPodError.self) { try run(["pod", "stop", "gpu"], env) }
        #expect(error.status == .usage && error.message.contains("RUNPOD_API_KEY"))
        #expect(fake.requests.isEmpty)
        // A wrong key: 77, and the key is not in the message.
        env["RUNPOD_API_KEY"] = "rpa_WRONG_KEY_0000"
        let rejected = try #require(throws: CCPodError.self) { try run(["pod", "status", "gpu"], env) }
        #expect(rejected.status == .notPermitted && !rejected.message.contains("rpa_WRONG_KEY_0000"))
    }

    @Test func stopOfAStoppedPodChangesNothing() throws {
        let fake = try FakeRunPodAPI(apiKey: Self.key)
        defer { fake.shutdown() }
        fake.setPod(.init(id: "pod1", status: "EXITED", sshPort: 41022))
        let c = try config(fake)
        defer { c.remove() }
        try FileManager.default.createDirectory(at: c.root.appendingPathComponent("claude"), withIntermediateDirectories: true)
        try run(["pod", "stop", "gpu", "--claude-dir", c.root.appendingPathComponent("claude").path], c.env)
        #expect(fake.requests.map(\.method) == ["GET"])
    }

    @Test func terminateWithoutATerminalNeedsYesBeforeAnythingHappens() throws {
        let fake = try FakeRunPodAPI(apiKey: Self.key)
        defer { fake.shutdown() }
        fake.setPod(.init(id: "pod1", sshPort: 41022))
        let c = try config(fake)
        defer { c.remove() }
        let error = try #require(throws: CCPodError.self) { try run(["pod", "terminate", "gpu"], c.env) }
        #expect(error.status == .usage && error.message.contains("--yes"))
        #expect(fake.requests.isEmpty)
        #expect(fake.pod("pod1") != nil)
    }
}
