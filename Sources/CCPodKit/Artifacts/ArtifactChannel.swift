import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The pod-side artifacts script (Artifacts/artifacts.sh), sent in the command line.
public enum ArtifactsScript {
    public static let protocolVersion = 2

    /// The command that lists `runDir`'s `tops` at once and then serves one transfer request.
    public static func remoteCommand(rootPrefix: String, runDir: String, tops: [String]) -> String {
        InlineScript.command(PackageResources.artifacts_sh, name: "ccpod-artifacts",
                             arguments: [String(protocolVersion), rootPrefix, runDir] + tops)
    }
}

/// What the pod said about the run directory before anything moved (not the CLI's list of pods).
public struct RunListing: Sendable {
    public struct File: Sendable, Equatable {
        public var path: String
        public var stat: PodStat
    }

    public var runExists: Bool
    public var freeBytes: Int64?
    public var files: [String: File] = [:]
    /// Symbolic links (never followed) and whether they point inside the run dir.
    public var links: [(path: String, inside: Bool)] = []
    public var warnings: [String] = []
    /// What the pod can compress with.
    public var tools: [Compression] = []

    /// Parses the listing text; a line that does not parse, or a path that could
    /// leave the destination, rejects the whole answer.
    static func parse(_ data: Data, tools: [Compression], pod: String) throws -> RunListing {
        var listing = RunListing(runExists: false, tools: tools)
        func bad(_ why: String) -> CCPodError {
            CCPodError.badData("the pod \(pod) sent an invalid listing (\(why)); nothing was changed here")
        }
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) {
            let fields = line.split(separator: 0x09, maxSplits: 3, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            switch fields[0] {
            case "R":
                guard fields.count == 2 else { throw bad("a malformed run record") }
                listing.runExists = fields[1] == "ok"
            case "X":
                guard fields.count == 2 else { throw bad("a malformed free-space record") }
                listing.freeBytes = Int64(fields[1])
            case "F":
                guard fields.count == 4, let size = Int64(fields[1]), size >= 0 else { throw bad("a malformed file record") }
                guard PodPathCheck.isSafeRelative(fields[3]) else { throw bad("an unsafe path \(fields[3].debugDescription)") }
                listing.files[fields[3]] = File(path: fields[3], stat: PodStat(size: size, mtime: fields[2]))
            case "L":
                guard fields.count == 3, PodPathCheck.isSafeRelative(fields[2]) else { throw bad("a malformed link record") }
                listing.links.append((fields[2], fields[1] == "inside"))
            case "W":
                listing.warnings.append(fields.dropFirst().joined(separator: " "))
            default:
                throw bad("an unknown record")
            }
        }
        return listing
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
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc_read(errFD, $0.baseAddress!, $0.count) }
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                text.withLock { if $0.count < 65536 { $0.append(contentsOf: buffer[0..<n]) } }
            }
            close(errFD)
            done.signal()
        }
    }

    /// Reads the header and the listing (phase 1).
    func readListing() throws -> RunListing {
        do {
            guard let header = try reader.readLine(limit: 4096) else { throw failure() }
            let parts = String(decoding: header, as: UTF8.self).split(separator: " ").map(String.init)
            guard parts.count == 3, parts[0] == "CCPOD-ART" else { throw failure() }
            if parts[2] == "failed" {
                let why = try reader.readLine(limit: 4096).map { String(decoding: $0, as: UTF8.self) } ?? "no reason given"
                throw CCPodError.unavailable("the artifacts agent on \(connection.displayName) stopped: \(why)")
            }
            guard parts[1] == String(ArtifactsScript.protocolVersion) else {
                throw CCPodError.badData("the artifacts agent on \(connection.displayName) speaks protocol \(parts[1]), this ccpod speaks \(ArtifactsScript.protocolVersion)")
            }
            let tools = parts[2].split(separator: ",").compactMap { Compression(rawValue: String($0)) }
            guard let listLine = try reader.readLine(limit: 4096) else { throw failure() }
            let listParts = String(decoding: listLine, as: UTF8.self).split(separator: " ").map(String.init)
            guard listParts.count == 3, listParts[0] == "LIST", let compression = Compression(rawValue: listParts[1]),
                  let count = Int(listParts[2]), count >= 0, count < 1 << 30 else { throw failure() }
            var blob = try reader.readData(count)
            if let tool = compression.decompressor {
                let out = try ChildProcess.run(tool[0], Array(tool.dropFirst()), input: blob)
                guard out.status == 0 else { throw CCPodError.badData("the listing from \(connection.displayName) could not be decompressed") }
                blob = out.stdout
            }
            return try RunListing.parse(blob, tools: tools, pod: connection.displayName)
        } catch {
            abort()
            throw explained(error)
        }
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
        while (try? reader.readLine(limit: 1 << 16)) != nil {}
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

    /// The error to report for a call that failed: ssh's own failure explained when there is one.
    func explained(_ error: Error) -> Error {
        let status = finish()
        let text = String(decoding: stderrText.current, as: UTF8.self)
        if let ssh = connection.explainFailure(status: status, stderr: text) { return ssh }
        return error
    }

    private func failure() -> CCPodError {
        let text = String(decoding: stderrText.current, as: UTF8.self).split(separator: "\n").suffix(2).joined(separator: " / ")
        return CCPodError.badData("the artifacts agent on \(connection.displayName) gave no valid answer\(text.isEmpty ? "" : ": \(text)"); run `ccpod check`")
    }
}

extension FDReader {
    /// Reads exactly `count` bytes into memory (small things only: a listing).
    func readData(_ count: Int) throws -> Data {
        var data = Data()
        data.reserveCapacity(count)
        var hasher = SHA256()
        var remaining = Int64(count)
        try stream(&remaining, hasher: &hasher) { data.append(contentsOf: $0) }
        return data
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
