import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder that stands for the pod's root, run through a local `sh` with an environment
/// of the test's own (a stand-in nvidia-smi on PATH, a private tmux folder).
struct StandInPod: PodConnection {
    let root: String
    let environment: [String: String]
    var paths: PodPaths { PodPaths() }
    var displayName: String { "stand-in" }
    var rootPrefix: String { root }
    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        (["/bin/sh", "-c", remoteCommand], environment)
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

/// The watchdog's pod side, run for real with short intervals against the fake RunPod API.
final class AutostopBed: @unchecked Sendable {
    let root: String
    let fake: FakeRunPodAPI
    let runpodId = "ap\(UUID().uuidString.prefix(8).lowercased())"
    let pod: StandInPod
    /// The pod's own tmux server folder (TMUX_TMPDIR): never the machine's.
    var tmuxDir: String { root + "/tmux" }
    var dir: String { root + "/workspace/claude-sessions/autostop" }
    var claudeDir: String { root + "/root/.claude" }
    var runs: String { root + "/workspace/runs" }
    var bin: String { root + "/bin" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-as-\(UUID().uuidString.prefix(6))").path
        for d in [root + "/tmux", root + "/bin", root + "/root/.claude/sessions", root + "/workspace/runs/r1_20261206-000000/logs"] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        chmod(root + "/tmux", 0o700)
        fake = try FakeRunPodAPI()
        fake.setPod(.init(id: runpodId, sshPort: 40022, cost: 0.44))
        pod = StandInPod(root: root, environment: [
            "PATH": root + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "HOME": root, "TMUX_TMPDIR": root + "/tmux", "LC_ALL": "C",
        ])
    }

    var autostop: PodAutostop { PodAutostop(connection: pod, runtime: PodRuntime()) }

    @discardableResult
    func install(idle: Int, interval: Int = 1, persistKey: Bool = false) throws -> (pid: Int, runpodId: String) {
        try autostop.install(podName: "gpu1", settings: AutostopSettings(idleSeconds: idle, intervalSeconds: interval, persistKey: persistKey),
                             runpodId: runpodId, apiURL: fake.baseURL.absoluteString, costPerHour: 0.44, apiKey: fake.apiKey)
    }

    /// The config a watchdog reads, written directly (for `check`, without a watchdog running).
    func writeConfig(threshold: Int = 5) throws {
        let text = """
        pod_name=gpu1
        idle=3600
        interval=60
        gpu_threshold=\(threshold)
        pod_id=\(runpodId)
        api_url=\(fake.baseURL.absoluteString)
        cost=-
        claude_dir=\(claudeDir)
        runs_dir=\(runs)
        tmux=tmux
        tmux_socket=

        """
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try text.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
    }

    /// One idle check (`check` mode): `idle` or `busy REASON …`.
    func check() throws -> String {
        try autostop.checkNow()
    }

    func status() throws -> AutostopStatus { try autostop.status(podName: "gpu1") }

    /// Pids of processes running this folder's watchdog (not counting the subshells a
    /// watchdog forks for a moment, which carry its command line too).
    func watchdogs() -> [Int32] {
        let needle = dir + "/autostop.sh run"
        var parents: [Int32: Int32] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"),
                  String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(needle) else { continue }
            let stat = (try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8)) ?? ""
            let afterName = stat.range(of: ") ").map { stat[$0.upperBound...] } ?? ""
            parents[pid] = afterName.split(separator: " ").dropFirst().first.flatMap { Int32($0) } ?? 0
        }
        return parents.filter { parents[$0.value] == nil }.map(\.key).sorted()
    }

    func standInNvidiaSmi(utilisation: String, fails: Bool = false) throws {
        let script = """
        #!/bin/sh
        \(fails ? "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2; exit 9" : "")
        case "$*" in
            -L) echo 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)'; echo 'GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-1)' ;;
            *) echo 1; echo \(utilisation) ;;
        esac

        """
        try script.write(toFile: bin + "/nvidia-smi", atomically: true, encoding: .utf8)
        chmod(bin + "/nvidia-smi", 0o755)
    }

    func claudeSession(pid: Int32, status: String?) throws {
        let statusField = status.map { ",\"status\":\"\($0)\"" } ?? ""
        let json = "{\"pid\":\(pid),\"sessionId\":\"5e0d3c2a-8f41-4b7e-9a26-1c7d2e9f4b10\",\"cwd\":\"/workspace\"\(statusField),\"updatedAt\":1}"
        try json.write(toFile: claudeDir + "/sessions/\(pid).json", atomically: true, encoding: .utf8)
    }

    func tmux(_ socket: String, _ arguments: [String]) -> ChildProcess.Output? {
        var env = pod.environment
        env.removeValue(forKey: "TMUX")
        return try? ChildProcess.run("tmux", ["-L", socket] + arguments, environment: env)
    }

    /// A real client attached to the pod's default tmux server: a session of a second
    /// server (which gives it a terminal) runs `tmux attach`.
    func attachTmuxClient() async throws -> Bool {
        _ = tmux("default", ["new-session", "-d", "-s", "work", "sleep 600"])
        _ = tmux("outer", ["new-session", "-d", "-x", "100", "-y", "30",
                           "env -u TMUX TMUX_TMPDIR=\(tmuxDir) tmux -L default attach -t work"])
        return await waitUntil { !(self.tmux("default", ["list-clients"])?.stdoutText.isEmpty ?? true) }
    }

    func waitUntil(seconds: Double = 30, _ condition: @escaping () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }

    /// Waits until the watchdog has made `checks` checks.
    func waitForChecks(_ checks: Int) async -> AutostopStatus? {
        var last: AutostopStatus?
        _ = await waitUntil(seconds: Double(checks) * 3 + 20) {
            last = try? self.status()
            return (last?.state?.checks ?? 0) >= checks || last?.state?.kind == "stopped"
        }
        return last
    }

    deinit {
        for pid in watchdogs() { kill(pid, SIGKILL) }
        _ = tmux("outer", ["kill-server"])
        _ = tmux("default", ["kill-server"])
        fake.shutdown()
        try? FileManager.default.removeItem(atPath: root)
    }
}

private let hasTmux = ChildProcess.exists("tmux")
let hasCurl = ChildProcess.exists("curl")

@Suite(.enabled(if: hasCurl, "curl is not installed (the watchdog reaches the RunPod API with it)"))
struct AutostopTests {
    @Test func anIdlePodIsStoppedOnceWithItsKeyAndNeverTerminated() async throws {
        let bed = try AutostopBed()
        let started = try bed.install(idle: 2)
        #expect(started.runpodId == bed.runpodId)
        // The key is in no command line and no environment of the watchdog, and on no disk.
        let cmdline = FileManager.default.contents(atPath: "/proc/\(started.pid)/cmdline") ?? Data()
        let environ = FileManager.default.contents(atPath: "/proc/\(started.pid)/environ") ?? Data()
        #expect(!cmdline.isEmpty)
        #expect(cmdline.range(of: Data(bed.fake.apiKey.utf8)) == nil)
        #expect(environ.range(of: Data(bed.fake.apiKey.utf8)) == nil)

        #expect(await bed.waitUntil { bed.fake.requests.count >= 1 && bed.watchdogs().isEmpty })
        let requests = bed.fake.requests
        #expect(requests.count == 1)
        let stop = try #require(requests.first)
        #expect(stop.method == "POST")
        #expect(stop.path == "/v2/pods/\(bed.runpodId)/action")
        #expect(stop.headers["authorization"] == "Bearer \(bed.fake.apiKey)")
        #expect(String(decoding: stop.body, as: UTF8.self) == #"{"action":"stop"}"#)
        #expect(!requests.contains { String(decoding: $0.body, as: UTF8.self).contains("terminate") })
        #expect(bed.fake.pod(bed.runpodId)?.status == "EXITED")

        let status = try bed.status()
        #expect(status.state?.kind == "stopped")
        #expect(status.watchdogPid == nil)
        let note = try #require(status.pendingNote)
        #expect(note.hasPrefix("gpu1 "))
        #expect(note.hasSuffix(" 0.4400"))
        let files = FileManager.default.enumerator(atPath: bed.root)?.compactMap { $0 as? String } ?? []
        for file in files {
            let data = FileManager.default.contents(atPath: bed.root + "/" + file) ?? Data()
            #expect(data.range(of: Data(bed.fake.apiKey.utf8)) == nil, "the key is in \(file)")
        }
    }

    enum Work: String, CaseIterable, Sendable {
        case claudeSession, runLog, gpu
    }

    @Test(arguments: Work.allCases)
    func aBusyPodIsLeftAlone(_ work: Work) async throws {
        let bed = try AutostopBed()
        let writing = Locked(true)
        defer { writing.withLock { $0 = false } }
        switch work {
        case .claudeSession:
            try bed.claudeSession(pid: getpid(), status: "busy")
            try await leftAlone(bed, busyWith: "claude")
        case .gpu:
            try bed.standInNvidiaSmi(utilisation: "97")
            try await leftAlone(bed, busyWith: "gpu 97%")
        case .runLog:
            let log = bed.runs + "/r1_20261206-000000/logs/train.log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            Thread.detachNewThread {
                while writing.current {
                    if let h = FileHandle(forWritingAtPath: log) { h.seekToEndOfFile(); h.write(Data("step\n".utf8)); try? h.close() }
                    usleep(150_000)
                }
            }
            try await leftAlone(bed, busyWith: "run-log")
        }
    }

    @Test(.enabled(if: hasTmux, "tmux is not installed"))
    func anAttachedTmuxClientKeepsItBusy() async throws {
        let bed = try AutostopBed()
        #expect(try await bed.attachTmuxClient())
        try await leftAlone(bed, busyWith: "tmux client attached")
    }

    /// Idle for 1 s would stop it at the second check; four checks find it busy every time.
    func leftAlone(_ bed: AutostopBed, busyWith expected: String) async throws {
        try bed.install(idle: 1)
        let status = try #require(await bed.waitForChecks(4))
        #expect(status.state?.kind == "busy", "\(String(describing: status.state))")
        #expect(status.state?.detail.hasPrefix(expected) == true, "\(String(describing: status.state))")
        #expect(bed.fake.requests.isEmpty)
        #expect(status.watchdogPid != nil)
        #expect(try bed.autostop.off())
    }

    @Test func eachKindOfWorkIsSeenAndIdleIsIdle() throws {
        let bed = try AutostopBed()
        try bed.writeConfig()
        #expect(try bed.check() == "idle")
        // Claude: a live process at work is busy; an idle one, or one whose process is gone, is not.
        try bed.claudeSession(pid: getpid(), status: "busy")
        #expect(try bed.check().hasPrefix("busy claude pid \(getpid()) busy"))
        try bed.claudeSession(pid: getpid(), status: "idle")
        #expect(try bed.check() == "idle")
        try bed.claudeSession(pid: getpid(), status: nil)
        #expect(try bed.check().hasPrefix("busy claude"), "no status (an older Claude Code) counts as at work")
        try FileManager.default.removeItem(atPath: bed.claudeDir + "/sessions/\(getpid()).json")
        try bed.claudeSession(pid: 999_999_9, status: "busy")
        #expect(try bed.check() == "idle")
        // GPUs: one at or above the threshold is busy; a failing nvidia-smi is not taken for idle.
        try bed.standInNvidiaSmi(utilisation: "97")
        #expect(try bed.check() == "busy gpu 97%")
        try bed.standInNvidiaSmi(utilisation: "4")
        #expect(try bed.check() == "idle")
        try bed.standInNvidiaSmi(utilisation: "0", fails: true)
        #expect(try bed.check().hasPrefix("busy gpu"))
        try bed.standInNvidiaSmi(utilisation: "0")
        // A run log that grew since the last check.
        #expect(try bed.check() == "idle")
        let log = bed.runs + "/r1_20261206-000000/logs/train.log"
        try Data("step 1\n".utf8).write(to: URL(fileURLWithPath: log))
        #expect(try bed.check() == "busy run-log r1_20261206-000000/logs/train.log")
        #expect(try bed.check() == "idle")
        // Only logs: a checkpoint written elsewhere in the run is not a log.
        try Data("x".utf8).write(to: URL(fileURLWithPath: bed.runs + "/r1_20261206-000000/ckpt.bin"))
        #expect(try bed.check() == "idle")
    }

    @Test func twoInstallsAtOnceLeaveOneWatchdog() async throws {
        let bed = try AutostopBed()
        for _ in 0..<2 {
            async let a = Task.detached { try bed.install(idle: 3600, interval: 30) }.value
            async let b = Task.detached { try bed.install(idle: 3600, interval: 30) }.value
            let (first, second) = try await (a, b)
            #expect(first.pid != second.pid)
            let running = bed.watchdogs()
            #expect(running.count == 1, "\(running)")
            #expect(try bed.status().watchdogPid.map { Int32($0) } == running.first)
        }
        #expect(try bed.autostop.off())
        #expect(bed.watchdogs().isEmpty)
    }

    @Test func offRemovesTheWatchdogAndItsFiles() throws {
        let bed = try AutostopBed()
        try bed.install(idle: 3600, interval: 30, persistKey: true)
        #expect(FileManager.default.fileExists(atPath: bed.dir + "/key"))
        let attributes = try FileManager.default.attributesOfItem(atPath: bed.dir + "/key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(bed.watchdogs().count == 1)
        #expect(try bed.status().keyStored)
        #expect(try bed.autostop.off())
        #expect(bed.watchdogs().isEmpty)
        for file in ["config", "key", "autostop.sh", "watchdog.pid"] {
            #expect(!FileManager.default.fileExists(atPath: bed.dir + "/" + file), "\(file)")
        }
        #expect(try bed.autostop.off() == false)
        let status = try bed.status()
        #expect(!status.on && status.watchdogPid == nil)
    }

    @Test func aRefusedKeyIsNotRetriedEveryCheck() async throws {
        let bed = try AutostopBed()
        // A key the API does not know: 401; the watchdog waits a whole idle time (3 s) before
        // asking again, so however slow the machine, at most one request per 3 s went out
        // (asking at every check, once a second, would make about three).
        let started = Date()
        _ = try bed.autostop.install(podName: "gpu1", settings: AutostopSettings(idleSeconds: 3, intervalSeconds: 1),
                                     runpodId: bed.runpodId, apiURL: bed.fake.baseURL.absoluteString, costPerHour: nil,
                                     apiKey: "rpa_WRONG")
        let status = try #require(await bed.waitForChecks(9))
        let requests = bed.fake.requests.count
        let elapsed = Date().timeIntervalSince(started)
        #expect(Double(requests) <= elapsed / 3 + 1, "\(requests) requests in \(elapsed) s")
        #expect(requests >= 1)
        #expect(status.state?.kind != "stopped")
        #expect(status.watchdogPid != nil)
        #expect(status.pendingNote == nil, "no note while the pod was not stopped")
        #expect(try bed.autostop.off())
    }
}

/// The parts that need no pod: durations, and a note from an untrusted pod.
struct AutostopNoteTests {
    @Test func durations() throws {
        #expect(try AutostopSettings.parseDuration("30m") == 1800)
        #expect(try AutostopSettings.parseDuration("1h30m") == 5400)
        #expect(try AutostopSettings.parseDuration("90s") == 90)
        #expect(try AutostopSettings.parseDuration("45") == 2700)
        for bad in ["", "0", "m", "30x", "-5m", "8d", "99999999h", "1h 30m"] {
            #expect(throws: CCPodError.self, "\(bad)") { try AutostopSettings.parseDuration(bad) }
        }
    }

    @Test func aNoteBecomesOneSentence() throws {
        let stopped = 1_796_000_000
        let note = try #require(AutostopNote.parse("pod: autostop-note gpu1 \(stopped) 1803 2 0.4400 -"))
        let utc = TimeZone(identifier: "UTC")!
        let now = Date(timeIntervalSince1970: TimeInterval(stopped + 3780))
        #expect(note.sentence(now: now, timeZone: utc) == "gpu1 stopped itself at 00:53 after 30 min idle; 2.1 GPU-hours saved (about $0.46)")
        // Stopped until the container started again, when the pod could tell.
        let resumed = try #require(AutostopNote.parse("autostop-note gpu1 \(stopped) 60 0 - \(stopped + 1800)"))
        #expect(resumed.sentence(now: now, timeZone: utc) == "gpu1 stopped itself at 00:53 after 1 min idle; 0.5 pod-hours saved")
        // Another day names the day.
        #expect(note.sentence(now: now.addingTimeInterval(86400 * 2), timeZone: utc).contains("on 2026-11-30 at 00:53"))
    }

    @Test func whatAPodMustNotPassOffAsANote() {
        for text in ["autostop-note gpu1 1796000000 60 1", "autostop-note gpu1 x 60 1 - -",
                     "autostop-note gpu1 1796000000 -60 1 - -", "autostop-note gpu1 1796000000 60 1 nan -",
                     "autostop-note gpu1 1796000000 60 1000 - -", "autostop-note gpu1 99999999999999999999 60 1 - -",
                     "warning autostop-note gpu1 1796000000 60 1 - -"] {
            #expect(AutostopNote.parse(text) == nil, "\(text)")
        }
        // A name that is not a pod name is not shown.
        let odd = AutostopNote.parse("autostop-note \\u001B[2J 1796000000 60 1 - -")
        #expect(odd?.pod == "the pod")
    }
}
