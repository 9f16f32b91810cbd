@testable import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// First contact through the RunPod-style proxy, against a real loopback sshd (the
/// pod) and the PTY-only proxy harness: the pod's address and host key are learned
/// through the proxy's shell, the proxy's own key as ssh does, and nothing is saved
/// unless a real login worked.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
struct ProxyFirstContactTests {
    let id = "22222222-3333-4444-8555-666666666666"

    /// A pod (loopback sshd), its proxy, the pod's files as the proxy's shell sees them,
    /// and a sync bed whose pod side is a test folder.
    struct Bed {
        let t: SSHTestPod
        let proxy: ProxyHarness
        let pod: PodRestartSimulation
        let sync: SyncTestBed
        let env: [String: String]

        init() throws {
            t = try SSHTestPod()
            proxy = try ProxyHarness()
            sync = try SyncTestBed()
            env = t.environment.merging([
                "XDG_CONFIG_HOME": t.locations.configDir.deletingLastPathComponent().path,
                "XDG_STATE_HOME": t.locations.stateDir.deletingLastPathComponent().path,
            ]) { $1 }
            // The proxy takes the same client key as the pod.
            let authorized = proxy.sshd.directory.appendingPathComponent("authorized_keys")
            let key = try String(contentsOfFile: t.sshd.clientKeyPath + ".pub", encoding: .utf8)
            try (String(contentsOf: authorized, encoding: .utf8) + key).write(to: authorized, atomically: true, encoding: .utf8)
            pod = try PodRestartSimulation(direct: t.sshd, proxy: proxy, podId: "ccpodtest01")
        }

        func tearDown() {
            proxy.shutdown()
            sync.remove()
        }

        var proxyAddress: String { "\(proxy.sshd.user)@127.0.0.1:\(proxy.sshd.port)" }
        var directAddress: String { "\(t.sshd.user)@127.0.0.1:\(t.sshd.port)" }
        var proxyPinned: PodKnownHosts {
            PodKnownHosts(file: PodProxy.pinnedFile(pod: "gpu", locations: t.locations), alias: "[127.0.0.1]:\(proxy.sshd.port)")
        }
        var podPinned: PodKnownHosts { PodKnownHosts(pod: "gpu", locations: t.locations) }
        var knownHostsFolder: URL { SSHConnection.knownHostsFile(pod: "gpu", locations: t.locations).deletingLastPathComponent() }

        /// `ccpod pod add gpu …` with the proxy; `direct` nil leaves `--direct` out.
        func addArguments(direct: String?, acceptNew: Bool = true) -> [String] {
            var args = ["pod", "add", "gpu", "--proxy", proxyAddress,
                        "--identity", t.sshd.clientKeyPath, "--ssh-option=-F", "--ssh-option=/dev/null",
                        "--environment-file", proxy.environmentFile, "--host-key-file", proxy.hostKeyFile,
                        "--runpod-id", "ccpodtest01",
                        "--claude-dir", sync.podClaude, "--workspace", sync.podRoot + "/workspace",
                        "--persistent-dir", sync.podRoot + "/workspace/claude-sessions", "--default"]
            if let direct { args += ["--direct", direct] } else { args += ["--user", t.sshd.user] }
            if acceptNew { args.append("--accept-new") }
            return args
        }

        /// Nothing about pod `gpu` was saved: no config entry, no pinned key, no candidate left.
        func expectNothingSaved(_ comment: Comment? = nil) throws {
            #expect(try CCPodConfig.load(from: t.locations).pods.isEmpty, comment)
            let left = (try? FileManager.default.contentsOfDirectory(atPath: knownHostsFolder.path)) ?? []
            #expect(left.isEmpty, "known_hosts folder holds \(left)")
        }
    }

    func run(_ args: [String], _ env: [String: String]) throws { try runCCPod(args, env) }

    func push(_ b: Bed) throws {
        let project = b.sync.root.appendingPathComponent("project").path
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let slug = ProjectSlug.forDirectory(URL(fileURLWithPath: project))
        let local = "\(b.sync.localClaude)/projects/\(slug)/\(id).jsonl"
        if !FileManager.default.fileExists(atPath: local) {
            try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: local)
        } else {
            try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 3), to: local)
        }
        try run(["push", "--claude-dir", b.sync.localClaude, "--project", project, "--busy-seconds", "0", "--json"], b.env)
        #expect(SyncTestBed.read("\(b.sync.podClaude)/projects/\(slug)/\(id).jsonl") == SyncTestBed.read(local))
    }

    @Test func addNeedsADirectEndpointOrAProxy() {
        let cases = [(["pod", "add", "gpu"], "--proxy USER@HOST"),
                     (["pod", "add", "gpu", "--direct", "root@203.0.113.7:41022", "--user", "ubuntu"], "USER@HOST:PORT")]
        for (args, hint) in cases {
            do {
                _ = try CCPodCommand.parseAsRoot(args)
                Issue.record("\(args) was accepted")
            } catch {
                #expect(CCPodCommand.exitCode(for: error).rawValue == 64, "\(args)")
                #expect(CCPodCommand.message(for: error).contains(hint), "\(CCPodCommand.message(for: error))")
            }
        }
    }

    @Test func addLearnsBothKeysThroughTheProxyThenCheckAndPushWorkStrictly() throws {
        let b = try Bed()
        defer { b.tearDown() }
        try run(b.addArguments(direct: b.directAddress), b.env)
        let config = try CCPodConfig.load(from: b.t.locations)
        #expect(config.pods["gpu"]?.direct == SSHEndpoint(user: b.t.sshd.user, host: "127.0.0.1", port: b.t.sshd.port))
        #expect(config.pods["gpu"]?.proxy?.port == b.proxy.sshd.port)
        // The pod's key, read on the pod through the proxy, and the proxy's own key are pinned.
        #expect(b.podPinned.keys().map(\.line) == [b.t.sshd.hostPublicKey])
        #expect(b.proxyPinned.keys().map(\.line) == [b.proxy.sshd.hostPublicKey])
        #expect(!FileManager.default.fileExists(atPath: b.knownHostsFolder.appendingPathComponent(".gpu.proxy.candidate").path))
        // Every later call checks both keys strictly against what was pinned.
        try run(["check"], b.env)
        try push(b)
        // The proxy is known now: adding again asks nothing and needs no --accept-new.
        try run(b.addArguments(direct: b.directAddress, acceptNew: false), b.env)
        try push(b)
    }

    @Test func addWithoutDirectLearnsTheEndpointFromThePod() throws {
        let b = try Bed()
        defer { b.tearDown() }
        try run(b.addArguments(direct: nil), b.env)
        let config = try CCPodConfig.load(from: b.t.locations)
        #expect(config.pods["gpu"]?.direct == SSHEndpoint(user: b.t.sshd.user, host: "127.0.0.1", port: b.t.sshd.port))
        #expect(b.podPinned.keys().map(\.line) == [b.t.sshd.hostPublicKey])
        try run(["check", "--pod", "gpu"], b.env)
    }

    @Test func aProxyReportingAnotherKeyThanTheDirectServerIsRefusedWithNothingSaved() throws {
        let b = try Bed()
        defer { b.tearDown() }
        // The pod's key file, as the proxy shows it, holds some other server's key.
        let other = try LoopbackSSHD()
        defer { other.shutdown() }
        try (other.hostPublicKey + " root@elsewhere\n").write(toFile: b.proxy.hostKeyFile, atomically: true, encoding: .utf8)
        for direct in [b.directAddress, nil] {
            let error = try #require(throws: CCPodError.self) { try run(b.addArguments(direct: direct), b.env) }
            #expect(error.status == .unavailable)
            #expect(error.message.contains("man-in-the-middle"), "\(error.message)")
            #expect(error.message.contains(HostKey(publicKeyLine: other.hostPublicKey)!.fingerprint))
            #expect(error.message.contains(HostKey(publicKeyLine: b.t.sshd.hostPublicKey)!.fingerprint))
            try b.expectNothingSaved("direct: \(direct ?? "learned")")
        }
    }

    @Test func anUnknownProxyKeyWithoutATerminalOrAcceptNewFailsWithTheFix() throws {
        let b = try Bed()
        defer { b.tearDown() }
        let error = try #require(throws: CCPodError.self) { try run(b.addArguments(direct: nil, acceptNew: false), b.env) }
        // The same exit code as an unknown pod host key in a script (64), and the fix named.
        #expect(error.status == .usage)
        #expect(error.status.rawValue == 64)
        #expect(error.message.contains("proxy of pod gpu"), "\(error.message)")
        #expect(error.message.contains(HostKey(publicKeyLine: b.proxy.sshd.hostPublicKey)!.fingerprint))
        #expect(error.message.contains("--accept-new"))
        try b.expectNothingSaved()
    }

    @Test func theProxyKeyIsShownAndAskedAboutOnATerminal() throws {
        let b = try Bed()
        defer { b.tearDown() }
        let settings = PodSettings(name: "gpu", direct: nil, identity: b.t.sshd.clientKeyPath,
                                   proxy: try SSHEndpoint.parse(b.proxyAddress, defaultUser: nil, option: "--proxy"),
                                   paths: b.proxy.podPaths, sshOptions: ["-F", "/dev/null"])
        let proxy = try PodProxy(settings: settings, locations: b.t.locations, environment: b.env)
        let questions = Locked<[String]>([])
        func trust(_ answer: Bool) -> HostKeyTrust {
            HostKeyTrust(acceptNew: false, interactive: true) { question in
                questions.withLock { $0.append(question) }
                return answer
            }
        }
        // "no": refused, nothing pinned.
        #expect { try ProxyHostKeySource.probe(proxy, trust: trust(false)) } throws: { ($0 as? CCPodError)?.status == .failure }
        #expect(b.proxyPinned.keys().isEmpty)
        // "yes": the pod is read through the proxy; the proxy's key is pinned only by `verified`.
        let source = try ProxyHostKeySource.probe(proxy, trust: trust(true))
        defer { source.discard() }
        let fingerprint = HostKey(publicKeyLine: b.proxy.sshd.hostPublicKey)!.fingerprint
        #expect(questions.withLock { $0 }.allSatisfy { $0.contains(fingerprint) && $0.contains("(y/N)") })
        #expect(source.reported.port == b.t.sshd.port)
        #expect(source.summary == "127.0.0.1:\(b.t.sshd.port), host key \(HostKey(publicKeyLine: b.t.sshd.hostPublicKey)!.fingerprint)")
        #expect(b.proxyPinned.keys().isEmpty)
        try source.verified()
        #expect(b.proxyPinned.keys().map(\.line) == [b.proxy.sshd.hostPublicKey])
        // Known now: the next contact asks nothing.
        let asked = questions.withLock { $0.count }
        _ = try ProxyHostKeySource.probe(proxy, trust: trust(false))
        #expect(questions.withLock { $0.count } == asked)
    }

    @Test func aChangedProxyKeyIsRefusedAndNeverRepinned() throws {
        let b = try Bed()
        defer { b.tearDown() }
        try run(b.addArguments(direct: b.directAddress), b.env)
        let pinnedProxy = b.proxyPinned.keys()
        let before = try CCPodConfig.load(from: b.t.locations)
        // The proxy comes back on the same address with another key.
        try b.proxy.sshd.restart(newHostKey: true, samePort: true)
        func expectRefused(_ error: CCPodError, _ what: String) {
            #expect(error.status == .unavailable, "\(what)")
            #expect(error.message.contains("changed") && error.message.contains("man-in-the-middle"), "\(what): \(error.message)")
            #expect(error.message.contains(HostKey(publicKeyLine: b.proxy.sshd.hostPublicKey)!.fingerprint), "\(what)")
        }
        // Not even --accept-new takes a changed key (as with ssh's accept-new).
        expectRefused(try #require(throws: CCPodError.self) { try run(b.addArguments(direct: b.directAddress), b.env) }, "add")
        expectRefused(try #require(throws: CCPodError.self) { try run(["pod", "trust", "gpu", "--accept-new"], b.env) }, "trust")
        // A restart of the pod cannot be recovered through a proxy whose key changed.
        try b.t.connection().closeMaster()
        try b.pod.restart()
        expectRefused(try #require(throws: CCPodError.self) { try push(b) }, "push after a restart")
        #expect(b.proxyPinned.keys() == pinnedProxy)
        #expect(try CCPodConfig.load(from: b.t.locations) == before)
    }

    @Test func aFirstProxyUseInARecoveryAsksForTrustThenPodTrustLearnsEverything() throws {
        let b = try Bed()
        defer { b.tearDown() }
        try run(b.addArguments(direct: b.directAddress), b.env)
        try push(b)
        // The proxy's key is not pinned anywhere any more (a config copied from another machine).
        b.proxyPinned.remove()
        try b.t.connection().closeMaster()
        try b.pod.restart()
        let error = try #require(throws: CCPodError.self) { try push(b) }
        #expect(error.status == .usage)
        #expect(error.message.contains("ccpod pod trust gpu --accept-new"), "\(error.message)")
        #expect(b.proxyPinned.keys().isEmpty)
        // `pod trust` goes through the proxy: it learns the proxy's key, the pod's new key and its new port.
        try run(["pod", "trust", "gpu", "--accept-new"], b.env)
        #expect(try CCPodConfig.load(from: b.t.locations).pods["gpu"]?.direct?.port == b.t.sshd.port)
        #expect(b.podPinned.keys().map(\.line) == [b.t.sshd.hostPublicKey])
        #expect(b.proxyPinned.keys().map(\.line) == [b.proxy.sshd.hostPublicKey])
        try push(b)
    }
}
