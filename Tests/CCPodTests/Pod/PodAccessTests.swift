import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `PodAccess`: the one way a command reaches its pod.
@Suite struct PodAccessTests {
    @Test func thePodIsChosenOnceWithTheProjectsPodBeforeTheDefault() throws {
        let config = CCPodConfig(defaultPod: "d", pods: [:])
        #expect(try PodResolver.chosenName(name: "a", projectPod: "p", environment: ["CCPOD_POD": "b"], config: config) == "a")
        #expect(try PodResolver.chosenName(name: nil, projectPod: "p", environment: ["CCPOD_POD": "b"], config: config) == "b")
        #expect(try PodResolver.chosenName(name: nil, projectPod: "p", environment: [:], config: config) == "p")
        #expect(try PodResolver.chosenName(name: nil, projectPod: nil, environment: [:], config: config) == "d")
        #expect(try PodResolver.chosenName(name: nil, projectPod: "", environment: ["CCPOD_POD": ""], config: config) == "d")
    }

    /// A failure a restart causes, on a pod with neither proxy nor API nor terminal: the
    /// access says it looks again, cannot, and the command runs only once.
    @Test func aRestartNobodyCanResolveIsReportedAndNotRetried() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-access-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: root) }
        let locations = CCPodLocations(configDir: root.appendingPathComponent("c"), stateDir: root.appendingPathComponent("s"))
        let settings = PodSettings(name: "gpu", direct: SSHEndpoint(user: "root", host: "203.0.113.7", port: 41022))
        let events = Locked<[PodAccessEvent]>([])
        let access = PodAccess(locations: locations, environment: [:], report: { e in events.withLock { $0.append(e) } })
        var pod = ResolvedPod(name: "gpu", settings: settings, connection: try SSHConnection(settings: settings, locations: locations))
        let runs = Locked(0)
        let refused = CCPodError(.unavailable, "pod gpu refused the connection", sshFailure: .connectionRefused)
        #expect(throws: CCPodError.self) {
            try access.withRecovery(&pod) { _ -> Int in
                runs.withLock { $0 += 1 }
                throw refused
            }
        }
        #expect(runs.current == 1)
        #expect(events.current == [.lookingAgain(pod: "gpu", reason: "gpu refused the connection at 203.0.113.7:41022")])

        // A failure no restart explains is passed on untouched, without looking.
        events.withLock { $0.removeAll() }
        let denied = CCPodError(.unavailable, "refused the key", sshFailure: .authenticationRefused)
        let error = try #require(throws: CCPodError.self) { try access.withRecovery(&pod) { _ -> Int in throw denied } }
        #expect(error.message == denied.message)
        #expect(events.current.isEmpty)
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct PodAccessSSHTests {
    /// A pod written into config.toml by hand: the first `open` asks, pins, reports, and
    /// returns a connection named after the pinned key; the next `open` asks nothing and
    /// reaches the same master.
    @Test func firstContactIsTrustedOnceAndReported() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        var config = CCPodConfig(defaultPod: "gpu")
        config.pods["gpu"] = t.settings()
        try config.save(to: t.locations)
        let key = try #require(HostKey(publicKeyLine: t.sshd.hostPublicKey))

        let events = Locked<[PodAccessEvent]>([])
        let questions = Locked<[String]>([])
        let access = PodAccess(locations: t.locations, environment: t.environment,
                               confirm: { q in questions.withLock { $0.append(q) }; return true },
                               recorder: t.recorder, report: { e in events.withLock { $0.append(e) } })
        let first = try access.open(name: nil)
        #expect(first.name == "gpu")
        #expect(questions.current.count == 1)
        #expect(questions.current.first?.contains(key.fingerprint) == true)
        #expect(events.current == [.pinned(pod: "gpu", proxy: false, fingerprints: [key.fingerprint], how: "confirmed")])
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys() == [key])
        let ssh = try #require(first.connection as? SSHConnection)
        #expect(try ssh.runCommand("echo hi").stdoutText == "hi\n")

        let again = try access.open(name: nil)
        #expect(questions.current.count == 1)
        #expect(events.current.count == 1)
        #expect((again.connection as? SSHConnection)?.controlPath == ssh.controlPath)
        #expect((again.connection as? SSHConnection)?.masterIsRunning() == true)
    }

    @Test func firstContactWithoutATerminalNamesTheCommandThatTrusts() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        var config = CCPodConfig()
        config.pods["gpu"] = t.settings()
        try config.save(to: t.locations)
        let access = PodAccess(locations: t.locations, environment: t.environment)
        let error = try #require(throws: CCPodError.self) { try access.open(name: "gpu") }
        #expect(error.status == .usage)
        #expect(error.message.contains("ccpod pod trust gpu --accept-new"))
        #expect(PodKnownHosts(pod: "gpu", locations: t.locations).keys().isEmpty)
    }
}
