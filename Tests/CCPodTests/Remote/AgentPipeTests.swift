import CCPodKit
import Foundation
import Testing

/// The streams inside the agent that carry a transfer's bulk go through 1 MiB pipes
/// (agent.sh, `enlarge_pipe`), not the kernel's default 64 KiB: tar's stdin from the
/// request's decompressor in a push, the answer's compressor's stdin in a pull. The
/// pod's `tar` and `zstd` are scripts that run the real tools, then write the size of
/// their stdin's pipe (F_GETPIPE_SZ, while the agent still holds the pipe) to a log.
@Suite("Pipes inside the agent")
struct AgentPipeTests {
    static let canRun: Bool = {
        #if os(Linux)
        return ["tar", "zstd", "perl"].allSatisfy { ChildProcess.exists($0) }
        #else
        return false
        #endif
    }()

    /// A script standing in for `tool`: the real one runs, then, when it was called
    /// with one of `when` (`-x`: tar unpacking; `-c` without `-d`: a compressor), the
    /// size of its stdin's pipe goes to `log` (0 when stdin is no pipe).
    static func recorder(_ tool: String, when flag: String, log: String) throws -> String {
        let real = try ChildProcess.resolve(tool, environment: ProcessInfo.processInfo.environment)
        let record = "perl -e 'print((fcntl(STDIN, 1032, 0) || 0) + 0, \"\\n\")' >> '\(log)'"
        return """
            case " $* " in *" -d "*) exec '\(real)' "$@" ;; *" \(flag) "*) ;; *) exec '\(real)' "$@" ;; esac
            '\(real)' "$@"
            status=$?
            \(record)
            exit $status

            """
    }

    static func sizes(_ log: String) -> [Int] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int($0) }
    }

    @Test(.enabled(if: canRun, "needs Linux, tar, zstd and perl"))
    func aFirstPushAndAPullStreamThroughLargePipesOnThePod() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let logs = bed.root.appendingPathComponent("logs").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        bed.connection = try ShimmedPathConnection(
            root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path, omitted: [],
            scripts: ["tar": Self.recorder("tar", when: "-x", log: logs + "/tar"),
                      "zstd": Self.recorder("zstd", when: "-c", log: logs + "/zstd")])
        let engine = SyncEngine(claudeDir: bed.localClaude, connection: bed.connection, stateDir: bed.state, compress: true)
        let text = String(repeating: "a line long enough to make megabytes ", count: 60)

        // A first push of 5 MB: the archive of new files comes through the decompressor.
        let pushed = "55555555-1111-4222-8333-444444444444"
        let big = SyncTestBed.lines(session: pushed, count: 3_200, text: text)
        #expect(big.count > 4 << 20)
        try SyncTestBed.write(big, to: bed.localTranscript(pushed))
        let push = try engine.run(scope: bed.scope, options: SyncOptions(direction: .push, busySeconds: 0))
        #expect(push.count(.copiedToPod) == 1)
        #expect(SyncTestBed.read(bed.podTranscript(pushed)) == big)
        #expect(Self.sizes(logs + "/tar") == [1 << 20])

        // A pull of a 5 MB session the pod made: the answer goes through its compressor.
        let pulled = "66666666-1111-4222-8333-444444444444"
        let theirs = SyncTestBed.lines(session: pulled, count: 3_200, text: text)
        try SyncTestBed.write(theirs, to: bed.podTranscript(pulled))
        try? FileManager.default.removeItem(atPath: logs + "/zstd")
        let pull = try engine.run(scope: bed.scope, options: SyncOptions(direction: .pull, busySeconds: 0))
        #expect(pull.count(.copiedFromPod) == 1, "\(pull.items)")
        #expect(SyncTestBed.read(bed.localTranscript(pulled)) == theirs)
        #expect(Self.sizes(logs + "/zstd").contains(1 << 20), "\(Self.sizes(logs + "/zstd"))")
    }
}
