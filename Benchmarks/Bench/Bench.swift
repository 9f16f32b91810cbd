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
    case floor = "floor: one exec on a warm connection + the request's bytes"

    /// The name `--scenarios` takes.
    var slug: String {
        switch self {
        case .coldPush: "cold-push"
        case .noChange: "no-change"
        case .grow10: "grow10"
        case .grow1: "grow1"
        case .coldPull: "cold-pull"
        case .fork: "fork"
        case .floor: "floor"
        }
    }

    /// The scenarios that start from a cold push (which runs, recorded or not, when any is asked for).
    static let pushes: Set<Scenario> = [.coldPush, .noChange, .grow10, .grow1]
}

/// The link between laptop and pod, as the relay plays it.
struct LinkProfile: Hashable {
    var rttMs: Int
    /// Laptop → pod and pod → laptop, in Mbit/s; nil: as fast as loopback.
    var upMbit: Int? = nil
    var downMbit: Int? = nil

    var isLimited: Bool { upMbit != nil || downMbit != nil }
    var name: String {
        guard isLimited else { return "\(rttMs) ms" }
        return "\(rttMs) ms, \(upMbit.map(String.init) ?? "∞") Mbit/s up, \(downMbit.map(String.init) ?? "∞") Mbit/s down"
    }
    var slug: String { isLimited ? "lim\(rttMs)" : "rtt\(rttMs)" }

    /// `UP/DOWN/RTT`, e.g. `20/100/80`.
    static func parse(_ text: String) -> LinkProfile? {
        let parts = text.split(separator: "/").map { Int($0) }
        guard parts.count == 3, let up = parts[0], let down = parts[1], let rtt = parts[2], up > 0, down > 0, rtt >= 0 else { return nil }
        return LinkProfile(rttMs: rtt, upMbit: up, downMbit: down)
    }
}

/// Which text the benchmark's sessions are made of.
enum CorpusKind: String, CaseIterable {
    /// Prose-like words sliced from an 8 MB pool (zstd -3: about 3.6x).
    case pool
    /// Claude Code sessions as real ones are made: metadata, tool results, repeated
    /// files, logs, a few images, text generated afresh (zstd -3: 7–11x; `VariedTurns`).
    case varied
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
    var link: LinkProfile
    var corpus: CorpusKind
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
    /// The bandwidth-limited profile (nil: not measured).
    var limited: LinkProfile? = LinkProfile(rttMs: 80, upMbit: 20, downMbit: 100)
    var corpora: [CorpusKind] = CorpusKind.allCases
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
    /// Which scenarios run (`--scenarios`); the fork starts from both sides holding the
    /// corpus, which a cold push or a cold pull leaves.
    var scenarios: Set<Scenario> = Set(Scenario.allCases)

    /// Every link the sync scenarios run on: the round-trip times, then the limited link.
    var profiles: [LinkProfile] { rtts.map { LinkProfile(rttMs: $0) } + (limited.map { [$0] } ?? []) }
}

/// What the report says about a corpus.
struct CorpusFacts {
    var files = 0
    var bytes = 0
    var largest = ""
    /// zstd -3 of the whole tree as one tar stream, and the median of the files one by one.
    var zstdRatio = 0.0
    var zstdRatioPerFile = 0.0
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
    var corpus = CorpusKind.pool
    var corpusFacts: [CorpusKind: CorpusFacts] = [:]
    let varied = VariedTurns()
    /// The turns the current corpus grows by.
    var turns: TurnSource { corpus == .pool ? TurnWriter(pool: pool) : varied }
    var rows: [Row] = []
    var checks: [Check] = []
    var memory: [(String, Sample)] = []
    var artifactRows: [ArtifactRow] = []
    var artifactFiles = 0
    var artifactBytes = 0
    var bigBytes = 0

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

    func generateCorpus(_ kind: CorpusKind) throws {
        corpus = kind
        base = work + "/base-" + kind.rawValue
        log("generating the \(kind.rawValue) corpus: \(settings.sessions) sessions / \(settings.megabytes) MB in \(base) ...")
        sessionPaths = try Corpus.generate(claudeDir: base, sessions: settings.sessions, totalBytes: settings.megabytes << 20, turns: turns)
        let listing = Trees.listing(base)
        var facts = CorpusFacts(files: listing.count, bytes: Int(listing.values.reduce(0, +)))
        let sizes = sessionPaths.compactMap { listing[$0] }.sorted(by: >)
        facts.largest = sizes.prefix(3).map { Report.bytes(Int($0)) }.joined(separator: ", ")
        (facts.zstdRatio, facts.zstdRatioPerFile) = try Corpus.zstdRatios(base, files: sessionPaths)
        corpusFacts[kind] = facts
        log(String(format: "corpus: %d files, %@; largest sessions %@; zstd -3: %.1fx whole, %.1fx per file (median)",
                   facts.files, Report.bytes(facts.bytes) as NSString, facts.largest as NSString, facts.zstdRatio, facts.zstdRatioPerFile))
    }

    // MARK: - Checks

    /// What `--check` asserts: deterministic figures only, never wall time.
    func evaluateChecks() {
        for row in rows where row.tool.hasPrefix("ccpod") {
            let want = row.scenario == .fork ? 2 : 1
            checks.append(Check(what: "ccpod execs, \(row.scenario.rawValue) (\(row.tool)), \(row.corpus.rawValue) corpus, \(row.link.name)",
                                passed: row.execs == [want], figure: row.execs.map(String.init).joined(separator: "/")))
        }
        for kind in settings.corpora {
            for link in settings.profiles {
                if let c = row(link, kind, .grow10, "ccpod"), let r = row(link, kind, .grow10, "rsync -az") {
                    let cb = c.medianUp + c.medianDown, rb = r.medianUp + r.medianDown
                    checks.append(Check(what: "bytes on the wire, 10 sessions +50 KB, ccpod < rsync, \(kind.rawValue) corpus, \(link.name)",
                                        passed: cb < rb, figure: "\(Report.bytes(cb)) vs \(Report.bytes(rb))"))
                }
            }
        }
        checks.append(Check(what: "every scenario byte-identical on both sides afterwards", passed: true, figure: "verified (SHA-256)"))
        for (what, s) in memory {
            checks.append(Check(what: "big session execs, \(what)", passed: s.execs == 1, figure: String(s.execs)))
        }
    }

    func row(_ link: LinkProfile, _ kind: CorpusKind, _ scenario: Scenario, _ tool: String) -> Row? {
        rows.first { $0.link == link && $0.corpus == kind && $0.scenario == scenario && $0.tool == tool }
    }
}
