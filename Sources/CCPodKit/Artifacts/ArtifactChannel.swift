import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The pod-side artifacts script (Artifacts/artifacts.sh), sent in the command line.
public enum ArtifactsScript {
    public static let protocolVersion = 3
    /// The line the script writes on stderr every few seconds while it works.
    public static let keepalive = "ccpod-alive"

    /// The command that lists `runDir`'s `tops` at once and then serves one transfer request.
    public static func remoteCommand(rootPrefix: String, runDir: String, tops: [String]) -> String {
        InlineScript.command(PackageResources.artifacts_sh, name: "ccpod-artifacts",
                             arguments: [String(protocolVersion), rootPrefix, runDir] + tops)
    }
}

/// One call of the artifacts script: one process (one `ssh` exec) that first lists the
/// run directory, then serves the transfer ccpod asks for after planning locally.
final class ArtifactChannel: @unchecked Sendable {
    let connection: any PodConnection
    private let child: ChildProcess
    private let toRemote: Int32
    private let reader: FDReader
    private let stderrText = Locked(Data())
    private let stderrDone = DispatchSemaphore(value: 0)
    private var finished = false
    private var decompressor: ChildProcess?
    private var compressor: ChildProcess?
    private var writer: Thread?
    private let writeDone = DispatchSemaphore(value: 0)
    let writeError = Locked<CCPodError?>(nil)

    /// Starts the script and reads the listing.
    init(connection: any PodConnection, runDir: String, tops: [String]) throws {
        self.connection = connection
        let command = ArtifactsScript.remoteCommand(rootPrefix: connection.rootPrefix, runDir: runDir, tops: tops)
        let (arguments, environment) = try connection.invocation(remoteCommand: command)
        let input = try Pipe2(), output = try Pipe2(), errors = try Pipe2()
        input.enlarge()
        output.enlarge()
        do {
            // Its own process group: a Ctrl-C reaches ccpod, which stops the transfer itself.
            child = try ChildProcess.spawn(arguments[0], Array(arguments.dropFirst()), environment: environment,
                                           stdin: .fd(input.read), stdout: .fd(output.write), stderr: .fd(errors.write),
                                           newProcessGroup: true)
        } catch {
            input.closeBoth(); output.closeBoth(); errors.closeBoth()
            throw error
        }
        input.closeRead(); output.closeWrite(); errors.closeWrite()
        toRemote = input.write
        reader = FDReader(fd: output.read)
        let errFD = errors.read, text = stderrText, done = stderrDone
        let alive = Array((ArtifactsScript.keepalive + "\n").utf8)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc_read(errFD, $0.baseAddress!, $0.count) }
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                // Keepalive lines only say the script works: they are not kept, so a long
                // transfer's keepalives never crowd out what the pod says when it fails.
                if n % alive.count == 0 && stride(from: 0, to: n, by: alive.count).allSatisfy({ buffer[$0..<($0 + alive.count)].elementsEqual(alive) }) {
                    continue
                }
                text.withLock { if $0.count < 65536 { $0.append(contentsOf: buffer[0..<n]) } }
            }
            close(errFD)
            done.signal()
        }
    }

    /// Reads the header and the listing (phase 1). The listing is parsed as it arrives
    /// (through the decompressor when it is compressed), never held whole in memory.
    func readListing() throws -> RunListing {
        do {
            guard let header = try reader.readLine(limit: 4096) else { throw failure() }
            let parts = String(decoding: header, as: UTF8.self).split(separator: " ").map(String.init)
            guard parts.count == 3, parts[0] == "CCPOD-ART" else { throw failure() }
            if parts[2] == "failed" {
                let why = try reader.readLine(limit: 4096).map { String(decoding: $0, as: UTF8.self) } ?? "no reason given"
                throw ArtifactRejection(error: CCPodError.unavailable("the artifacts agent on \(pod) stopped: \(TerminalText.escape(why))"))
            }
            guard parts[1] == String(ArtifactsScript.protocolVersion) else {
                throw ArtifactRejection(error: CCPodError.badData("the artifacts agent on \(pod) speaks protocol \(TerminalText.escape(parts[1])), this ccpod speaks \(ArtifactsScript.protocolVersion)"))
            }
            let tools = parts[2].split(separator: ",").compactMap { Compression(rawValue: String($0)) }
            guard let listLine = try reader.readLine(limit: 4096) else { throw failure() }
            let listParts = String(decoding: listLine, as: UTF8.self).split(separator: " ").map(String.init)
            guard listParts.count == 3, listParts[0] == "LIST", let compression = Compression(rawValue: listParts[1]),
                  let count = ArtifactWire.number(listParts[2]), count < 1 << 30 else { throw failure() }
            var parser = RunListing.Parser(tools: tools, pod: connection.displayName)
            try readListingBody(count, compression, into: &parser)
            return parser.finish()
        } catch {
            abort()
            throw explained(error)
        }
    }

    private var pod: String { TerminalText.escape(connection.displayName) }

    /// Feeds the listing's `count` bytes, line by line, to `parser`: straight from the
    /// stream, or through a decompressor fed from a thread (so a small compressed listing
    /// that inflates without end costs a line of memory, and stops at the parser's limits).
    private func readListingBody(_ count: Int64, _ compression: Compression, into parser: inout RunListing.Parser) throws {
        var splitter = LineSplitter(limit: ArtifactWire.maxLine)
        // What the parser refuses is a rejection; the stream ending early is not.
        let tooLong = ArtifactRejection(error: parser.bad("a line longer than \(ArtifactWire.maxLine) bytes"))
        func add(_ line: UnsafeRawBufferPointer) throws {
            do { try parser.add(line) } catch let error as CCPodError { throw ArtifactRejection(error: error) }
        }
        guard let tool = compression.listingDecompressor else {
            var remaining = count
            var ignored = SHA256()
            try reader.stream(&remaining, hasher: &ignored) { chunk in
                try splitter.feed(chunk, tooLong: { tooLong }) { try add($0) }
            }
            try splitter.finish { try add($0) }
            return
        }
        let input = try Pipe2()
        let output: Pipe2
        do { output = try Pipe2() } catch { input.closeBoth(); throw error }
        let decompressor: ChildProcess
        do {
            decompressor = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()), stdin: .fd(input.read), stdout: .fd(output.write), stderr: .null)
        } catch {
            input.closeBoth(); output.closeBoth()
            throw error
        }
        input.closeRead()
        output.closeWrite()
        let source = reader, sink = input.write
        let fed = DispatchSemaphore(value: 0)
        // Set when the pod's stream failed (not when the decompressor stopped taking bytes).
        let feedError = Locked<CCPodError?>(nil)
        Thread.detachNewThread {
            var remaining = count
            var ignored = SHA256()
            var writing = false
            do {
                try source.stream(&remaining, hasher: &ignored) {
                    writing = true
                    try FileDescriptorIO.writeAll(sink, $0, path: "the listing's decompressor")
                    writing = false
                }
            } catch {
                if !writing { feedError.withLock { $0 = error as? CCPodError ?? CCPodError.io("\(error)") } }
            }
            close(sink)
            fed.signal()
        }
        var failure: Error?
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = Glibc_read(output.read, buffer.baseAddress!, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                try splitter.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), tooLong: { tooLong }) { try add($0) }
            }
        } catch {
            failure = error
            // Stop both ends of the feeder: the decompressor, and the pod's stream it reads.
            decompressor.signal(SIGTERM)
            abort()
        }
        close(output.read)
        fed.wait()
        let status = decompressor.wait()
        if let failure { throw failure }
        if let error = feedError.current { throw error }
        guard status == 0 else { throw ArtifactRejection(error: parser.bad("it could not be decompressed")) }
        try splitter.finish { try add($0) }
    }

    /// Sends the request (phase 2) from a thread, so the answer can be read meanwhile.
    /// `body` writes the records; the channel compresses them when asked.
    func sendRequest(requestCompression: Compression, responseCompression: Compression,
                     _ body: @escaping @Sendable (Int32) throws -> Void) throws {
        try FileDescriptorIO.writeAll(toRemote, Data("CCPOD-ART-REQ \(ArtifactsScript.protocolVersion) \(requestCompression.rawValue) \(responseCompression.rawValue)\n".utf8), path: "the pod")
        var target = toRemote
        if let tool = requestCompression.fastCompressor {
            let pipe = try Pipe2()
            pipe.enlarge()
            compressor = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()),
                                                stdin: .fd(pipe.read), stdout: .fd(toRemote), stderr: .null)
            pipe.closeRead()
            close(toRemote)
            target = pipe.write
        }
        let fd = target, errorBox = writeError, done = writeDone
        let thread = Thread {
            do {
                try body(fd)
            } catch let error as CCPodError {
                errorBox.withLock { $0 = error }
            } catch {
                errorBox.withLock { $0 = CCPodError.io("\(error)") }
            }
            close(fd)
            done.signal()
        }
        writer = thread
        thread.start()
        self.responseCompression = responseCompression
        answer = reader
    }

    /// Where the answer of phase 2 is read from: the stream as it arrives, and after
    /// a `Y` record (`decompressRest`) the decompressor's output.
    private(set) var answer: FDReader?
    private var responseCompression = Compression.none

    /// The pod said that the rest of its answer is compressed: reads it through the
    /// decompressor from here on. False when that cannot be (no response compression
    /// was asked for, or the switch came already).
    func decompressRest() throws -> Bool {
        guard let tool = responseCompression.decompressor, decompressor == nil, answer === reader else { return false }
        let out = try Pipe2()
        out.enlarge()
        let pending = reader.takeBuffered()
        if pending.isEmpty {
            decompressor = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()), stdin: .fd(reader.fd), stdout: .fd(out.write), stderr: .null)
        } else {
            decompressor = try AgentExchange.spawnWithPrefix(tool, prefix: pending, rest: reader.fd, output: out.write)
        }
        out.closeWrite()
        answer = FDReader(fd: out.read)
        return true
    }

    /// Ends the call when no transfer is wanted (a dry run, nothing to do).
    func endWithoutTransfer() {
        _ = try? FileDescriptorIO.writeAll(toRemote, Data("CCPOD-ART-REQ \(ArtifactsScript.protocolVersion) none none\nEND\n".utf8), path: "the pod")
        close(toRemote)
        // The agent answers `END ok`; a pod that goes on talking is stopped.
        var lines = 0
        while (try? reader.readLine(limit: 1 << 16)) != nil {
            lines += 1
            if lines > 64 { abort(); break }
        }
        finish()
    }

    /// Stops the call at once (Ctrl-C, an invalid answer): the pod side gets EOF and SIGTERM.
    func abort() {
        child.signalGroup(SIGTERM)
        decompressor?.signal(SIGTERM)
    }

    /// Waits for every process and thread of the call; returns the exit status.
    @discardableResult
    func finish() -> Int32 {
        if finished { return 0 }
        finished = true
        if let answer, answer.fd != reader.fd { close(answer.fd) }
        close(reader.fd)
        let status = child.wait()
        decompressor?.wait()
        if writer != nil { writeDone.wait() }
        compressor?.wait()
        stderrDone.wait()
        return status
    }

    /// Ends the call if it is still running (an error before the request was sent).
    func stop() {
        if finished { return }
        abort()
        finish()
    }

    /// The error to report for a call that failed: ssh's own failure explained when there
    /// is one, unless ccpod refused the answer itself (and then stopped the process).
    func explained(_ error: Error) -> Error {
        let status = finish()
        if let rejection = error as? ArtifactRejection { return rejection.error }
        let text = stderrLines.joined(separator: "\n")
        if let ssh = connection.explainFailure(status: status, stderr: text) { return ssh }
        return error
    }

    private func failure() -> CCPodError {
        let text = TerminalText.escape(stderrLines.suffix(2).joined(separator: " / "))
        return CCPodError.badData("the artifacts agent on \(pod) gave no valid answer\(text.isEmpty ? "" : ": \(text)"); run `ccpod check`")
    }

    /// What the pod's side wrote on stderr, without its keepalive lines.
    private var stderrLines: [String] {
        String(decoding: stderrText.current, as: UTF8.self).split(separator: "\n").map(String.init)
            .filter { $0 != ArtifactsScript.keepalive }
    }
}

extension Compression {
    /// The fastest level: artifacts are large and often incompressible.
    var fastCompressor: [String]? {
        switch self {
        case .zstd: return ["zstd", "-q", "-1", "-c"]
        case .gzip: return ["gzip", "-1", "-c"]
        case .none: return nil
        }
    }

    /// The decompressor for a listing, its memory bounded (zstd's window).
    var listingDecompressor: [String]? {
        self == .zstd ? ["zstd", "-q", "-d", "-c", "--memory=32MB"] : decompressor
    }
}
