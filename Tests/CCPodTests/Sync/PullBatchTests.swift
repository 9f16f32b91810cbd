@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// A first pull's new files leave the pod in one batch: one perl reads them all and
/// writes them to the answer, exactly their sizes (without perl: cat, bounded by dd).
@Suite("A first pull's files in one batch")
struct PullBatchTests {
    /// A pull's answer follows the link where the pod's zstd can (`--adapt`, in an 8 MB
    /// window) and ccpod came over ssh from another machine; a pod whose zstd cannot,
    /// one reached from a loopback address or without ssh (ccpod's CPUs are the pod's)
    /// answers at level 3, and the pull is the same. A status answer stays at level 3
    /// and asks nothing of zstd.
    @Test(arguments: [(true, "203.0.113.9"), (false, "203.0.113.9"), (true, "127.0.0.1"), (true, "::1"), (true, nil)])
    func aPullsAnswerFollowsTheLinkWhereThePodsZstdCan(_ canAdapt: Bool, _ client: String?) throws {
        guard let real = try? ChildProcess.resolve("zstd", environment: ProcessInfo.processInfo.environment) else { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        var counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path)
        counting.sshClient = client
        bed.connection = counting
        let calls = counting.bin + ".zstd"
        let shim = """
            #!/bin/sh
            printf '%s\\n' "$*" >> '\(calls)'
            case " $* " in *" --adapt"*) \(canAdapt ? ":" : "echo 'zstd: --adapt: unknown option' >&2; exit 1") ;; esac
            exec '\(real)' "$@"

            """
        try FileManager.default.removeItem(atPath: counting.bin + "/zstd")
        _ = FileManager.default.createFile(atPath: counting.bin + "/zstd", contents: Data(shim.utf8), attributes: [.posixPermissions: 0o755])
        let ids = (0..<3).map { String(format: "44444444-4444-4555-8666-%012d", $0) }
        for (i, id) in ids.enumerated() {
            try SyncTestBed.write(SyncTestBed.lines(session: id, count: 40 + i, text: String(repeating: "q", count: 300)), to: bed.podTranscript(id))
        }
        func zstdCalls() throws -> [String] {
            _ = try counting.processes()
            defer { _ = FileManager.default.createFile(atPath: calls, contents: Data()) }
            return (try? String(contentsOfFile: calls, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        }
        #expect(try bed.run(.pull).count(.copiedFromPod) == ids.count)
        for id in ids { #expect(SyncTestBed.read(bed.localTranscript(id)) == SyncTestBed.read(bed.podTranscript(id))) }
        let pulled = try zstdCalls()
        let answered = pulled.filter { $0.hasSuffix("-T2 -c") }
        let adapts = canAdapt && client == "203.0.113.9"
        #expect(answered == [adapts ? "-q -3 --adapt=min=1,max=9 --zstd=wlog=23 -T2 -c" : "-q -3 -T2 -c"], "\(pulled)")
        _ = try bed.run(.status)
        #expect(try zstdCalls().filter { !$0.hasPrefix("-q -d") } == ["-q -3 -T2 -c"])
    }

    @Test(arguments: [true, false])
    func newFilesLeaveThePodThroughOneProcess(_ withPerl: Bool) throws {
        if withPerl && !ChildProcess.exists("perl") { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path,
                                              hiding: withPerl ? [] : ["perl"])
        bed.connection = counting
        let ids = (0..<12).map { String(format: "33333333-4444-4555-8666-%012d", $0) }
        for (i, id) in ids.enumerated() {
            var bytes = SyncTestBed.lines(session: id, count: 3 + i * 5, text: String(repeating: "p", count: i * 97))
            // Bytes no text tool keeps, and a last line without its newline (not complete yet).
            if i % 4 == 1 { bytes += Data([0x7b, 0x00, 0xff, 0x0d, 0x22, 0x7d, 0x0a]) }
            if i % 4 == 2 { bytes += Data("{\"half\":".utf8) }
            try SyncTestBed.write(bytes, to: bed.podTranscript(id))
        }
        // An empty file and one over a MiB.
        try SyncTestBed.write(Data(), to: bed.podClaude + "/projects/\(SyncTestBed.podSlug)/memory/empty.md")
        try SyncTestBed.write(Data(repeating: 0x61, count: 1_500_000) + Data("\n".utf8),
                              to: bed.podClaude + "/projects/\(SyncTestBed.podSlug)/memory/big.md")
        _ = try counting.processes()
        let pull = try bed.run(.pull)
        #expect(pull.count(.copiedFromPod) == ids.count + 2, "\(pull.items)")
        let started = try counting.processes()
        #expect(started.contains("perl") == withPerl, "\(started)")
        #expect(started.contains("dd") == !withPerl, "\(started)")
        for (i, id) in ids.enumerated() {
            var want = SyncTestBed.read(bed.podTranscript(id))
            if i % 4 == 2, let end = want.lastIndex(of: 0x0A) { want = want.prefix(through: end) }
            #expect(SyncTestBed.read(bed.localTranscript(id)) == want, "\(id)")
        }
        let localFolder = "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)"
        #expect(SyncTestBed.read(localFolder + "/memory/big.md") == SyncTestBed.read(bed.podClaude + "/projects/\(SyncTestBed.podSlug)/memory/big.md"))
        #expect(FileManager.default.fileExists(atPath: localFolder + "/memory/empty.md"))
        #expect(try bed.run(.pull).count(.copiedFromPod) == 0)
    }

    /// The pod's files a pull sends at once are those not busy, as for every other file:
    /// a session a running claude holds (with its file-history and todos) stays, a
    /// session none holds goes however recent where claude keeps its registry, and
    /// without a registry anything changed in the last busy seconds stays.
    @Test(arguments: [true, false])
    func busyFilesStayOnThePod(_ registry: Bool) throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let held = "44444444-5555-4666-8777-000000000001"
        let free = "44444444-5555-4666-8777-000000000002"
        for id in [held, free] { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: bed.podTranscript(id)) }
        try SyncTestBed.write(Data("{}".utf8), to: "\(bed.podClaude)/file-history/\(held)/v1")
        try SyncTestBed.write(Data("[]".utf8), to: "\(bed.podClaude)/todos/\(held)-agent-\(held).json")
        if registry {
            let entry = "{\"pid\":\(getpid()),\"sessionId\":\"\(held)\",\"cwd\":\"\(SyncTestBed.podProject)\"}"
            try SyncTestBed.write(Data(entry.utf8), to: "\(bed.podClaude)/sessions/\(getpid()).json")
        }
        let engine = SyncEngine(claudeDir: bed.localClaude, connection: bed.connection, stateDir: bed.state)
        let report = try engine.run(scope: bed.scope, options: SyncOptions(direction: .pull, dryRun: false, delete: false, busySeconds: 60))
        let pulled = Set(report.items.filter { $0.action == .copiedFromPod }.map(\.path))
        #expect(!pulled.contains { $0.contains(held) }, "\(report.items)")
        #expect(pulled.contains { $0.contains(free) } == registry, "\(report.items)")
        #expect(FileManager.default.fileExists(atPath: bed.localTranscript(free)) == registry)
        #expect(!FileManager.default.fileExists(atPath: bed.localTranscript(held)))
    }
}
