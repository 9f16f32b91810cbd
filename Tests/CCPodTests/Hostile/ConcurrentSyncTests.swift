import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Several real ccpod processes on one pod at once: access is serialized, nothing is
/// duplicated, lost or forked.
@Suite(.enabled(if: HostilePod.isAvailable, "sshd is not installed or ccpod was not built next to the tests"))
struct ConcurrentSyncTests {
    static let slug = "-work-demo"
    static let laptopOwned = (0..<3).map { String(format: "1aaaaaaa-0000-4000-8000-%012d", $0) }
    static let podOwned = (0..<3).map { String(format: "2bbbbbbb-0000-4000-8000-%012d", $0) }

    static func line(_ session: String, _ n: Int, side: String) -> String {
        "{\"type\":\"user\",\"sessionId\":\"\(session)\",\"uuid\":\"\(side)-\(n)\",\"message\":{\"role\":\"user\",\"content\":\"\(side) line \(n) of \(session)\"}}\n"
    }

    /// Appends one complete line with one write(2) (O_APPEND: as Claude Code appends).
    static func append(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        guard fd >= 0 else { throw CCPodError.io("cannot open \(url.path)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        guard n == bytes.count else { throw CCPodError.io("short write to \(url.path)") }
    }

    static func lines(_ url: URL) -> [String] {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    static func transcripts(_ claude: URL) -> [String] {
        let dir = claude.appendingPathComponent("projects/\(slug)")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    /// Three `ccpod sync --all` at once, round after round, while both sides append to their
    /// own sessions (so a single run never forks); then one quiet sync.
    @Test(.timeLimit(.minutes(3)))
    func threeSyncsAtOnceLoseDuplicateAndForkNothing() throws {
        let pod = try HostilePod()
        defer { pod.shutdown() }
        let dir = "projects/\(Self.slug)"
        let written = Locked<[String: [String]]>([:])
        func add(_ session: String, _ n: Int, laptop: Bool) throws {
            let text = Self.line(session, n, side: laptop ? "laptop" : "pod")
            let base = laptop ? pod.claudeDir : pod.podClaudeDir
            try Self.append(text, to: base.appendingPathComponent("\(dir)/\(session).jsonl"))
            written.withLock { $0[session, default: []].append(String(text.dropLast())) }
        }
        for s in Self.laptopOwned { try add(s, 0, laptop: true) }
        for s in Self.podOwned { try add(s, 0, laptop: false) }
        let sync = HostileCheck.arguments(["sync", "--all"], pod: pod, destination: pod.root)
        let first = try pod.run(sync)
        #expect(first.status == 0, "\(first.summary)")

        let rounds = 8
        let start = Date()
        let outcomes = Locked<[HostilePod.Outcome]>([])
        let failures = Locked<[String]>([])
        let group = DispatchGroup()
        for _ in 0..<3 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for _ in 0..<rounds {
                    do {
                        let outcome = try pod.run(sync, hardLimit: 60)
                        outcomes.withLock { $0.append(outcome) }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        // The writer: a line on each side's sessions every 150 ms while the syncs run.
        var n = 1
        while group.wait(timeout: .now() + .milliseconds(150)) == .timedOut {
            for s in Self.laptopOwned { try add(s, n, laptop: true) }
            for s in Self.podOwned { try add(s, n, laptop: false) }
            n += 1
            if Date().timeIntervalSince(start) > 90 { break }
        }
        group.wait()
        #expect(Date().timeIntervalSince(start) < 60, "the rounds took \(Int(Date().timeIntervalSince(start))) s")
        #expect(failures.current.isEmpty, "\(failures.current)")
        for outcome in outcomes.current {
            #expect(outcome.status == 0 && outcome.signal == nil, "a concurrent sync: \(outcome.summary)")
        }

        let quiet = try pod.run(sync)
        #expect(quiet.status == 0, "the quiet sync: \(quiet.summary)")

        let all = written.current
        for session in Self.laptopOwned + Self.podOwned {
            let laptop = Self.lines(pod.claudeDir.appendingPathComponent("\(dir)/\(session).jsonl"))
            let remote = Self.lines(pod.podClaudeDir.appendingPathComponent("\(dir)/\(session).jsonl"))
            let expected = all[session] ?? []
            #expect(laptop == remote, "\(session): the two sides differ (\(laptop.count) lines here, \(remote.count) on the pod)")
            for (side, got) in [("laptop", laptop), ("pod", remote)] {
                #expect(Set(got).count == got.count, "\(session) on the \(side): \(got.count - Set(got).count) duplicated lines")
                let missing = Set(expected).subtracting(got)
                #expect(missing.isEmpty, "\(session) on the \(side): \(missing.count) lines missing")
                let foreign = Set(got).subtracting(expected)
                #expect(foreign.isEmpty, "\(session) on the \(side): \(foreign.count) lines nobody wrote: \(foreign.prefix(2))")
            }
        }
        // No fork: exactly the sessions written, on both sides, none titled as a fork.
        let sessions = (Self.laptopOwned + Self.podOwned).map { "\($0).jsonl" }.sorted()
        #expect(Self.transcripts(pod.claudeDir) == sessions, "laptop: \(Self.transcripts(pod.claudeDir))")
        #expect(Self.transcripts(pod.podClaudeDir) == sessions, "pod: \(Self.transcripts(pod.podClaudeDir))")
        for base in [pod.claudeDir, pod.podClaudeDir] {
            for name in Self.transcripts(base) {
                let text = (try? String(contentsOf: base.appendingPathComponent("\(dir)/\(name)"), encoding: .utf8)) ?? ""
                #expect(!text.contains("(from pod)") && !text.contains("(from laptop)"), "\(name) is a fork")
            }
        }
    }

    /// While one ccpod works on a pod, a second waits and says so after about a second;
    /// with `--no-wait` it exits 75 at once.
    @Test(.timeLimit(.minutes(2)))
    func aSecondCCPodWaitsAndSaysSo() throws {
        let pod = try HostilePod()
        defer { pod.shutdown() }
        try HostileCheck.write(Wire.line, to: pod.claudeDir.appendingPathComponent("projects/\(Self.slug)/\(Wire.session).jsonl"))
        // The first sync's agent takes 6 s before it starts (a slow pod), then works honestly.
        try pod.queue(HostilePod.Answer([.silence(seconds: 6), .honest]), for: .agent)
        let sync = HostileCheck.arguments(["sync", "--all"], pod: pod, destination: pod.root)
        let firstPid = Locked<pid_t>(0)
        let first = Locked<HostilePod.Outcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            first.withLock { $0 = try? pod.run(sync, hardLimit: 60, started: { pid in firstPid.withLock { $0 = pid } }) }
            done.signal()
        }
        // The first has started its exchange (the answer is being played).
        let deadline = Date().addingTimeInterval(20)
        while pod.unplayed > 0 && Date() < deadline { usleep(50_000) }
        #expect(pod.unplayed == 0, "the first sync never reached the pod")

        let noWait = try pod.run(sync + ["--no-wait"], hardLimit: 20)
        #expect(noWait.status == 75, "--no-wait while another ccpod syncs: \(noWait.summary)")
        #expect(noWait.seconds < 3, "--no-wait waited: \(noWait.summary)")

        let second = try pod.run(sync, hardLimit: 60)
        done.wait()
        let pid = firstPid.current
        #expect(second.status == 0, "the waiting sync: \(second.summary)")
        // The harness's pid is that of the wrapper that measures ccpod (GNU time), so the
        // holder named is the first sync's ccpod, a child of that pid.
        #expect(second.stderrText.contains("waiting for ccpod pid ") && second.stderrText.contains("syncing with gpu"),
                "the waiting sync did not say whom it waits for: \(second.stderrText) (first: \(pid))")
        #expect(second.seconds > 1.5, "the second sync did not wait: \(second.summary)")
        #expect(first.current?.status == 0, "the first sync: \(first.current?.summary ?? "did not run")")
    }
}
