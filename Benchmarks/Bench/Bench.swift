import CCPodKit
import CCPodTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum Scenario: String, CaseIterable {
    case coldPush = "cold push (empty pod)"
    case noChange = "no change"
    case grow10 = "10 sessions grown by 50 KB"
    case grow1 = "1 session grown by 5 MB"
    case coldPull = "cold pull (empty laptop)"
    case fork = "both sides grown (fork)"
}

/// One timed run: the tool's figures and what the relay saw.
struct Sample {
    var seconds: Double
    var up: Int
    var down: Int
    var execs: Int
    var connections: Int
    var maxRSSBytes: Int?
}

/// All runs of one tool in one scenario at one round-trip time.
struct Row {
    var rttMs: Int
    var scenario: Scenario
    var tool: String
    var samples: [Sample]
    var note: String? = nil

    private func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    var medianSeconds: Double { median(samples.map(\.seconds)) }
    var minSeconds: Double { samples.map(\.seconds).min() ?? 0 }
    var maxSeconds: Double { samples.map(\.seconds).max() ?? 0 }
    var medianUp: Int { Int(median(samples.map { Double($0.up) })) }
    var medianDown: Int { Int(median(samples.map { Double($0.down) })) }
    var execs: [Int] { Array(Set(samples.map(\.execs))).sorted() }
    var connections: [Int] { Array(Set(samples.map(\.connections))).sorted() }
    var peakRSS: Int? { samples.compactMap(\.maxRSSBytes).max() }
}

struct Settings {
    var sessions = 500
    var megabytes = 200
    var runs = 5
    var perFileRuns = 1
    var rtts = [0, 50]
    var bigMegabytes = 2048
    var quick = false
    var check = false
    var output: String? = "docs/BENCHMARKS.md"
    var keep = false
    /// Size of the generated run directory for `ccpod artifacts pull` (0: skip).
    var artifactMegabytes = 5120
    /// Only the artifacts benchmark.
    var onlyArtifacts = false
    /// Which tools run (ccpod, rsync, tar, perfile): a subset is for quick comparisons while working.
    var tools: Set<String> = ["ccpod", "rsync", "rsync-aes", "tar", "perfile"]
}

/// One deterministic assertion of `--check` (never about wall time).
struct Check {
    var what: String
    var passed: Bool
    var figure: String
}

/// Runs every tool through every scenario against a real sshd behind a delaying relay.
final class Bench {
    let settings: Settings
    let work: String
    let pool: TextPool
    let sshd: LoopbackSSHD
    let relay: TCPRelay
    let ccpodBinary: String
    let ssh: SSHAccess
    let ccpodEnvironment: [String: String]
    let locations: CCPodLocations
    var base = ""
    var sessionPaths: [String] = []
    var rows: [Row] = []
    var checks: [Check] = []
    var memory: [(String, Sample)] = []
    var corpusFiles = 0
    var artifactRows: [ArtifactRow] = []
    var artifactFiles = 0
    var artifactBytes = 0
    var corpusBytes = 0
    var bigBytes = 0
    /// The largest sessions of the corpus, for the report.
    var largest = ""

    init(settings: Settings, work: String, ccpodBinary: String) throws {
        self.settings = settings
        self.work = work
        self.ccpodBinary = ccpodBinary
        pool = TextPool()
        // The pod's login shell reads ~/.bashrc for every exec; this machine's own profile
        // (pyenv, conda…) would add its start-up time to every ssh exec of every tool. The
        // pod's sessions get an empty home instead, like a stock pod image.
        try Trees.makeDirectory(work + "/pod-home")
        sshd = try LoopbackSSHD(behaviour: .init(extraConfig: ["SetEnv HOME=\(work)/pod-home"]),
                                directory: URL(fileURLWithPath: work + "/sshd", isDirectory: true))
        relay = try TCPRelay(targetPort: sshd.port)
        let knownHosts = work + "/known_hosts"
        try "[127.0.0.1]:\(relay.port) \(sshd.hostPublicKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        ssh = SSHAccess(options: [
            "-F", "/dev/null", "-p", String(relay.port), "-i", sshd.clientKeyPath,
            "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            "-o", "ControlMaster=no", "-o", "ControlPath=none",
        ], destination: "\(sshd.user)@127.0.0.1", scratch: work)
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = work + "/home"
        env["XDG_CONFIG_HOME"] = work + "/config"
        env["XDG_STATE_HOME"] = work + "/state"
        env["CCPOD_POD"] = nil
        env["CLAUDE_CONFIG_DIR"] = nil
        ccpodEnvironment = env
        locations = CCPodLocations.resolve(environment: env)
        try Trees.makeDirectory(work + "/home")
        try Trees.makeDirectory(work + "/cwd")
    }

    /// Stops ccpod's ControlMaster, the relay and the sshd.
    func shutdown() {
        for name in registeredPods { try? ccpod(name).closeMaster() }
        relay.stop()
        sshd.shutdown()
    }

    private var registeredPods: [String] = []

    func log(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

    // MARK: - Pods

    func podRoot(_ name: String) -> String { work + "/pods/" + name }
    func podClaude(_ name: String) -> String { podRoot(name) + "/claude" }

    /// `ccpod pod add NAME --direct user@127.0.0.1:RELAYPORT …` with the pod's dirs in the work folder.
    func addPod(_ name: String) throws {
        try Trees.makeDirectory(podClaude(name))
        let args = ["pod", "add", name, "--direct", "\(sshd.user)@127.0.0.1:\(relay.port)", "--identity", sshd.clientKeyPath,
                    "--accept-new", "--claude-dir", podClaude(name), "--workspace", podRoot(name) + "/workspace",
                    "--persistent-dir", podRoot(name) + "/workspace/claude-sessions",
                    "--ssh-option=-F", "--ssh-option=/dev/null"]
        let r = try ChildProcess.run(ccpodBinary, args, environment: ccpodEnvironment, directory: work + "/cwd")
        guard r.status == 0 else { throw BenchError("ccpod pod add failed (\(r.status)): \(r.stderrText)") }
        registeredPods.append(name)
    }

    func ccpod(_ podName: String) -> CCPodTool {
        CCPodTool(binary: ccpodBinary, podName: podName, environment: ccpodEnvironment, directory: work + "/cwd", locations: locations)
    }

    /// Empties a pod (its Claude dir and workspace), as a freshly started pod.
    func emptyPod(_ name: String) throws {
        try Trees.remove(podRoot(name))
        try Trees.makeDirectory(podClaude(name))
    }

    // MARK: - Measuring

    func measure(_ operation: () throws -> Outcome) throws -> Sample {
        // Nothing left to write back from the setup or an earlier tool (a generated corpus,
        // a competitor's unflushed copy) slows down the run that happens to come next.
        sync()
        let before = relay.activeConnections
        relay.resetCounters()
        let outcome = try operation()
        // Let the competitors' connections close and the last delayed chunks land.
        for _ in 0..<200 where relay.activeConnections > before { usleep(10_000) }
        usleep(useconds_t(relay.delay * 2_000_000) + 20_000)
        return Sample(seconds: outcome.seconds, up: relay.bytesUpstream, down: relay.bytesDownstream,
                      execs: outcome.execs, connections: relay.connectionsAccepted, maxRSSBytes: outcome.maxRSSBytes)
    }

    // MARK: - Corpus

    func generateCorpus() throws {
        base = work + "/base"
        log("generating \(settings.sessions) sessions / \(settings.megabytes) MB in \(base) ...")
        sessionPaths = try Corpus.generate(claudeDir: base, sessions: settings.sessions, totalBytes: settings.megabytes << 20, pool: pool)
        let listing = Trees.listing(base)
        corpusFiles = listing.count
        corpusBytes = Int(listing.values.reduce(0, +))
        let sizes = sessionPaths.compactMap { listing[$0] }.sorted(by: >)
        largest = sizes.prefix(3).map { Report.bytes(Int($0)) }.joined(separator: ", ")
        log("corpus: \(corpusFiles) files, \(Report.bytes(corpusBytes)); largest sessions \(sizes.prefix(4).map { Report.bytes(Int($0)) }.joined(separator: ", "))")
    }

    /// Appends `bytes` of new turns to each of `paths` under `claudeDir`, the same content for a given (path, run).
    func grow(_ claudeDir: String, _ paths: [String], bytes: Int, run: Int, salt: UInt64) throws {
        let writer = TurnWriter(pool: pool)
        for path in paths {
            var rng = SplitMix64(seed: SplitMix64.seed(path, salt &+ UInt64(run)))
            try writer.append(to: claudeDir + "/" + path, bytes: bytes, rng: &rng)
        }
    }

    func growthTargets(_ scenario: Scenario, run: Int) -> [String] {
        let n = sessionPaths.count
        switch scenario {
        case .grow10: return (0..<min(10, n)).map { sessionPaths[(run * 10 + $0 * 37) % n] }
        default: return [sessionPaths[(run * 53 + 11) % n]]
        }
    }

    // MARK: - Scenarios

    func runAll() throws {
        for rtt in settings.rtts {
            relay.delay = Double(rtt) / 2000
            log("== RTT \(rtt) ms (relay delay \(Double(rtt) / 2) ms each way)")
            let podName = "bench-rtt\(rtt)"
            try addPod(podName)
            if settings.tools.contains("ccpod") {
                let ccpodTool = ccpod(podName)
                try runTool(ccpodTool, rtt: rtt, sides: Sides(local: work + "/rtt\(rtt)/ccpod/local", pod: podClaude(podName)),
                            emptyPod: { try self.emptyPod(podName) })
            }
            let competitors: [(SyncTool, String)] = [
                (RsyncTool(ssh: ssh), "rsync"),
                (RsyncTool(name: "rsync -az, ssh with ccpod's ciphers", ssh: ssh.withCCPodCiphers), "rsync-aes"),
                (TarTool(ssh: ssh), "tar"), (PerFileTool(ssh: ssh), "perfile"),
            ]
            for (tool, slug) in competitors where settings.tools.contains(slug) {
                let root = work + "/rtt\(rtt)/\(slug)"
                let sides = Sides(local: root + "/local", pod: root + "/pod/claude")
                try runTool(tool, rtt: rtt, sides: sides, emptyPod: {
                    try Trees.remove(root + "/pod")
                    try Trees.makeDirectory(sides.pod)
                })
                try Trees.remove(root)
            }
            try Trees.remove(work + "/rtt\(rtt)")
        }
    }

    func record(_ rtt: Int, _ scenario: Scenario, _ tool: String, _ samples: [Sample], note: String? = nil) {
        rows.append(Row(rttMs: rtt, scenario: scenario, tool: tool, samples: samples, note: note))
        let r = rows.last!
        log(String(format: "  %-28@ %-26@ median %.3f s  up %@ down %@  execs %@", scenario.rawValue as NSString, tool as NSString,
                   r.medianSeconds, Report.bytes(r.medianUp) as NSString, Report.bytes(r.medianDown) as NSString,
                   r.execs.map(String.init).joined(separator: "/") as NSString))
    }

    func runTool(_ tool: SyncTool, rtt: Int, sides: Sides, emptyPod: () throws -> Void) throws {
        let runs = settings.runs
        try Trees.remove(sides.local)
        try Trees.copy(base, to: sides.local)
        try emptyPod()
        try tool.forgetState()

        // Cold push: the pod is emptied (and ccpod forgets its state) before every run.
        if tool is PerFileTool && settings.quick && rtt != 0 { return }
        let pushRuns = tool is PerFileTool ? (rtt == 0 ? settings.perFileRuns : 1) : runs
        var samples: [Sample] = []
        for _ in 0..<pushRuns {
            try emptyPod()
            try tool.forgetState()
            samples.append(try measure { try tool.push(sides) })
            try Trees.verifyIdentical(sides.local, sides.pod, hashing: [])
        }
        try Trees.verifyIdentical(sides.local, sides.pod)
        record(rtt, .coldPush, tool.name, samples,
               note: tool is PerFileTool && pushRuns < runs ? "\(pushRuns) run(s): one ssh per file is slow" : nil)
        // The old script copies every file every time, so its other scenarios cost what a cold push costs.
        if tool is PerFileTool { return }

        samples = []
        for _ in 0..<runs { samples.append(try measure { try tool.push(sides) }) }
        try Trees.verifyIdentical(sides.local, sides.pod)
        record(rtt, .noChange, tool.name, samples,
               note: tool is TarTool ? "sends everything again; the grown scenarios cost the same, not measured" : nil)

        for scenario in [Scenario.grow10, .grow1] where !(tool is TarTool) {
            samples = []
            for run in 0..<runs {
                let targets = growthTargets(scenario, run: run)
                try grow(sides.local, targets, bytes: scenario == .grow10 ? 50 * 1024 : 5 << 20, run: run, salt: 1)
                samples.append(try measure { try tool.push(sides) })
                try Trees.verifyIdentical(sides.local, sides.pod, hashing: Set(targets))
            }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(rtt, scenario, tool.name, samples)
        }

        if let ccpod = tool as? CCPodTool {
            // The same operations when ccpod's ControlMaster is not up (the first command of the day).
            samples = []
            for _ in 0..<runs {
                try closeMaster(ccpod)
                samples.append(try measure { try ccpod.push(sides) })
            }
            record(rtt, .noChange, "ccpod, cold connection", samples)
            samples = []
            for _ in 0..<runs { samples.append(try measure { try ccpod.sync(sides) }) }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(rtt, .noChange, "ccpod sync (both ways)", samples)
            samples = []
            for run in 0..<runs {
                let targets = growthTargets(.grow10, run: run + runs)
                try grow(sides.local, targets, bytes: 50 * 1024, run: run, salt: 2)
                try closeMaster(ccpod)
                samples.append(try measure { try ccpod.push(sides) })
                try Trees.verifyIdentical(sides.local, sides.pod, hashing: Set(targets))
            }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(rtt, .grow10, "ccpod, cold connection", samples)
        }

        // Cold pull: the pod holds the corpus; the laptop is emptied (and ccpod forgets) before every run.
        try Trees.remove(sides.pod + "/projects")
        try Trees.copy(base + "/projects", to: sides.pod + "/projects")
        samples = []
        for _ in 0..<runs {
            try Trees.remove(sides.local)
            try Trees.makeDirectory(sides.local)
            try tool.forgetState()
            samples.append(try measure { try tool.pull(sides) })
            try Trees.verifyIdentical(sides.local, sides.pod, hashing: [])
        }
        try Trees.verifyIdentical(sides.local, sides.pod)
        record(rtt, .coldPull, tool.name, samples)

        if let ccpod = tool as? CCPodTool { try runFork(ccpod, rtt: rtt, sides: sides) }
    }

    func closeMaster(_ ccpod: CCPodTool) throws {
        try ccpod.closeMaster()
        for _ in 0..<300 where relay.activeConnections > 0 { usleep(10_000) }
    }

    /// Both sides grow the same session differently; `ccpod sync` must keep both continuations
    /// on both sides (a sibling session each way) and leave every other file identical.
    func runFork(_ ccpod: CCPodTool, rtt: Int, sides: Sides) throws {
        var samples: [Sample] = []
        var diverged: Set<String> = []
        for run in 0..<settings.runs {
            let path = sessionPaths[(run * 71 + 5) % sessionPaths.count]
            let before = (Trees.listing(sides.local), Trees.listing(sides.pod))
            let writer = TurnWriter(pool: pool)
            var rng = SplitMix64(seed: SplitMix64.seed(path, 300 + UInt64(run)))
            try writer.append(to: sides.local + "/" + path, bytes: 20 * 1024, rng: &rng, marker: "laptop-fork-\(run) ")
            rng = SplitMix64(seed: SplitMix64.seed(path, 400 + UInt64(run)))
            try writer.append(to: sides.pod + "/" + path, bytes: 20 * 1024, rng: &rng, marker: "pod-fork-\(run) ")
            let localHash = try SHA256Hex.ofFile(sides.local + "/" + path), podHash = try SHA256Hex.ofFile(sides.pod + "/" + path)
            var report: SyncReport?
            let sample = try measure {
                let outcome = try ccpod.sync(sides)
                report = outcome.report
                return outcome
            }
            samples.append(sample)
            guard (report?.count(.forked) ?? 0) >= 1 else { throw BenchError("fork run \(run): ccpod sync reported no fork for \(path)") }
            // Each side keeps its own continuation…
            guard try SHA256Hex.ofFile(sides.local + "/" + path) == localHash, try SHA256Hex.ofFile(sides.pod + "/" + path) == podHash else {
                throw BenchError("fork run \(run): a side's own continuation of \(path) was changed")
            }
            // …and receives the other's as one new sibling session carrying the other's new lines.
            let newLocal = Set(Trees.listing(sides.local).keys).subtracting(before.0.keys)
            let newPod = Set(Trees.listing(sides.pod).keys).subtracting(before.1.keys)
            guard newLocal.count == 1, newPod.count == 1 else {
                throw BenchError("fork run \(run): expected one sibling on each side, got \(newLocal.sorted()) here and \(newPod.sorted()) on the pod")
            }
            guard try contains(sides.local + "/" + newLocal.first!, "pod-fork-\(run) "),
                  try contains(sides.pod + "/" + newPod.first!, "laptop-fork-\(run) ") else {
                throw BenchError("fork run \(run): a sibling does not carry the other side's new lines")
            }
            diverged.insert(path)
            diverged.formUnion(newLocal)
            diverged.formUnion(newPod)
            try Trees.verifyIdentical(sides.local, sides.pod, hashing: [], ignoring: diverged)
        }
        try Trees.verifyIdentical(sides.local, sides.pod, ignoring: diverged)
        record(rtt, .fork, "ccpod sync", samples, note: "each side keeps its own; the other's arrives as a sibling session")
    }

    private func contains(_ path: String, _ needle: String) throws -> Bool {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        return data.range(of: Data(needle.utf8)) != nil
    }

    // MARK: - Memory

    /// A session of `bigMegabytes` pushed to an empty pod, then grown by 5 MB and synced.
    func runMemoryCheck() throws {
        relay.delay = 0
        let name = "bench-big"
        try addPod(name)
        let tool = ccpod(name)
        let sides = Sides(local: work + "/big/local", pod: podClaude(name))
        log("== memory: generating a \(settings.bigMegabytes) MB session ...")
        let path = try Corpus.generateBig(claudeDir: sides.local, bytes: settings.bigMegabytes << 20, pool: pool)
        bigBytes = Int(Trees.listing(sides.local)[path] ?? 0)
        let push = try measure { try tool.push(sides) }
        try Trees.verifyIdentical(sides.local, sides.pod)
        memory.append(("push to an empty pod", push))
        var rng = SplitMix64(seed: 5)
        try TurnWriter(pool: pool).append(to: sides.local + "/" + path, bytes: 5 << 20, rng: &rng)
        let sync = try measure { try tool.sync(sides) }
        try Trees.verifyIdentical(sides.local, sides.pod)
        memory.append(("grown by 5 MB, then `ccpod sync`", sync))
        for (what, s) in memory {
            log(String(format: "  %@: %.2f s, peak RSS %@, execs %d", what, s.seconds, Report.bytes(s.maxRSSBytes ?? 0), s.execs))
        }
        try Trees.remove(work + "/big")
        try Trees.remove(podRoot(name))
    }

    // MARK: - Checks

    /// What `--check` asserts: deterministic figures only, never wall time.
    func evaluateChecks() {
        for row in rows where row.tool.hasPrefix("ccpod") {
            let want = row.scenario == .fork ? 2 : 1
            checks.append(Check(what: "ccpod execs, \(row.scenario.rawValue) (\(row.tool)), \(row.rttMs) ms",
                                passed: row.execs == [want], figure: row.execs.map(String.init).joined(separator: "/")))
        }
        for rtt in settings.rtts {
            if let c = row(rtt, .grow10, "ccpod"), let r = row(rtt, .grow10, "rsync -az") {
                let cb = c.medianUp + c.medianDown, rb = r.medianUp + r.medianDown
                checks.append(Check(what: "bytes on the wire, 10 sessions +50 KB, ccpod < rsync, \(rtt) ms",
                                    passed: cb < rb, figure: "\(Report.bytes(cb)) vs \(Report.bytes(rb))"))
            }
        }
        checks.append(Check(what: "every scenario byte-identical on both sides afterwards", passed: true, figure: "verified (SHA-256)"))
        for (what, s) in memory {
            checks.append(Check(what: "big session execs, \(what)", passed: s.execs == 1, figure: String(s.execs)))
        }
    }

    func row(_ rtt: Int, _ scenario: Scenario, _ tool: String) -> Row? {
        rows.first { $0.rttMs == rtt && $0.scenario == scenario && $0.tool == tool }
    }
}
