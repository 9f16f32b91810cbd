@testable import CCPodKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The artifacts script itself, under dash: its keepalive on stderr while it runs (and
/// nothing left holding the streams once it ends, even killed), and its one failure convention.
@Suite("Artifacts script: keepalive and failures")
struct ArtifactScriptTests {
    /// The script running on a `local:` run dir, its three streams in the test's hands.
    final class Running: @unchecked Sendable {
        let child: ChildProcess
        let input: Int32
        let stdout = Locked(Data())
        let stderr = Locked(Data())
        let stderrClosed = Locked<Date?>(nil)
        private let done = DispatchSemaphore(value: 0)

        init(_ bed: ArtifactTestBed, protocolVersion: Int = ArtifactsScript.protocolVersion) throws {
            var command = ArtifactsScript.remoteCommand(rootPrefix: bed.podRoot, runDir: bed.podDirectory, tops: ["."])
            if protocolVersion != ArtifactsScript.protocolVersion {
                command = command.replacingOccurrences(of: " ccpod-artifacts \(ArtifactsScript.protocolVersion) ", with: " ccpod-artifacts \(protocolVersion) ")
            }
            let (arguments, _) = try ShellConnection(shell: "dash", root: bed.podRoot).invocation(remoteCommand: command)
            let i = try Pipe2(), o = try Pipe2(), e = try Pipe2()
            child = try ChildProcess.spawn(arguments[0], Array(arguments.dropFirst()), stdin: .fd(i.read), stdout: .fd(o.write), stderr: .fd(e.write))
            i.closeRead(); o.closeWrite(); e.closeWrite()
            input = i.write
            for (fd, box, isErr) in [(o.read, stdout, false), (e.read, stderr, true)] {
                let closed = stderrClosed, signal = done
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { break }
                        box.withLock { $0.append(contentsOf: buffer[0..<n]) }
                    }
                    close(fd)
                    if isErr { closed.withLock { $0 = Date() } }
                    signal.signal()
                }
            }
        }

        func send(_ text: String) { _ = text.withCString { write(input, $0, strlen($0)) } }
        func closeInput() { close(input) }

        /// Waits for both streams to close (false after `seconds`).
        func waitForStreams(_ seconds: Double) -> Bool {
            done.wait(timeout: .now() + seconds) == .success && done.wait(timeout: .now() + seconds) == .success
        }

        var stderrLines: [String] { String(decoding: stderr.current, as: UTF8.self).split(separator: "\n").map(String.init) }
    }

    /// While the script works (here: waits for the request after its listing) it writes
    /// `ccpod-alive` on stderr every 5 s and nothing else; its stderr closes as soon as it
    /// ends (the ticker is stopped, not left running up to 5 s more).
    @Test(.enabled(if: ChildProcess.exists("dash"), "dash is not installed"))
    func itSaysItIsAliveAndStopsWhenItEnds() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write("hello\n", to: bed.pod("results/a.txt"))
        let running = try Running(bed)
        Thread.sleep(forTimeInterval: 6.5)
        running.send(ArtifactWire.requestHeader(request: .none, response: .none) + ArtifactWire.requestEnd)
        running.closeInput()
        let ended = Date()
        #expect(running.waitForStreams(10), "the script's streams stayed open")
        #expect(running.child.wait() == 0)
        let lines = running.stderrLines
        #expect(!lines.isEmpty && lines.allSatisfy { $0 == ArtifactsScript.keepalive }, "\(lines)")
        let closed = try #require(running.stderrClosed.current)
        #expect(closed.timeIntervalSince(ended) < 2.5, "stderr closed \(closed.timeIntervalSince(ended)) s after the end")
        #expect(String(decoding: running.stdout.current, as: UTF8.self).hasSuffix("END\tok\n"))
    }

    /// Killed with SIGKILL (no trap runs), the ticker notices within its period and ends:
    /// nothing keeps the connection's stderr open.
    @Test(.enabled(if: ChildProcess.exists("dash"), "dash is not installed"))
    func aKilledScriptLeavesNothingHoldingItsStreams() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let running = try Running(bed)
        Thread.sleep(forTimeInterval: 1)
        running.child.signal(SIGKILL)
        _ = running.child.wait()
        #expect(running.waitForStreams(12), "the ticker outlived the script")
        running.closeInput()
    }

    /// One failure convention: before the header, `CCPOD-ART <protocol> failed` and the
    /// reason; after it, `W <reason>` and `END failed`; exit status 3 both times.
    @Test(.enabled(if: ChildProcess.exists("dash"), "dash is not installed"))
    func failuresSayWhyInOneWay() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let early = try Running(bed, protocolVersion: 1)
        early.closeInput()
        #expect(early.waitForStreams(10))
        #expect(early.child.wait() == 3)
        let said = String(decoding: early.stdout.current, as: UTF8.self)
        #expect(said.hasPrefix("CCPOD-ART \(ArtifactsScript.protocolVersion) failed\nprotocol mismatch"), "\(said)")

        let late = try Running(bed)
        late.send("HELLO 1 none none\n")
        late.closeInput()
        #expect(late.waitForStreams(10))
        #expect(late.child.wait() == 3)
        let answer = String(decoding: late.stdout.current, as: UTF8.self)
        #expect(answer.hasSuffix("W\tthe request did not start with CCPOD-ART-REQ \(ArtifactsScript.protocolVersion)\nEND\tfailed\n"), "\(answer)")
    }

    /// Never more bytes than asked: a small file that grew since it was listed is sent up
    /// to the length asked (`S`), and a range whose prefix is not the agreed one is sent
    /// from 0 up to the end asked for (`G`), not to the file's new end.
    @Test(.enabled(if: ChildProcess.exists("dash"), "dash is not installed"))
    func theScriptNeverSendsMoreThanAsked() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write("hello world\n", to: bed.pod("results/a.txt"))
        try ArtifactTestBed.write("HELLO WORLD\n", to: bed.pod("logs/b.log"))
        let running = try Running(bed)
        running.send(ArtifactWire.requestHeader(request: .none, response: .none)
            + ArtifactWire.PullRecord.small(length: 5, path: "results/a.txt").line
            + ArtifactWire.PullRecord.get(offset: 3, length: 2, prefixSha: String(repeating: "0", count: 64), path: "logs/b.log").line
            + ArtifactWire.requestEnd)
        running.closeInput()
        #expect(running.waitForStreams(10))
        #expect(running.child.wait() == 0)
        let text = String(decoding: running.stdout.current, as: UTF8.self)
        let start = try #require(text.range(of: "B\t"))
        let answer = String(text[start.lowerBound...])
        let hello = SHA256Hex.of(Data("hello".utf8)), upper = SHA256Hex.of(Data("HELLO".utf8))
        #expect(answer == "B\t1\nE\t5\t\(hello)\tresults/a.txt\nhello" + "D\t0\t5\tlogs/b.log\nHELLOZ\t\(upper)\tlogs/b.log\nEND\tok\n", "\(answer)")
    }
}
