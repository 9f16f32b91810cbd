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
///
/// The process runs on `PodProcess`: a pod that goes silent (no byte on stdout or
/// stderr, keepalives included, for the connection's inactivity timeout) is stopped
/// and reported with `PodProcess.stallError`; what arrived is kept as for a cut connection.
final class ArtifactChannel: @unchecked Sendable {
    let connection: any PodConnection
    private let process: PodProcess
    /// What the request writer threw, if anything (a local file that could not be read,
    /// the pod going away under it).
    var writeError: Locked<Error?> { process.writeError }
    private var requestSent = false

    /// Starts the script (reading its listing is `readListing`).
    init(connection: any PodConnection, runDir: String, tops: [String], direction: ArtifactRequest.Direction) throws {
        self.connection = connection
        let command = ArtifactsScript.remoteCommand(rootPrefix: connection.rootPrefix, runDir: runDir, tops: tops)
        // Its own process group: a Ctrl-C reaches ccpod, which stops the transfer itself.
        process = try PodProcess(connection: connection, command: command,
                                 options: .init(activity: direction == .pull ? "pulling artifacts" : "pushing artifacts",
                                                afterStop: "what arrived is kept", input: .pipe, newProcessGroup: true))
    }

    /// The header or the listing was not what the script writes.
    private struct NoValidAnswer: Error {}

    /// Reads the header and the listing (phase 1). The listing is parsed as it arrives
    /// (through the decompressor when it is compressed), never held whole in memory.
    func readListing() throws -> RunListing {
        let reader = process.answer
        do {
            // Nothing at all is the connection's failure; anything else that is not the
            // agent is what the user reads (a login banner, a lying listing header).
            func notTheAgent(_ what: String) -> ArtifactRejection {
                ArtifactRejection(error: CCPodError.badData("the pod \(pod) answered with \(what) instead of ccpod's artifacts agent (a login banner or a shell startup file that prints?); nothing was changed here; run `ccpod check --pod \(pod)`"))
            }
            let header: [UInt8]
            do {
                guard let line = try reader.readLine(limit: 4096) else { throw NoValidAnswer() }
                header = line
            } catch let error as CCPodError where error.status == .badData {
                throw notTheAgent("a line over 4 KiB")
            }
            let headerText = String(decoding: header, as: UTF8.self)
            let parts = headerText.split(separator: " ").map(String.init)
            guard parts.count == 3, parts[0] == "CCPOD-ART" else {
                throw notTheAgent("\"\(TerminalText.escape(String(headerText.prefix(80))))\"")
            }
            if parts[2] == "failed" {
                let why = try reader.readLine(limit: 4096).map { String(decoding: $0, as: UTF8.self) } ?? "no reason given"
                // The agent's own failure, as the sync agent's: the pod answered (65).
                throw ArtifactRejection(error: CCPodError.badData("the artifacts agent on \(pod) stopped: \(TerminalText.escape(why))"))
            }
            guard parts[1] == String(ArtifactsScript.protocolVersion) else {
                throw ArtifactRejection(error: CCPodError.badData("the artifacts agent on \(pod) speaks protocol \(TerminalText.escape(parts[1])), this ccpod speaks \(ArtifactsScript.protocolVersion)"))
            }
            let tools = parts[2].split(separator: ",").compactMap { Compression(rawValue: String($0)) }
            guard let listLine = try reader.readLine(limit: 4096) else { throw NoValidAnswer() }
            let listParts = String(decoding: listLine, as: UTF8.self).split(separator: " ").map(String.init)
            guard listParts.count == 3, listParts[0] == "LIST", let compression = Compression(rawValue: listParts[1]),
                  let count = ArtifactWire.number(listParts[2]), count < 1 << 30 else {
                throw ArtifactRejection(error: CCPodError.badData("the pod \(pod) sent an invalid listing header (\"\(TerminalText.escape(String(String(decoding: listLine, as: UTF8.self).prefix(80))))\"): a listing is at most 1 GiB; nothing was changed here"))
            }
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
        let reader = process.answer
        guard let tool = compression.decompressor else {
            var remaining = count
            var ignored = SHA256()
            try reader.stream(&remaining, hasher: &ignored) { chunk in
                try splitter.feed(chunk, tooLong: { tooLong }) { try add($0) }
            }
            try splitter.finish { try add($0) }
            return
        }
        // Only the listing is compressed (the request and the answer come after it in
        // the same stream), so it gets a decompressor of its own, fed `count` bytes.
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
        let sink = input.write
        let fed = DispatchSemaphore(value: 0)
        // Set when the pod's stream failed or went silent (not when the decompressor stopped taking bytes).
        let feedError = Locked<Error?>(nil)
        Thread.detachNewThread {
            var remaining = count
            var ignored = SHA256()
            var writing = false
            do {
                try reader.stream(&remaining, hasher: &ignored) {
                    writing = true
                    try FileDescriptorIO.writeAll(sink, $0, path: "the listing's decompressor")
                    writing = false
                }
            } catch {
                if !writing { feedError.withLock { $0 = error } }
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
                     _ body: @escaping @Sendable (PodInput) throws -> Void) throws {
        // The header travels plain: the pod reads it before it starts its decompressor.
        try process.write(Data("CCPOD-ART-REQ \(ArtifactsScript.protocolVersion) \(requestCompression.rawValue) \(responseCompression.rawValue)\n".utf8))
        // Fast first; denser when the link holds the stream back (RequestCompressor).
        if let tool = requestCompression.fastCompressor {
            try process.compressInput(with: tool, steps: requestCompression.denserSteps)
        }
        process.startWriter(body)
        self.responseCompression = responseCompression
        requestSent = true
    }

    /// Where the answer of phase 2 is read from (nil before the request was sent): the
    /// stream as it arrives, and after a `Y` record (`decompressRest`) the decompressor's output.
    var answer: FDReader? { requestSent ? process.answer : nil }
    private var responseCompression = Compression.none
    private var switched = false

    /// The pod said that the rest of its answer is compressed: reads it through the
    /// decompressor from here on. False when that cannot be (no response compression
    /// was asked for, or the switch came already).
    func decompressRest() throws -> Bool {
        guard let tool = responseCompression.decompressor, requestSent, !switched else { return false }
        switched = true
        return try process.decompressAnswer(with: tool)
    }

    /// Ends the call when no transfer is wanted (a dry run, nothing to do).
    func endWithoutTransfer() {
        _ = try? process.write(Data("CCPOD-ART-REQ \(ArtifactsScript.protocolVersion) none none\nEND\n".utf8))
        process.closeInput()
        // The agent answers `END ok`; a pod that goes on talking is stopped (one that goes silent, by the watchdog).
        var lines = 0
        while (try? process.answer.readLine(limit: 1 << 16)) != nil {
            lines += 1
            if lines > 64 { abort(); break }
        }
        finish()
    }

    /// Stops the call at once (Ctrl-C, an invalid answer): every read and write waiting
    /// on it ends, the pod side gets SIGTERM.
    func abort() {
        process.cancel()
    }

    /// Waits for every process and thread of the call; returns the exit status.
    @discardableResult
    func finish() -> Int32 {
        process.finish().status
    }

    /// Ends the call if it is still running (an error before the request was sent).
    func stop() {
        abort()
        finish()
    }

    /// The error to report for a call that failed: ccpod's own refusal of the answer
    /// (it then stopped the process); the pod's silence; ssh's own failure explained
    /// when there is one; else what went wrong.
    func explained(_ error: Error) -> Error {
        let outcome = process.finish()
        if let rejection = error as? ArtifactRejection { return rejection.error }
        if outcome.stopped == .stalled { return process.stallError() }
        // ccpod refused what it read while the answer still ran (an overlong line, bytes
        // that do not decode): that is the reason, not how ssh ended once it was stopped.
        if let refused = error as? CCPodError, refused.status == .badData, !process.answer.reachedEnd, !process.output.reachedEnd {
            return refused
        }
        if let ssh = connection.explainFailure(status: outcome.status, stderr: outcome.stderr) { return ssh }
        if error is NoValidAnswer { return failure(outcome.stderr) }
        if error is PodWatchdog.Stopped {
            return CCPodError.failure("\(process.options.activity) from \(pod) was stopped; \(process.options.afterStop); run the command again to finish")
        }
        return error
    }

    private func failure(_ stderr: String) -> CCPodError {
        let lines = stderr.split(separator: "\n").map(String.init)
        let text = TerminalText.escape(lines.suffix(2).joined(separator: " / "))
        return CCPodError.badData("the artifacts agent on \(pod) gave no valid answer\(text.isEmpty ? "" : ": \(text)"); run `ccpod check`")
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
}
