import Crypto
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
                }
            }
            return (states, data, warnings)
        }
    }

    /// Runs the exchange. Data records are written under `scratch` (a folder the caller removes).
    public func run(_ request: AgentRequest, scratch: URL) throws -> Answer {
        let command = AgentScript.remoteCommand(requestCompression: requestCompression, compressedScript: compressedScript,
                                                cache: scriptCache)
        let (arguments, environment) = try connection.invocation(remoteCommand: command)
        guard let executable = arguments.first else { throw CCPodError.failure("empty command for \(connection.displayName)") }

        let toRemote = try Pipe2()
        let fromRemote = try Pipe2()
        toRemote.enlarge()
        fromRemote.enlarge()
        let remoteErr = try Pipe2()
        var compressor: ChildProcess?
        var requestWrite = toRemote.write
        var compressorInput: Pipe2?
        if let tool = requestCompression.compressor {
            let input = try Pipe2()
            input.enlarge()
            compressor = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()), stdin: .fd(input.read), stdout: .fd(toRemote.write), stderr: .null)
            input.closeRead()
            requestWrite = input.write
            compressorInput = input
        }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable, Array(arguments.dropFirst()), environment: environment,
                                           stdin: .fd(toRemote.read), stdout: .fd(fromRemote.write), stderr: .fd(remoteErr.write))
        } catch {
            toRemote.closeBoth(); fromRemote.closeBoth(); remoteErr.closeBoth()
            compressorInput?.closeWrite()
            throw error
        }
        toRemote.closeRead(); fromRemote.closeWrite(); remoteErr.closeWrite()
        if compressor != nil { toRemote.closeWrite() }

        // stderr is collected on its own thread (bounded), the request written on another.
        let stderrText = Locked(Data())
        let stderrDone = DispatchSemaphore(value: 0)
        let errFD = remoteErr.read
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc_read(errFD, $0.baseAddress!, $0.count) }
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                stderrText.withLock { if $0.count < 65536 { $0.append(contentsOf: buffer[0..<n]) } }
            }
            close(errFD)
            stderrDone.signal()
        }
        let writeError = Locked<CCPodError?>(nil)
        let sent = Locked<[String: Answer.Sent]>([:])
        let writeDone = DispatchSemaphore(value: 0)
        let writeFD = requestWrite
        let progress = self.progress
        let payloads = request.files.compactMap(\.payload)
        progress?.expect(files: payloads.count, bytes: payloads.reduce(0) { $0 + $1.length })
        Thread.detachNewThread {
            do {
                let digests = try RequestWriter.write(request, to: writeFD, progress: progress)
                sent.withLock { $0 = digests }
            } catch let error as CCPodError {
                writeError.withLock { $0 = error }
            } catch {
                writeError.withLock { $0 = CCPodError.io("\(error)") }
            }
            close(writeFD)
            writeDone.signal()
        }

        var decompressor: ChildProcess?
        var answer: Answer?
        var parseError: Error?
        let reader = FDReader(fd: fromRemote.read)
        do {
            let header = try reader.readLine(limit: 4096)
            let parts = header.map { String(decoding: $0, as: UTF8.self).split(separator: " ") }
            guard let parts, parts.count == 3, parts[0] == "CCPOD-AGENT" else {
                throw AgentAnswerError.notAnAgent
            }
            guard parts[1] == String(AgentScript.protocolVersion) else {
                throw CCPodError.badData("the agent on \(connection.displayName) speaks protocol \(parts[1]), this ccpod speaks \(AgentScript.protocolVersion); use the same ccpod version")
            }
            if parts[2].hasPrefix("no-") {
                throw RequestCompressionRefused(compression: String(parts[2].dropFirst(3)))
            }
            guard let compression = Compression(rawValue: String(parts[2])) else { throw AgentAnswerError.notAnAgent }
            var recordReader = reader
            if let tool = compression.decompressor {
                let out = try Pipe2()
                out.enlarge()
                // The decompressor reads the rest of the stream straight from the pipe.
                let pending = reader.takeBuffered()
                if pending.isEmpty {
                    decompressor = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()), stdin: .fd(fromRemote.read), stdout: .fd(out.write), stderr: .null)
                } else {
                    decompressor = try Self.spawnWithPrefix(tool, prefix: pending, rest: fromRemote.read, output: out.write)
                }
                out.closeWrite()
                recordReader = FDReader(fd: out.read)
            }
            let records = try Self.readRecords(recordReader, scratch: scratch, pod: connection.displayName, progress: progress)
            answer = Answer(records: records, responseCompression: compression)
            if recordReader.fd != fromRemote.read { close(recordReader.fd) }
        } catch {
            parseError = error
            child.signal(SIGTERM)
            decompressor?.signal(SIGTERM)
        }
        close(fromRemote.read)
        let status = child.wait()
        decompressor?.wait()
        compressor?.wait()
        writeDone.wait()
        stderrDone.wait()
        let errText = String(decoding: stderrText.current, as: UTF8.self)
        if var answer, parseError == nil {
            if let error = writeError.current { throw error }
            answer.sent = sent.current
            return answer
        }
        if let refused = parseError as? RequestCompressionRefused { throw refused }
        if let explained = connection.explainFailure(status: status, stderr: errText) { throw explained }
        if let error = parseError as? CCPodError { throw error }
        let detail = errText.split(separator: "\n").suffix(3).joined(separator: " / ")
        throw CCPodError.badData("the agent on \(connection.displayName) gave an incomplete or invalid answer (exit \(status))\(detail.isEmpty ? "" : ": \(detail)"); nothing was changed here; run `ccpod check`")
    }

    enum AgentAnswerError: Error { case notAnAgent }

    /// The pod cannot decompress the request (it lacks the tool); send it again plainly.
    public struct RequestCompressionRefused: Error, Sendable {
        public var compression: String
    }

    /// A decompressor fed first with bytes already read, then with the rest of the pipe.
    static func spawnWithPrefix(_ tool: [String], prefix: Data, rest: Int32, output: Int32) throws -> ChildProcess {
        let feed = try Pipe2()
        let child = try ChildProcess.spawn(tool[0], Array(tool.dropFirst()), stdin: .fd(feed.read), stdout: .fd(output), stderr: .null)
        feed.closeRead()
        let writeFD = feed.write
        Thread.detachNewThread {
            _ = try? FileDescriptorIO.writeAll(writeFD, prefix, path: "decompressor")
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc_read(rest, $0.baseAddress!, $0.count) }
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                let ok = (try? buffer.withUnsafeBytes { try FileDescriptorIO.writeAll(writeFD, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: "decompressor") }) != nil
                if !ok { break }
            }
            close(writeFD)
        }
        return child
    }

    static func readRecords(_ reader: FDReader, scratch: URL, pod: String, progress: TransferProgress? = nil) throws -> [AgentRecord] {
        var records: [AgentRecord] = []
        var dataCount = 0
        func bad(_ why: String) -> CCPodError {
            CCPodError.badData("the agent on \(pod) sent an invalid answer (\(why)); nothing was changed here")
        }
        struct DataHeader {
            var offset: Int64
            var length: Int64
            var sha256: String
            var path: String
        }
        func dataHeader(_ fields: [String]) throws -> DataHeader {
            guard fields.count == 5, fields[0] == "D", let offset = Int64(fields[1]), let length = Int64(fields[2]),
                  offset >= 0, length >= 0, Self.isHex64(fields[3]) else { throw bad("a malformed data record") }
            let path = fields[4]
            guard PodPathCheck.isSafeRelative(path) else { throw bad("an unsafe path \(path.debugDescription)") }
            return DataHeader(offset: offset, length: length, sha256: fields[3], path: path)
        }
        func receive(_ header: DataHeader) throws {
            dataCount += 1
            let target = scratch.appendingPathComponent("data-\(dataCount)")
            progress?.expect(files: 1, bytes: header.length)
            let (digest, lines) = try reader.copy(header.length, toFile: target.path, progress: progress)
            progress?.fileDone()
            guard digest == header.sha256 else {
                throw bad("\(header.path) changed on the pod while it was read, or the data was damaged; run the command again")
            }
            records.append(.data(path: header.path, offset: header.offset, length: header.length, file: target.path,
                                 sha256: digest, lines: lines))
        }
        while true {
            guard let lineBytes = try reader.readLine(limit: 64 * 1024) else { throw bad("it ended early") }
            let fields = lineBytes.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            switch fields.first {
            case "END":
                guard fields.count == 2, fields[1] == "ok" else {
                    let said = records.compactMap { if case .warning(let w) = $0 { return w } else { return nil } }
                    throw CCPodError.badData("the agent on \(pod) stopped: \(said.isEmpty ? fields.dropFirst().joined(separator: " ") : said.joined(separator: "; ")); nothing was changed here")
                }
                return records
            case "W":
                records.append(.warning(fields.dropFirst().joined(separator: " ")))
            case "S":
                guard fields.count == 7, let kind = AgentRecord.FileState.Kind(rawValue: fields[1]) else { throw bad("a malformed state record") }
                let path = fields[6]
                guard PodPathCheck.isSafeRelative(path) else { throw bad("an unsafe path \(path.debugDescription)") }
                var stat: PodStat?
                if let size = Int64(fields[2]), size >= 0 { stat = PodStat(size: size, mtime: fields[3]) }
                let sha = fields[5] == "-" ? nil : fields[5]
                if let sha, !Self.isHex64(sha) { throw bad("a malformed hash") }
                records.append(.state(.init(kind: kind, path: path, stat: stat, lines: Int(fields[4]) ?? 0, sha256: sha)))
            case "D":
                let header = try dataHeader(fields)
                try receive(header)
            case "E":
                // A batch: its data records first, then all their bytes back to back.
                guard fields.count == 3, let count = Int(fields[1]), let total = Int64(fields[2]), count >= 0, total >= 0 else {
                    throw bad("a malformed data batch")
                }
                var headers: [DataHeader] = []
                var sum: Int64 = 0
                for _ in 0..<count {
                    guard let line = try reader.readLine(limit: 64 * 1024) else { throw bad("it ended early") }
                    let header = try dataHeader(line.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) })
                    sum += header.length
                    headers.append(header)
                }
                guard sum == total else { throw bad("a data batch whose sizes do not add up") }
                for header in headers { try receive(header) }
            default:
                throw bad("an unknown record")
            }
        }
    }

    static func isHex64(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}

/// Writes a request: the options, then every file record in one block (`B`), then
/// the payloads of the records that have one, in order, back to back, except those of
/// new files (`P`): these follow as one tar archive (`T`), unpacked by one process,
/// and then their SHA-256 digests (`H`), computed as they are sent (so a first push
/// streams at once instead of reading every file beforehand).
enum RequestWriter {
    typealias Sent = AgentExchange.Answer.Sent

    /// Writes `request` to `fd`; returns what was sent of each new file, by pod path.
    @discardableResult
    static func write(_ request: AgentRequest, to fd: Int32, progress: TransferProgress? = nil) throws -> [String: Sent] {
        var head = "CCPOD-REQ \(AgentScript.protocolVersion)\n"
        func option(_ key: String, _ value: String) { head += "O\t\(key)\t\(value)\n" }
        option("root", request.rootPrefix)
        option("claude", request.paths.claudeDir)
        option("state", request.paths.persistentDir + "/.ccpod")
        option("mode", request.mode.rawValue)
        option("busy", String(request.busySeconds))
        option("accept", request.accept.map(\.rawValue).joined(separator: ","))
        // This run's stage folders on the pod, named here because the archive names them.
        let stage = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        option("stage", stage)
        for dir in request.scope { head += "S\t\(dir)\n" }
        if !request.sessionIds.isEmpty {
            let ids = request.sessionIds.map { $0 + "\n" }.joined()
            head += "I\t\(ids.utf8.count)\n" + ids
        }
        var block = Data()
        for file in request.files {
            let seenSize = file.seen.map { String($0.size) } ?? "-"
            let seenMtime = file.seen?.mtime ?? "-"
            let ancSize = file.ancestor.map { String($0.size) } ?? "-"
            let ancSha = file.ancestor?.sha256 ?? "-"
            let length = file.payload?.length ?? 0
            // A new file's digest follows its bytes (H).
            let sha = file.operation == .put && file.payload != nil ? "-" : file.payload?.sha256 ?? "-"
            block.append(contentsOf: "K\t\(seenSize)\t\(seenMtime)\t\(ancSize)\t\(ancSha)\t\(file.operation.rawValue)\t\(length)\t\(sha)\t\(file.path)\n".utf8)
        }
        var pending = Data(head.utf8)
        pending.append(contentsOf: "B\t\(block.count)\n".utf8)
        pending.append(block)
        // Payload bytes and files waiting in `pending`, counted once they are written.
        var pendingBytes = 0
        var pendingFiles = 0
        func flush() throws {
            try FileDescriptorIO.writeAll(fd, pending, path: "the pod")
            pending.removeAll(keepingCapacity: true)
            if pendingBytes > 0 { progress?.moved(pendingBytes) }
            for _ in 0..<pendingFiles { progress?.fileDone() }
            pendingBytes = 0
            pendingFiles = 0
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        /// Sends a payload; with `hasher`, also hashes it and counts its newlines.
        var lastByte: UInt8 = 0
        func send(_ payload: AgentFileRequest.Payload, hasher: inout SHA256?, lines: inout Int) throws {
            func seen(_ bytes: UnsafeRawBufferPointer) {
                guard hasher != nil else { return }
                hasher!.update(bufferPointer: bytes)
                lines += SHA256Hex.newlines(in: bytes)
                if let last = bytes.last { lastByte = last }
            }
            if let data = payload.data {
                data.withUnsafeBytes { seen($0) }
                pending.append(data)
                pendingBytes += data.count
                pendingFiles += 1
                if pending.count > 1 << 16 { try flush() }
                return
            }
            guard let path = payload.file else { return }
            // Small files ride along in `pending`; large ones go straight from a big buffer.
            let input = open(path, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
            defer { close(input) }
            if lseek(input, off_t(payload.offset), SEEK_SET) < 0 { throw CCPodError.io("cannot read \(path)") }
            var remaining = payload.length
            if remaining <= 1 << 16 {
                let n = try FileDescriptorIO.read(input, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(remaining)]), path: path)
                guard Int64(n) == remaining else { throw CCPodError.io("\(path) became shorter while it was sent; run the command again") }
                seen(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                pendingBytes += n
                pendingFiles += 1
                if pending.count > 1 << 16 { try flush() }
                return
            }
            try flush()
            while remaining > 0 {
                let want = Int(min(Int64(buffer.count), remaining))
                let n = try FileDescriptorIO.read(input, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), path: path)
                guard n > 0 else { throw CCPodError.io("\(path) became shorter while it was sent; run the command again") }
                seen(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                try FileDescriptorIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: "the pod")
                remaining -= Int64(n)
                progress?.moved(n)
            }
            progress?.fileDone()
        }
        var news: [(path: String, member: TarArchive.Member, payload: AgentFileRequest.Payload)] = []
        var none: SHA256?
        var ignored = 0
        for file in request.files {
            // Every new file is in the archive, an empty one too (its member makes it).
            guard let payload = file.payload, payload.length > 0 || file.operation == .put else { continue }
            if file.operation == .put {
                news.append((file.path, TarArchive.Member(name: stagedName(file.path, stage: stage), size: payload.length), payload))
            } else {
                try send(payload, hasher: &none, lines: &ignored)
            }
        }
        var sent: [String: Sent] = [:]
        if !news.isEmpty {
            let length = TarArchive.length(of: news.map(\.member))
            pending.append(contentsOf: "T\t\(length)\n".utf8)
            var written: Int64 = 0
            var digests = ""
            for (path, member, payload) in news {
                let header = TarArchive.header(for: member)
                pending.append(header)
                var hasher: SHA256? = SHA256()
                var lines = 0
                try send(payload, hasher: &hasher, lines: &lines)
                // A transcript planned without a hash is sent up to its last newline; bytes
                // that no longer end with one were rewritten since: the request stops (the
                // pod sees it cut short and places nothing).
                if payload.sha256.isEmpty && path.hasSuffix(".jsonl") && member.size > 0 && lastByte != 0x0A {
                    throw CCPodError.io("\(path) changed while it was sent; run the command again")
                }
                let digest = SHA256Hex.hex(hasher!.finalize())
                sent[path] = Sent(sha256: digest, lines: lines)
                digests += digest + "\n"
                pending.append(Data(count: TarArchive.padding(after: member.size)))
                written += Int64(header.count) + member.size + Int64(TarArchive.padding(after: member.size))
                if pending.count > 1 << 16 { try flush() }
            }
            pending.append(Data(count: Int(length - written)))
            pending.append(contentsOf: "H\t\(digests.utf8.count)\n\(digests)".utf8)
        }
        pending.append(contentsOf: "END\n".utf8)
        try flush()
        return sent
    }

    /// Where a new file waits on the pod until it is verified and flushed: under the
    /// stage folder in the first folder of its path (the agent's `stage_path`).
    static func stagedName(_ path: String, stage: String) -> String {
        guard let slash = path.firstIndex(of: "/") else { return ".ccpod-\(stage).ccpod-stage/\(path)" }
        return "\(path[..<slash])/.ccpod-\(stage).ccpod-stage/\(path[path.index(after: slash)...])"
    }
}

/// A buffered reader over a file descriptor that can hand out lines and exact byte counts.
final class FDReader: @unchecked Sendable {
    let fd: Int32
    private var buffer = [UInt8]()
    private var start = 0

    init(fd: Int32) { self.fd = fd }

    /// Bytes read ahead but not consumed (handed to the next reader of the stream).
    func takeBuffered() -> Data {
        let rest = Data(buffer[start...])
        buffer.removeAll()
        start = 0
        return rest
    }

    private func fill() throws -> Bool {
        if start > 0 { buffer.removeSubrange(0..<start); start = 0 }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc_read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw CCPodError.io("cannot read the pod's answer: \(String(cString: strerror(errno)))") }
            if n == 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    /// Reads one line without its newline; nil at end of stream.
    func readLine(limit: Int) throws -> [UInt8]? {
        var searched = 0
        while true {
            if let nl = buffer[(start + searched)...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<nl])
                start = nl + 1
                return line
            }
            searched = buffer.count - start
            if buffer.count - start > limit { throw CCPodError.badData("the pod's answer has an overlong line") }
            if try !fill() { return nil }
        }
    }

    /// Hands exactly `remaining` bytes to `sink` in chunks and hashes them: what was read
    /// ahead first, then straight from the descriptor in large reads. `remaining` tells
    /// the caller how much was left when it throws.
    func stream(_ remaining: inout Int64, hasher: inout SHA256, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if start < buffer.count && remaining > 0 {
            let take = Int(min(Int64(buffer.count - start), remaining))
            try buffer[start..<(start + take)].withUnsafeBytes { raw in
                hasher.update(bufferPointer: raw)
                try sink(raw)
            }
            start += take
            remaining -= Int64(take)
        }
        guard remaining > 0 else { return }
        let size = 1 << 20
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { chunk.deallocate() }
        while remaining > 0 {
            let want = Int(min(Int64(size), remaining))
            let n = Glibc_read(fd, chunk.baseAddress!, want)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw CCPodError.io("cannot read the pod's answer: \(String(cString: strerror(errno)))") }
            if n == 0 { throw CCPodError.badData("the pod's answer ended in the middle of a file") }
            let raw = UnsafeRawBufferPointer(rebasing: chunk[0..<n])
            hasher.update(bufferPointer: raw)
            try sink(raw)
            remaining -= Int64(n)
        }
    }

    /// Copies exactly `count` bytes to a new file and returns their SHA-256 and newline count.
    func copy(_ count: Int64, toFile path: String, progress: TransferProgress? = nil) throws -> (sha256: String, lines: Int) {
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw CCPodError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var hasher = SHA256()
        var lines = 0
        var remaining = count
        // Written out to disk as it arrives, so flushing it later finds little to do.
        var behind = WriteBehind(fd: out, offset: 0)
        while remaining > 0 {
            if start == buffer.count {
                if try !fill() { throw CCPodError.badData("the pod's answer ended in the middle of a file") }
            }
            let take = Int(min(Int64(buffer.count - start), remaining))
            try buffer[start..<(start + take)].withUnsafeBytes { raw in
                hasher.update(bufferPointer: raw)
                lines += SHA256Hex.newlines(in: raw)
                try FileDescriptorIO.writeAll(out, raw, path: path)
            }
            behind.wrote(take)
            start += take
            remaining -= Int64(take)
            progress?.moved(take)
        }
        behind.finish()
        return (SHA256Hex.hex(hasher.finalize()), lines)
    }
}
