import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// A measurement by hand, not a timed test: three pods on real sshd with 1,000 sessions
/// each (all pushed, so warm and in sync, with ssh's master connections up), then
/// `ccpod sessions --everywhere --all --json` timed a few times. Runs only when
/// CCPOD_MEASURE_EVERYWHERE is set; CCPOD_MEASURE_BINARY names the binary (a release build).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CCPOD_MEASURE_EVERYWHERE"] != nil, "a measurement: set CCPOD_MEASURE_EVERYWHERE"))
struct EverywhereMeasurement {
    @Test func threePodsWithAThousandSessionsEach() throws {
        let bed = try ThreePodBed()
        let binary = ProcessInfo.processInfo.environment["CCPOD_MEASURE_BINARY"] ?? ClaudeTestPaths.ccpodBinary!.path
        for i in 0..<1000 {
            let sid = String(format: "%08d-2222-4333-8444-555555555555", i)
            try SyncTestBed.write(bed.lines(sid, count: 20), to: bed.local(sid))
        }
        for pod in bed.names {
            let out = try ChildProcess.run(binary, ["push", "--all", "--pod", pod, "--busy-seconds", "0"], environment: bed.env, directory: bed.project)
            #expect(out.status == 0, "\(out.stderrText)")
        }
        var times: [Double] = []
        for _ in 0..<5 {
            let started = Date()
            let out = try ChildProcess.run(binary, ["sessions", "--everywhere", "--all", "--json"], environment: bed.env, directory: bed.project)
            times.append(Date().timeIntervalSince(started))
            #expect(out.status == 0, "\(out.stderrText)")
            let json = try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any]
            #expect((json?["sessions"] as? [Any])?.count == 1000)
        }
        print("sessions --everywhere --all --json, 3 pods × 1,000 sessions, warm: " + times.map { String(format: "%.3f s", $0) }.joined(separator: ", "))
        // Its parts, for comparison: this machine alone, one pod, one pod's plain status.
        for args in [["sessions", "--all", "--json"], ["sessions", "--pod", "gpua", "--all", "--json"], ["status", "--pod", "gpua", "--all", "--json"]] {
            var part: [Double] = []
            for _ in 0..<3 {
                let started = Date()
                _ = try ChildProcess.run(binary, args, environment: bed.env, directory: bed.project)
                part.append(Date().timeIntervalSince(started))
            }
            print("\(args.joined(separator: " ")): " + part.map { String(format: "%.3f s", $0) }.joined(separator: ", "))
        }
    }
}
