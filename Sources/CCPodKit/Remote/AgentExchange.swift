import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One call of the pod-side agent: one process (one `ssh` exec), the request
/// streamed to its stdin, the answer read and verified from its stdout.
///
/// Data records land in temporary files and are checked against their SHA-256;
/// the caller applies nothing until the whole answer arrived and ended well, so
/// a cut connection or a garbled answer writes nothing.
public struct AgentExchange: Sendable {
    public let connection: any PodConnection
    /// How the request is compressed (only what the pod is known to have).
    public var requestCompression: Compression
    /// Send the agent script gzipped in the command line.
    public var compressedScript: Bool
    /// Told about every payload and data byte as it crosses the stream.
    public var progress: TransferProgress?
    /// Keeps the packed script between runs.
    public var scriptCache: DerivedValueCache?

    public init(connection: any PodConnection, requestCompression: Compression = .none, compressedScript: Bool = true,
                progress: TransferProgress? = nil, scriptCache: DerivedValueCache? = nil) {
        self.connection = connection
        self.requestCompression = requestCompression
        self.compressedScript = compressedScript
        self.progress = progress
        self.scriptCache = scriptCache
    }

    /// The answer: records in order, and the compression the agent chose.
    public struct Answer: Sendable {
        public var records: [AgentRecord]
        public var responseCompression: Compression
        /// What was sent of each new file (hashed as it went), by pod path.
        public var sent: [String: Sent] = [:]
        /// Warnings beyond the first 100, counted and left out.
        public var warningsLeftOut = 0

        /// A new file's bytes as they were sent: their SHA-256 and newline count.
        public struct Sent: Sendable, Equatable {
            public var sha256: String
            public var lines: Int
        }

        /// Where data for a pod path landed.
        public struct DataFile: Sendable {
            public var offset: Int64
            public var length: Int64
            public var file: String
            /// SHA-256 of the `length` bytes, checked when they arrived, and their newlines.
            public var sha256: String = ""
            public var lines: Int = 0
        }

        /// The records by pod path (states and data) and the agent's warnings.
        public var index: (states: [String: AgentRecord.FileState], data: [String: DataFile], warnings: [String]) {
            var states: [String: AgentRecord.FileState] = [:]
            var data: [String: DataFile] = [:]
            var warnings: [String] = []
            for record in records {
                switch record {
                case .state(let s): states[s.path] = s
                case .data(let path, let offset, let length, let file, let sha256, let lines):
                    data[path] = DataFile(offset: offset, length: length, file: file, sha256: sha256, lines: lines)
                case .warning(let w): warnings.append("pod: \(w)")
                case .session: break
                }
            }
            if warningsLeftOut > 0 { warnings.append("pod: … and \(warningsLeftOut) more warnings") }
            return (states, data, warnings)
        }
    }

    /// Runs the exchange. Data records are written under `scratch` (a folder the caller removes).
    ///
    /// What the user reads when it fails: the pod's silence (`PodProcess.stallError`);
    /// a request ccpod could not send (a local file that changed meanwhile); an answer
    /// ccpod refused, or the agent's own failure, escaped (exit 65); the connection's own
    /// failure (`explainFailure`) only when the answer was cut or never began.
    public func run(_ request: AgentRequest, scratch: URL) throws -> Answer {
        try start(mode: request.mode).run(request, scratch: scratch)
    }

    /// Starts the agent before the request is known: the connection's round trips and
    /// the pod's start-up then overlap with the local work that builds the request.
    /// Call `run` or `cancel` on what it returns.
    public func start(mode: AgentRequest.Mode) throws -> Started {
        let command = AgentScript.remoteCommand(requestCompression: requestCompression, compressedScript: compressedScript,
                                                cache: scriptCache)
        let process = try PodProcess(connection: connection, command: command,
                                     options: .init(activity: Self.activity(mode), input: .pipe))
        return Started(exchange: self, process: process)
    }

    /// An agent already running on the pod, waiting for its request.
    public final class Started: @unchecked Sendable {
        let exchange: AgentExchange
        let process: PodProcess
        private var used = false

        init(exchange: AgentExchange, process: PodProcess) {
            self.exchange = exchange
            self.process = process
        }

        /// Ends the agent unasked (the request could not be built): nothing was sent.
        public func cancel() {
            guard !used else { return }
            used = true
            process.cancel()
            process.finish()
        }

        public func run(_ request: AgentRequest, scratch: URL) throws -> Answer {
            precondition(!used, "an agent exchange runs once")
            used = true
            return try exchange.run(request, scratch: scratch, process: process)
        }
    }

    private func run(_ request: AgentRequest, scratch: URL, process: PodProcess) throws -> Answer {
        let pod = connection.displayName
        // The compressor, now that the request's size is known: a small one of new lines
        // denser from its first byte, others at the fast level, moved on when the link holds them back.
        do {
            if let tool = requestCompression.firstRequestStep(for: request) { try process.compressInput(with: tool, steps: requestCompression.denserSteps) }
        } catch {
            process.cancel()
            process.finish()
            throw error
        }
        let sent = Locked<[String: Answer.Sent]>([:])
        let progress = self.progress
        let payloads = request.files.compactMap(\.payload)
        progress?.expect(files: payloads.count, bytes: payloads.reduce(0) { $0 + $1.length })
        process.startWriter { input in
            let digests = try RequestWriter.write(request, to: input, progress: progress)
            sent.withLock { $0 = digests }
        }

        var answer: Answer?
        var parseError: Error?
        // The agent answered with its header: what it says from here on is its own.
        var agentSpoke = false
        // Something other than the agent answered (a login banner, a shell's greeting):
        // that, not the connection, is what the user reads.
        var otherAnswer = false
        do {
            let header: [UInt8]?
            do {
                header = try process.answer.readLine(limit: 4096)
            } catch let error as CCPodError where error.status == .badData {
                otherAnswer = true
                throw CCPodError.badData("the pod \(pod) answered with a line over 4 KiB where ccpod's agent starts; nothing was changed here; run `ccpod check --pod \(pod)`")
            }
            guard let header else { throw AgentAnswerError.notAnAgent }
            let parts = String(decoding: header, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "CCPOD-AGENT" else {
                otherAnswer = true
                let said = TerminalText.escape(String(String(decoding: header, as: UTF8.self).prefix(80)))
                throw CCPodError.badData("the pod \(pod) answered with \"\(said)\" instead of ccpod's agent (a login banner or a shell startup file that prints?); nothing was changed here; run `ccpod check --pod \(pod)`")
            }
            agentSpoke = true
            guard parts[1] == String(AgentScript.protocolVersion) else {
                throw CCPodError.badData("the agent on \(pod) speaks protocol \(TerminalText.escape(String(parts[1].prefix(20)))), this ccpod speaks \(AgentScript.protocolVersion); use the same ccpod version")
            }
            if parts[2].hasPrefix("no-") {
                throw RequestCompressionRefused(compression: String(parts[2].dropFirst(3)))
            }
            guard let compression = Compression(rawValue: String(parts[2])) else {
                throw CCPodError.badData("the agent on \(pod) answers in an unknown compression \(TerminalText.escape(String(parts[2].prefix(20)))); nothing was changed here")
            }
            if let tool = compression.decompressor { try process.decompressAnswer(with: tool) }
            let reader = AgentAnswerReader(reader: process.answer, scratch: scratch, pod: pod, progress: progress,
                                           limits: .init(asked: request.files.count))
            let result = try reader.read()
            answer = Answer(records: result.records, responseCompression: compression, warningsLeftOut: result.warningsLeftOut)
        } catch {
            parseError = error
            process.cancel()
        }
        if var answer, parseError == nil {
            // The answer is whole (END ok): ccpod goes on while the pod cleans up.
            if let writeError = process.finishInBackground() { throw writeError }
            answer.sent = sent.current
            return answer
        }
        let cut = process.output.reachedEnd || process.answer.reachedEnd
        let outcome = process.finish()
        let writeError = process.writeError.current
        if outcome.stopped == .stalled { throw process.stallError() }
        if let refused = parseError as? RequestCompressionRefused { throw refused }
        // A request ccpod could not finish (not the pod going away under it) is the reason.
        if let local = writeError as? CCPodError, local.status == .ioError, !local.message.hasPrefix("cannot write to the pod") {
            throw local
        }
        if (agentSpoke && !cut) || otherAnswer, let rejected = parseError as? CCPodError { throw rejected }
        if let explained = connection.explainFailure(status: outcome.status, stderr: outcome.stderr) { throw explained }
        if agentSpoke, let error = parseError as? CCPodError { throw error }
        let detail = TerminalText.escape(outcome.stderr.split(separator: "\n").suffix(3).joined(separator: " / "))
        throw CCPodError.badData("the agent on \(pod) gave an incomplete or invalid answer (exit \(outcome.status))\(detail.isEmpty ? "" : ": \(detail)"); nothing was changed here; run `ccpod check`")
    }

    static func activity(_ mode: AgentRequest.Mode) -> String {
        switch mode {
        case .push: return "pushing"
        case .pull: return "pulling"
        case .sync: return "syncing"
        case .status: return "comparing"
        }
    }

    enum AgentAnswerError: Error { case notAnAgent }

    /// The pod cannot decompress the request (it lacks the tool); send it again plainly.
    public struct RequestCompressionRefused: Error, Sendable {
        public var compression: String
    }

    /// A decompressor fed first with bytes already read, then with the rest of the pipe.
    static func spawnWithPrefix(_ tool: [String], prefix: Data, rest: Int32, output: Int32) throws -> ChildProcess {
        try PodProcess.spawnWithPrefix(tool, prefix: prefix, rest: rest, output: output)
    }

    /// The records of an answer read from `reader` (after its header), checked as
    /// `AgentAnswerReader` does for a request that asked about no files.
    static func readRecords(_ reader: FDReader, scratch: URL, pod: String, progress: TransferProgress? = nil) throws -> [AgentRecord] {
        try AgentAnswerReader(reader: reader, scratch: scratch, pod: pod, progress: progress, limits: .init(asked: 0)).read().records
    }

    static func isHex64(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}
