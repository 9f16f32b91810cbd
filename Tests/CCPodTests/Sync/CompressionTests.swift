import CCPodKit
import Foundation
import Testing

/// A local pod whose PATH lacks some tools (as a minimal image would).
struct RestrictedPathConnection: PodConnection {
    let root: String
    let bin: String
    var paths = PodPaths()
    var displayName: String { "restricted:\(root)" }
    var rootPrefix: String { root }
    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        (["/bin/sh", "-c", remoteCommand], ["PATH": bin])
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }

    /// A folder of links to the tools the agent uses, without `missing`.
    static func bin(in dir: String, without missing: Set<String>) throws -> String {
        let tools = ["sh", "head", "tail", "sha256sum", "find", "sort", "join", "mktemp", "wc", "tr", "cat", "cp", "mv",
                     "mkdir", "rm", "date", "sed", "readlink", "truncate", "sync", "base64", "zstd", "gzip",
                     "nl", "cut", "paste", "xargs", "cmp", "awk"]
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for tool in tools where !missing.contains(tool) {
            let path = try ChildProcess.resolve(tool, environment: ProcessInfo.processInfo.environment)
            try FileManager.default.createSymbolicLink(atPath: "\(dir)/\(tool)", withDestinationPath: path)
        }
        return dir
    }
}

@Suite("Compression both ways")
struct CompressionTests {
    let id = "44444444-2222-4333-8444-555555555555"

    @Test(arguments: [Set<String>(), ["zstd"], ["zstd", "gzip"]])
    func aPodWithoutACompressorStillSyncsAndIsRemembered(_ missing: Set<String>) throws {
        guard ChildProcess.exists("zstd") else { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let bin = try RestrictedPathConnection.bin(in: bed.root.appendingPathComponent("bin").path, without: missing)
        bed.connection = RestrictedPathConnection(root: bed.podRoot, bin: bin)
        let engine = SyncEngine(claudeDir: bed.localClaude, connection: bed.connection, stateDir: bed.state, compress: true)
        let content = SyncTestBed.lines(session: id, count: 200, text: String(repeating: "compressible ", count: 20))
        try SyncTestBed.write(content, to: bed.localTranscript(id))
        let first = try engine.run(scope: bed.scope, options: SyncOptions(direction: .push, busySeconds: 0))
        #expect(first.count(.copiedToPod) == 1)
        // A pod without zstd refuses the compressed request at once; it is sent again plainly.
        #expect(first.exchanges == (missing.contains("zstd") ? 2 : 1))
        #expect(SyncTestBed.read(bed.podTranscript(id)) == content)
        let learned = try String(contentsOf: bed.state.appendingPathComponent("compression"), encoding: .utf8)
        let expected = missing.contains("zstd") ? (missing.contains("gzip") ? "none" : "gzip") : "zstd"
        #expect(learned == expected)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 5, start: 200), to: bed.podTranscript(id))
        let pull = try engine.run(scope: bed.scope, options: SyncOptions(direction: .pull, busySeconds: 0))
        #expect(pull.count(.pulled) == 1)
        #expect(pull.exchanges == 1)
        #expect(SyncTestBed.read(bed.localTranscript(id)) == SyncTestBed.read(bed.podTranscript(id)))
    }
}
