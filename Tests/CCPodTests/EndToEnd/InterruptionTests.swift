import CCPodKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Kills the real `ccpod` binary (and everything it started) at many points of a push
/// and of a pull, then reruns it: both sides must converge with every line exactly once.
@Suite("Interrupted syncs converge", .serialized)
struct InterruptionTests {
    /// The built ccpod next to the test bundle.
    static var binary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle.appendingPathComponent("ccpod").path,
                          bundle.deletingLastPathComponent().appendingPathComponent("ccpod").path]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return bundle.appendingPathComponent("ccpod").path
    }

    struct Run {
        let bed: SyncTestBed

        init(bed: SyncTestBed) {
            self.bed = bed
            try? FileManager.default.createDirectory(at: bed.root.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        }
        var env: [String: String] {
            var e = ProcessInfo.processInfo.environment
            e["XDG_STATE_HOME"] = bed.state.path
            e["XDG_CONFIG_HOME"] = bed.root.appendingPathComponent("config").path
            e["CCPOD_POD"] = nil
            // The local: pod's agent is killed with ccpod (SIGKILL, no clean-up): its work
            // folder stays in the bed, not in the machine's /tmp.
            e["TMPDIR"] = bed.root.appendingPathComponent("tmp").path
            return e
        }

        func arguments(_ command: String) -> [String] {
            // Files the killed run touched a moment ago are not "being written" by Claude.
            [command, "--all", "--claude-dir", bed.localClaude, "--pod", "local:\(bed.podRoot)", "--json", "--busy-seconds", "0"]
        }

        /// Starts the command and kills its whole process group after `delay`.
        func killed(_ command: String, after delay: Double) throws {
            let child = try ChildProcess.spawn(InterruptionTests.binary, arguments(command), environment: env,
                                               stdout: .null, stderr: .null, newProcessGroup: true)
            usleep(useconds_t(delay * 1_000_000))
            child.signalGroup(SIGKILL)
            child.wait()
        }

        @discardableResult
        func complete(_ command: String) throws -> (seconds: Double, output: String) {
            let started = Date()
            let out = try ChildProcess.run(InterruptionTests.binary, arguments(command), environment: env)
            #expect(out.status == 0, "\(command): \(out.stderrText)")
            return (Date().timeIntervalSince(started), out.stdoutText)
        }
    }

    static func session(_ n: Int) -> String { String(format: "%08d-1111-4222-8333-444444444444", n) }

    /// Every transcript on both sides: same bytes, only complete JSON lines.
    static func assertConverged(_ bed: SyncTestBed, sessions: Int, _ note: String, output: String = "") throws {
        for n in 0..<sessions {
            let local = SyncTestBed.read("\(bed.localClaude)/projects/p/\(session(n)).jsonl")
            let pod = SyncTestBed.read("\(bed.podClaude)/projects/p/\(session(n)).jsonl")
            #expect(local == pod, "session \(n) differs after \(note): \(output.split(separator: "\n").filter { !$0.contains("in-sync") && !$0.contains("bytes") && !$0.contains("lines") }.prefix(40).joined(separator: " "))")
            if local != pod { return }
            #expect(local.last == 0x0A || local.isEmpty)
            for line in local.split(separator: 0x0A) {
                #expect((try? JSONSerialization.jsonObject(with: Data(line))) is [String: Any], "a broken line after \(note)")
            }
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: InterruptionTests.binary), "the ccpod binary is not built"))
    func killingAPushOrPullAtTwentyPointsEachNeverLosesOrDuplicatesALine() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        // One project folder "p" on both sides (no mapping), many sessions.
        bed.scope = SyncScope(projects: [], all: true)
        let sessions = 12
        func localPath(_ n: Int) -> String { "\(bed.localClaude)/projects/p/\(Self.session(n)).jsonl" }
        func podPath(_ n: Int) -> String { "\(bed.podClaude)/projects/p/\(Self.session(n)).jsonl" }
        var next = [Int](repeating: 0, count: sessions)
        for n in 0..<sessions {
            try SyncTestBed.write(SyncTestBed.lines(session: Self.session(n), count: 200, text: String(repeating: "x", count: 200)), to: localPath(n))
            next[n] = 200
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-10)], ofItemAtPath: localPath(n))
        }
        let run = Run(bed: bed)
        // Calibrate: how long a full push of this corpus takes.
        let full = try run.complete("push").seconds
        try Self.assertConverged(bed, sessions: sessions, "the first push")
        let points = 20
        for direction in ["push", "pull"] {
            for point in 0..<points {
                // New lines on the sending side, for every session.
                for n in 0..<sessions {
                    let more = SyncTestBed.lines(session: Self.session(n), count: 40, start: next[n], text: "\(direction)-\(point)")
                    try SyncTestBed.append(more, to: direction == "push" ? localPath(n) : podPath(n))
                    next[n] += 40
                }
                // The files must look settled to the busy check.
                let past = Date().addingTimeInterval(-10)
                for n in 0..<sessions {
                    try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: direction == "push" ? localPath(n) : podPath(n))
                }
                let delay = max(0.002, full * Double(point) / Double(points))
                try run.killed(direction, after: delay)
                let rerun = try run.complete(direction)
                try Self.assertConverged(bed, sessions: sessions, "\(direction) killed after \(Int(delay * 1000)) ms", output: rerun.output)
            }
        }
    }
}
