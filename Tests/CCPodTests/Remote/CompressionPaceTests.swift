@testable import CCPodKit
import Foundation
import Testing

@Suite("Compression that follows the link")
struct CompressionPaceTests {
    typealias Window = CompressionPace.Window
    let mib: Int64 = 1 << 20

    /// Windows of `share` busy and `blocked` waiting, 8 MiB each; what the pace says after each.
    func verdicts(busy: Double?, blocked: Double, windows: Int = 4, bytes: Int64 = 8 << 20) -> [Bool] {
        var pace = CompressionPace()
        return (0..<windows).map { _ in
            pace.judge(Window(seconds: 0.5, blocked: blocked * 0.5, compressorCPU: busy.map { $0 * 0.5 }), bytes: bytes)
        }
    }

    @Test func aCompressorWaitingOnTheLinkMovesOnAfterTwoWindows() {
        // Judged from 16 MiB on (the second window); two slow windows in a row move on.
        #expect(verdicts(busy: 0.1, blocked: 0.95) == [false, false, true, true])
    }

    @Test func aBusyCompressorKeepsItsLevel() {
        // Loopback, the pod on the same cores: busy a third of a core and more.
        #expect(verdicts(busy: 0.32, blocked: 0.8) == [false, false, false, false])
        #expect(verdicts(busy: 1.6, blocked: 0.1) == [false, false, false, false])
    }

    @Test func anIdleCompressorNobodyWaitsOnIsCcpodsOwnSlowness() {
        // ccpod reads slowly (a cold disk): the compressor idles, but ccpod never waits on it.
        #expect(verdicts(busy: 0.05, blocked: 0.1) == [false, false, false, false])
    }

    @Test func withoutTheCompressorsCPUTimeNothingIsJudged() {
        #expect(verdicts(busy: nil, blocked: 1.0) == [false, false, false, false])
    }

    @Test func smallRequestsKeepTheirLevel() {
        #expect(verdicts(busy: 0.05, blocked: 1.0, windows: 6, bytes: 2 << 20) == [false, false, false, false, false, false])
    }

    @Test func aBusyWindowStartsTheCountAgain() {
        var pace = CompressionPace()
        let slow = Window(seconds: 0.5, blocked: 0.45, compressorCPU: 0.02)
        let busy = Window(seconds: 0.5, blocked: 0.1, compressorCPU: 0.3)
        let said = [slow, slow, busy, slow, slow].map { pace.judge($0, bytes: 16 << 20) }
        #expect(said == [false, true, false, false, true])
    }

    /// Real zstd into a pipe drained at 4 MB/s: the compressor waits on its output, so
    /// the stream moves to the denser step; the frames read back as the bytes written.
    @Test func aSlowSinkMovesTheStreamToTheDenserStepAndItReadsBackWhole() throws {
        guard ChildProcess.exists("zstd") else {
            Issue.record("zstd is not installed; install it (apt-get install -y zstd) to run this test")
            return
        }
        #if os(Linux)
        let sink = try Pipe2()
        let received = Locked(Data())
        let drained = DispatchSemaphore(value: 0)
        let readFD = sink.read
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 40_000)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                received.withLock { $0.append(contentsOf: buffer[0..<n]) }
                usleep(10_000) // about 4 MB/s
            }
            close(readFD)
            drained.signal()
        }
        var pace = CompressionPace()
        pace.window = 0.2
        pace.minimumBytes = 2 << 20
        let compressor = try RequestCompressor(
            steps: [["zstd", "-q", "-1", "-c"], ["zstd", "-q", "-9", "--long=24", "-c"]], sink: sink.write, pace: pace,
            started: { _ in }, reap: { $0.wait() })
        let input = PodInput(compressor: compressor)
        // Lines that compress about 3x: a pseudo-random hex field in fixed text.
        var sent = Data()
        var chunk = Data()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for line in 0..<600_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            chunk.append(contentsOf: "{\"n\":\(line),\"id\":\"\(String(state, radix: 16))\"}\n".utf8)
            if chunk.count >= 1 << 16 {
                try input.write(chunk)
                sent.append(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        try input.write(chunk)
        sent.append(chunk)
        input.close()
        if let last = compressor.process { #expect(last.wait() == 0) }
        drained.wait()
        #expect(compressor.step == 1)
        let decoded = try ChildProcess.run("zstd", ["-q", "-d", "-c", "--memory=32MB"], input: received.current)
        #expect(decoded.status == 0)
        #expect(decoded.stdout == sent)
        #endif
    }

    /// A request's first compressor: a small one of new lines at level 9 from its first
    /// byte; one of records alone, or a large one, at the fast level 2 (then the pace).
    @Test func aSmallRequestOfNewLinesStartsDenser() {
        func request(payloads: [Int64], records: Int = 0) -> AgentRequest {
            var files = (0..<records).map { AgentFileRequest(path: "projects/p/\($0).jsonl", seen: nil, ancestor: nil, operation: .check) }
            files += payloads.enumerated().map { i, length in
                AgentFileRequest(path: "projects/p/n\(i).jsonl", seen: nil, ancestor: nil, operation: .put,
                                 payload: .init(file: "/nonexistent", offset: 0, length: length, sha256: ""))
            }
            return AgentRequest(mode: .push, rootPrefix: "", paths: PodPaths(), scope: [], sessionIds: [], files: files, accept: [.zstd])
        }
        let level = { (r: AgentRequest) in Compression.zstd.firstRequestStep(for: r)?.first { $0.hasPrefix("-") && $0 != "-q" && $0 != "-c" } }
        #expect(level(request(payloads: Array(repeating: 50 << 10, count: 10), records: 540)) == "-9")
        #expect(level(request(payloads: [], records: 550)) == "-2")
        #expect(level(request(payloads: [32 << 10], records: 550)) == "-2")
        #expect(level(request(payloads: [3 << 20])) == "-2")
        // Many records push a small payload over the limit: the fast level.
        #expect(level(request(payloads: [100 << 10], records: 20_000)) == "-2")
        #expect(Compression.gzip.firstRequestStep(for: request(payloads: [100 << 10])) == Compression.gzip.compressor)
    }
}
