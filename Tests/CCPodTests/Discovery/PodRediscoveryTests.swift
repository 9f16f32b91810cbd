import Foundation
import Testing
@testable import CCPodKit
import CCPodTestSupport

@Suite struct PodRediscoveryPlanTests {
    static let proxy = ProxyControlChannel(ssh: ["ssh"], target: "pod-64411eb2@ssh.runpod.io", knownHostsFile: "/dev/null")
    static let api = RunPodAPI(apiKey: "k", baseURL: URL(string: "http://127.0.0.1:9")!)

    func rediscovery(proxy: Bool, api: Bool, terminal: Bool) -> PodRediscovery {
        var answer: (@Sendable (String) -> String?)?
        if terminal { answer = { _ in "1" } }
        let channel: ProxyControlChannel? = proxy ? Self.proxy : nil
        let client: RunPodAPI? = api ? Self.api : nil
        let id: String? = api ? "abc123" : nil
        return PodRediscovery(podName: "gpu1", host: "203.0.113.7", port: 41022,
                              proxy: channel, runPodId: id, api: client, ask: answer)
    }

    @Test(arguments: DirectFailure.allCases)
    func decisionTable(failure: DirectFailure) {
        for proxy in [true, false] {
            for api in [true, false] {
                for terminal in [true, false] {
                    let plan = rediscovery(proxy: proxy, api: api, terminal: terminal).plan(after: failure)
                    let context = "proxy=\(proxy) api=\(api) terminal=\(terminal) failure=\(failure)"
                    if proxy {
                        #expect(plan == .proxy(fallbackToAPI: api && failure != .hostKeyChanged), "\(context)")
                    } else if failure == .hostKeyChanged {
                        guard case .refuse(let e) = plan else { Issue.record("\(context): \(plan)"); continue }
                        #expect(e.status == .podLost && e.message.contains("no trusted way"), "\(context)")
                    } else if api {
                        #expect(plan == .api, "\(context)")
                    } else if terminal {
                        #expect(plan == .prompt, "\(context)")
                    } else {
                        guard case .refuse(let e) = plan else { Issue.record("\(context): \(plan)"); continue }
                        #expect(e.status == .podLost && e.message.contains("--proxy") && e.message.contains("RUNPOD_API_KEY")
                                && e.message.contains("RUNPOD_PORT"), "\(context)")
                    }
                }
            }
        }
    }

    @Test func promptAcceptsAPortAndRefusesGarbage() throws {
        let ok = PodRediscovery(podName: "gpu1", host: "203.0.113.7", port: 41022, ask: { _ in " 40123\n".trimmingCharacters(in: .newlines) })
        let result = try ok.rediscover(after: .refused)
        #expect(result.source == .prompt)
        #expect(result.newPort == 40123 && result.newHost == "203.0.113.7")
        #expect(result.hostKey == nil && result.hostKeyChanged == nil)
        #expect(result.summary(podName: "gpu1").contains("41022 → 203.0.113.7:40123"))

        let bad = PodRediscovery(podName: "gpu1", host: "203.0.113.7", port: 41022, ask: { _ in "99999" })
        #expect { try bad.rediscover(after: .refused) } throws: { ($0 as? CCPodError)?.status == .usage }
        let cancelled = PodRediscovery(podName: "gpu1", host: "203.0.113.7", port: 41022, ask: { _ in nil })
        #expect { try cancelled.rediscover(after: .timedOut) } throws: { ($0 as? CCPodError)?.status == .unavailable }
    }

    @Test func apiGivesTheNewAddressButNoHostKey() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", publicIP: "198.51.100.4", sshPort: 40999))
        let api = RunPodAPI(apiKey: fake.apiKey, baseURL: fake.baseURL, requestTimeout: .seconds(5))
        let r = PodRediscovery(podName: "gpu1", host: "203.0.113.7", port: 41022, runPodId: "abc123", api: api)
        let result = try r.rediscover(after: .timedOut)
        #expect(result == RediscoveryResult(source: .api, oldHost: "203.0.113.7", oldPort: 41022, newHost: "198.51.100.4",
                                            newPort: 40999, hostKey: nil, hostKeyChanged: nil, podId: "abc123"))
        #expect(result.summary(podName: "gpu1").contains("verified on first contact"))
        // A changed key is never taken from the API.
        #expect { try r.rediscover(after: .hostKeyChanged) } throws: { "\($0)".contains("no trusted way") }
        #expect(fake.requests.count == 1)
    }

    @Test func apiSaysWhenThePodIsStopped() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", status: "EXITED", sshPort: 40999))
        let api = RunPodAPI(apiKey: fake.apiKey, baseURL: fake.baseURL, requestTimeout: .seconds(5))
        let r = PodRediscovery(podName: "gpu1", host: "203.0.113.7", port: 41022, runPodId: "abc123", api: api)
        #expect { try r.rediscover(after: .refused) } throws: { "\($0)".contains("stopped") }
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "needs an OpenSSH server (apt-get install openssh-server)"),
       .enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)"))
struct PodRediscoveryThroughProxyTests {
    @Test func restartedPodIsFoundThroughTheProxyWithItsNewKey() throws {
        let direct = try LoopbackSSHD()
        defer { direct.shutdown() }
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        let pod = try PodRestartSimulation(direct: direct, proxy: proxy, podId: "abc123")
        let oldPort = direct.port, oldKey = direct.hostPublicKey
        try pod.restart()

        let r = PodRediscovery(podName: "gpu1", host: "127.0.0.1", port: oldPort, pinnedHostKey: oldKey,
                               proxy: try proxy.controlChannel(), podPaths: proxy.podPaths, runPodId: "abc123")
        let result = try r.rediscover(after: .hostKeyChanged)
        #expect(result.source == .proxy)
        #expect(result.oldPort == oldPort && result.newPort == direct.port)
        #expect(result.hostKey == direct.hostPublicKey)
        #expect(result.hostKeyChanged == true)
        #expect(result.summary(podName: "gpu1").contains("new host key learned through the proxy"))
    }

    @Test func restartWithoutProxyAPIOrTerminalIsRefusedWithTheFix() throws {
        let direct = try LoopbackSSHD()
        defer { direct.shutdown() }
        let knownHosts = try direct.writeKnownHosts()
        let oldPort = direct.port
        try direct.restart(newHostKey: true)
        // The old address no longer answers…
        var options = direct.clientOptions(knownHosts: knownHosts)
        options[options.firstIndex(of: "-p")! + 1] = String(oldPort)
        let r = try ChildProcess.run("/usr/bin/ssh", options + ["-o", "ConnectTimeout=5", "\(direct.user)@127.0.0.1", "true"])
        #expect(r.status == 255)
        // …and with nothing to learn the new one from, ccpod says what to configure.
        let rediscovery = PodRediscovery(podName: "gpu1", host: "127.0.0.1", port: oldPort)
        #expect {
            try rediscovery.rediscover(after: .refused)
        } throws: { error in
            guard let e = error as? CCPodError else { return false }
            return e.status == .podLost && e.message.contains("127.0.0.1:\(oldPort)")
                && e.message.contains("--proxy") && e.message.contains("RUNPOD_PORT")
        }
    }

    @Test func proxyLeadingToAnotherPodIsRefused() throws {
        let direct = try LoopbackSSHD()
        defer { direct.shutdown() }
        let proxy = try ProxyHarness()
        defer { proxy.shutdown() }
        _ = try PodRestartSimulation(direct: direct, proxy: proxy, podId: "otherpod")
        let r = PodRediscovery(podName: "gpu1", host: "127.0.0.1", port: direct.port,
                               proxy: try proxy.controlChannel(), podPaths: proxy.podPaths, runPodId: "abc123")
        #expect { try r.rediscover(after: .refused) } throws: { ($0 as? CCPodError)?.status == .badData }
    }

    @Test func silentProxyFallsBackToTheAPI() throws {
        let proxy = try ProxyHarness(mode: .silent)
        defer { proxy.shutdown() }
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", sshPort: 40999))
        let api = RunPodAPI(apiKey: fake.apiKey, baseURL: fake.baseURL, requestTimeout: .seconds(5))
        let r = PodRediscovery(podName: "gpu1", host: "127.0.0.1", port: 41022,
                               proxy: try proxy.controlChannel(timeout: .seconds(2)), podPaths: proxy.podPaths,
                               runPodId: "abc123", api: api)
        let result = try r.rediscover(after: .refused)
        #expect(result.source == .api && result.newPort == 40999)
    }
}
