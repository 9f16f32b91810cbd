import Foundation
import Testing
@testable import CCPodKit
import CCPodTestSupport

/// Waits recorded instead of slept.
final class SleepRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var waits: [Duration] = []
    var recorded: [Duration] { lock.lock(); defer { lock.unlock() }; return waits }
    func record(_ d: Duration) { lock.lock(); waits.append(d); lock.unlock() }
}

@Suite(.enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)")) struct RunPodAPITests {
    func client(_ fake: FakeRunPodAPI, key: String? = nil, sleeper: SleepRecorder = SleepRecorder()) -> RunPodAPI {
        RunPodAPI(apiKey: key ?? fake.apiKey, baseURL: fake.baseURL, requestTimeout: .seconds(5),
                  sleep: { sleeper.record($0) })
    }

    @Test func runningPodGivesItsDirectEndpoint() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", sshPort: 41022))
        let pod = try client(fake).pod(id: "abc123")
        #expect(pod.status == "RUNNING")
        #expect(pod.costPerHour == 0.44)
        #expect(pod.uptimeSeconds == 3600)
        #expect(try pod.directEndpoint() == RunPodSSHEndpoint(host: "127.0.0.1", port: 41022, username: "root"))
        #expect(pod.proxySSH?.username == "abc123-64411eb2")
        #expect(pod.sshPortMapping == RunPodPortMapping(ip: "127.0.0.1", publicPort: 41022))
        #expect(pod.actions == ["stop", "restart", "terminate"])

        let request = try #require(fake.requests.first)
        #expect(request.method == "GET")
        #expect(request.path == "/v2/pods/abc123")
        #expect(request.headers["authorization"] == "Bearer \(fake.apiKey)")
        #expect(request.headers["user-agent"] == "ccpod/\(CCPodVersion.string)")
    }

    @Test func runtimePortsAreUsedWhenSSHDirectIsAbsent() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", publicIP: "203.0.113.7", sshPort: 40111, reportsDirect: false))
        let pod = try client(fake).pod(id: "abc123")
        #expect(pod.directSSH == nil)
        #expect(try pod.directEndpoint() == RunPodSSHEndpoint(host: "203.0.113.7", port: 40111, username: "root"))
    }

    @Test func stoppedPodSaysHowToStartIt() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", status: "EXITED", sshPort: 41022))
        let pod = try client(fake).pod(id: "abc123")
        #expect(pod.costPerHour == 0)
        #expect(pod.uptimeSeconds == nil)
        #expect {
            try pod.directEndpoint()
        } throws: {
            guard let e = $0 as? CCPodError else { return false }
            return e.status == .unavailable && e.message.contains("stopped") && e.message.contains("start")
        }
    }

    @Test func wrongKeyIsRejected() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", sshPort: 41022))
        #expect {
            try client(fake, key: "rpa_WRONG").pod(id: "abc123")
        } throws: {
            guard let e = $0 as? CCPodError else { return false }
            return e.status == .notPermitted && e.message.contains("API key was rejected") && !e.message.contains("rpa_WRONG")
        }
    }

    @Test func unknownPodIsNotFound() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        #expect {
            try client(fake).pod(id: "nope")
        } throws: { ($0 as? CCPodError)?.status == .noInput && "\($0)".contains("no pod 'nope'") }
    }

    @Test func rateLimitedThenSucceedsHonouringRetryAfter() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", sshPort: 41022))
        fake.rateLimitNext(2, retryAfter: 7)
        let sleeper = SleepRecorder()
        let pod = try client(fake, sleeper: sleeper).pod(id: "abc123")
        #expect(pod.isRunning)
        #expect(sleeper.recorded == [.seconds(7), .seconds(7)])
        #expect(fake.requests.count == 3)
    }

    @Test func rateLimitedTooOftenIsAClearError() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", sshPort: 41022))
        fake.rateLimitNext(10, retryAfter: 2)
        let sleeper = SleepRecorder()
        #expect {
            try client(fake, sleeper: sleeper).pod(id: "abc123")
        } throws: { ($0 as? CCPodError)?.status == .busy && "\($0)".contains("rate limit") }
        #expect(fake.requests.count == 3)
        #expect(sleeper.recorded.count == 2)
    }

    @Test(arguments: [(FakeRunPodAPI.Mode.garbage, CCPodKit.ExitStatus.badData), (.serverError, .unavailable)])
    func garbageIsBadDataAndAServerErrorUnavailable(mode: FakeRunPodAPI.Mode, status: CCPodKit.ExitStatus) throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", sshPort: 41022))
        fake.mode = mode
        #expect {
            try client(fake).pod(id: "abc123")
        } throws: { ($0 as? CCPodError)?.status == status }
    }

    @Test func unreachableAPIIsUnavailable() throws {
        let api = RunPodAPI(apiKey: "k", baseURL: URL(string: "http://127.0.0.1:\(LoopbackSSHD.freePort())")!,
                            requestTimeout: .seconds(3))
        #expect {
            try api.pod(id: "abc123")
        } throws: { ($0 as? CCPodError)?.status == .unavailable }
    }

    @Test func actionsFollowThePodsAllowedTransitions() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", status: "EXITED", sshPort: 41022))
        let api = client(fake)
        #expect {
            try api.perform(.stop, podId: "abc123")
        } throws: { ($0 as? CCPodError)?.status == .unavailable && "\($0)".contains("not valid") }
        let started = try #require(try api.perform(.start, podId: "abc123"))
        #expect(started.isRunning)
        #expect(try started.directEndpoint().port == 41023)
        let post = try #require(fake.requests.last)
        #expect(post.method == "POST")
        #expect(post.path == "/v2/pods/abc123/action")
        #expect(post.headers["content-type"] == "application/json")
        #expect(try JSONSerialization.jsonObject(with: post.body) as? [String: String] == ["action": "start"])
        #expect(try api.perform(.terminate, podId: "abc123") == nil)
    }

    @Test func retryDelayPrefersRetryAfterThenTheExhaustedWindow() {
        let both = HTTPResponse(status: 429, headers: ["Retry-After": "12", "RateLimit": "\"minute\";r=0;t=40"], body: Data())
        #expect(RunPodAPI.retryDelay(both, attempt: 1) == .seconds(12))
        let window = HTTPResponse(status: 429, headers: ["RateLimit": "\"minute\";r=0;t=40, \"hour\";r=2800;t=1812"], body: Data())
        #expect(RunPodAPI.retryDelay(window, attempt: 1) == .seconds(40))
        let none = HTTPResponse(status: 429, headers: [:], body: Data())
        #expect(RunPodAPI.retryDelay(none, attempt: 2) == .seconds(4))
    }

    @Test func theKeyNeverShowsInDescriptions() {
        let api = RunPodAPI(apiKey: "rpa_SECRET")
        #expect(!"\(api)".contains("rpa_SECRET"))
        #expect(!String(reflecting: api).contains("rpa_SECRET"))
    }

    @Test func podIdsCannotChangeThePath() {
        #expect(throws: CCPodError.self) { try RunPodAPI(apiKey: "k").pod(id: "../account") }
    }
}
