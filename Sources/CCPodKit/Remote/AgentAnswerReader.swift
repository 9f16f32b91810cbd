import Foundation

/// Reads the agent's answer records (after its header line; see agent.sh for the
/// format) and checks every one before ccpod keeps it: paths safe and at most 4096
/// bytes, every number from the wire within bounds (sizes, offsets, counts; sums
/// without overflow), lines at most 64 KiB, and no more records than the request can
/// explain. Data lands in files under `scratch`, checked against its SHA-256.
/// Any refusal names the pod and the record.
struct AgentAnswerReader {
    let reader: FDReader
    let scratch: URL
    let pod: String
    var progress: TransferProgress?
    var limits: Limits

    /// How much of an answer ccpod takes.
    struct Limits: Sendable {
        /// Warnings kept; the rest are counted.
        var warnings = 100
        /// Warnings at all: an honest agent says a few per file at most, so an answer
        /// that goes on past this is a pod talking without end, refused.
        var warningsInAll = 10_000
        /// State and data records together (memory grows with them: about 300 bytes each).
        var records: Int
        static let lineLength = 64 * 1024
        static let pathLength = 4096
        /// Larger than any file: a size or offset beyond it is refused.
        static let size: Int64 = 1 << 50

        /// What a request about `asked` files can bring back: a state and data for each,
        /// and up to 100,000 files only the pod has.
        init(asked: Int) {
            records = 100_000 + 2 * max(0, asked)
        }
    }

    /// The checked records, and how many warnings were left out.
    struct Result {
        var records: [AgentRecord] = []
        var warningsLeftOut = 0
    }

    private func bad(_ why: String) -> CCPodError {
        CCPodError.badData("the agent on \(pod) sent an invalid answer (\(why)); nothing was changed here")
    }

    private func field(_ text: String) -> String { "\"\(TerminalText.escape(text))\"" }

    private func line() throws -> [UInt8] {
        let bytes: [UInt8]?
        do {
            bytes = try reader.readLine(limit: Limits.lineLength)
        } catch let error as CCPodError where error.status == .badData && error.message == FDReader.overlongLine {
            throw bad("a record longer than 64 KiB")
        }
        guard let bytes else { throw bad("it ended early") }
        return bytes
    }

    private static func fields(_ line: [UInt8]) -> [String] {
        line.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    private func path(_ text: String, in record: String) throws -> String {
        guard text.utf8.count <= Limits.pathLength else { throw bad("a \(record) with a path longer than 4096 bytes") }
        guard PodPathCheck.isSafeRelative(text) else { throw bad("a \(record) with an unsafe path \(field(text))") }
        return text
    }

    /// A size, offset or count: digits only, at most `limit`.
    private func number(_ text: String, _ what: String, in record: String, limit: Int64 = Limits.size) throws -> Int64 {
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int64(text), value <= limit else {
            throw bad("a \(record) with an impossible \(what) \(field(String(text.prefix(40))))")
        }
        return value
    }

    private struct DataHeader {
        var offset: Int64
        var length: Int64
        var sha256: String
        var path: String
    }

    /// Reads records up to `END ok`.
    func read() throws -> Result {
        var result = Result()
        var kept = 0
        var warnings = 0
        var dataCount = 0
        var dataPaths = Set<String>()
        // Files of a batch whose inode did not move on the pod while they were sent (`H =`):
        // the digest computed here as their bytes arrived, for their state records.
        var confirmed: [String: String] = [:]

        func count(_ n: Int = 1) throws {
            kept += n
            if kept > limits.records {
                throw bad("more than \(limits.records) file records; the request asked about far fewer")
            }
        }
        /// `hashLater`: in a batch, the hash may be "-": its `H` record follows the batch's bytes.
        func dataHeader(_ fields: [String], hashLater: Bool = false) throws -> DataHeader {
            let record = "data record"
            guard fields.count == 5, fields[0] == "D" else { throw bad("a malformed \(record)") }
            let offset = try number(fields[1], "offset", in: record)
            let length = try number(fields[2], "length", in: record)
            guard !offset.addingReportingOverflow(length).overflow else { throw bad("a \(record) whose offset and length overflow") }
            guard AgentExchange.isHex64(fields[3]) || (hashLater && fields[3] == "-") else { throw bad("a \(record) with a malformed hash") }
            let path = try path(fields[4], in: record)
            guard dataPaths.insert(path).inserted else { throw bad("a second \(record) for \(field(path))") }
            return DataHeader(offset: offset, length: length, sha256: fields[3], path: path)
        }
        func changed(_ path: String) -> CCPodError {
            bad("\(field(path)) changed on the pod while it was read, or the data was damaged; run the command again")
        }
        /// Receives a file's bytes; returns their digest, checked now unless the hash comes later.
        @discardableResult
        func receive(_ header: DataHeader) throws -> String {
            dataCount += 1
            let target = scratch.appendingPathComponent("data-\(dataCount)")
            progress?.expect(files: 1, bytes: header.length)
            let (digest, lines) = try reader.copy(header.length, toFile: target.path, progress: progress)
            progress?.fileDone()
            guard digest == header.sha256 || header.sha256 == "-" else { throw changed(header.path) }
            result.records.append(.data(path: header.path, offset: header.offset, length: header.length, file: target.path,
                                        sha256: digest, lines: lines))
            return digest
        }

        while true {
            let fields = Self.fields(try line())
            switch fields.first {
            case "END":
                guard fields.count == 2, fields[1] == "ok" else {
                    let said = result.records.compactMap { if case .warning(let w) = $0 { return w } else { return nil } }
                    let why = said.isEmpty ? TerminalText.escape(fields.dropFirst().joined(separator: " ")) : said.joined(separator: "; ")
                    throw CCPodError.badData("the agent on \(pod) stopped: \(why); nothing was changed here")
                }
                return result
            case "W":
                if warnings < limits.warnings {
                    warnings += 1
                    result.records.append(.warning(TerminalText.escape(fields.dropFirst().joined(separator: " "))))
                } else {
                    result.warningsLeftOut += 1
                    if warnings + result.warningsLeftOut > limits.warningsInAll {
                        throw bad("more than \(limits.warningsInAll) warnings")
                    }
                }
            case "N":
                try count()
                result.records.append(.session(try sessionNote(fields)))
            case "S":
                try count()
                var fileState = try state(fields)
                if fileState.sha256 == nil, let digest = confirmed[fileState.path] { fileState.sha256 = digest }
                result.records.append(.state(fileState))
            case "D":
                try count()
                try receive(try dataHeader(fields))
            case "E":
                // A batch: its data records first, then all their bytes back to back, then an
                // `H` record for each data record whose hash was "-", in order: `H =` when the
                // file's inode (size, times, number) did not move on the pod while it was
                // sent, else `H <sha256>` of the file as it is now (`-`: gone), which must be
                // what arrived: nothing is kept unless every one holds.
                let record = "data batch"
                guard fields.count == 3 else { throw bad("a malformed \(record)") }
                let n = try number(fields[1], "count", in: record, limit: Int64(max(0, limits.records - kept)))
                let total = try number(fields[2], "total", in: record)
                try count(Int(n))
                var headers: [DataHeader] = []
                var sum: Int64 = 0
                for _ in 0..<Int(n) {
                    let header = try dataHeader(Self.fields(try line()), hashLater: true)
                    let (next, overflow) = sum.addingReportingOverflow(header.length)
                    guard !overflow, next <= total else { throw bad("a \(record) whose sizes do not add up") }
                    sum = next
                    headers.append(header)
                }
                guard sum == total else { throw bad("a \(record) whose sizes do not add up") }
                var later: [(path: String, digest: String)] = []
                for header in headers {
                    let digest = try receive(header)
                    if header.sha256 == "-" { later.append((header.path, digest)) }
                }
                for (path, digest) in later {
                    let hash = Self.fields(try line())
                    guard hash.count == 2, hash[0] == "H" else { throw bad("a \(record) without the hash of \(field(path))") }
                    if hash[1] == "=" {
                        confirmed[path] = digest
                        continue
                    }
                    guard hash[1] == digest else { throw changed(path) }
                }
            default:
                throw bad("an unknown record \(field(String((fields.first ?? "").prefix(20))))")
            }
        }
    }

    /// `N <kind> <session id> <text>` (see `SessionNote`).
    private func sessionNote(_ fields: [String]) throws -> SessionNote {
        let record = "session note"
        guard fields.count == 4 else { throw bad("a malformed \(record)") }
        guard let kind = SessionNote.Kind(rawValue: fields[1]) else {
            throw bad("a \(record) of an unknown kind \(field(String(fields[1].prefix(20))))")
        }
        guard fields[2].utf8.count == 36, UUID(uuidString: fields[2]) != nil else {
            throw bad("a \(record) with a malformed session id \(field(String(fields[2].prefix(40))))")
        }
        if kind == .live {
            guard fields[3] == "-" else { throw bad("a malformed \(record)") }
            return SessionNote(kind: kind, sessionId: fields[2].lowercased(), text: nil)
        }
        guard fields[3].utf8.count <= 600 else { throw bad("a \(record) longer than 600 bytes") }
        if kind == .slug {
            guard !fields[3].isEmpty, !fields[3].contains("/"), PodPathCheck.isSafeRelative(fields[3]) else {
                throw bad("a \(record) with an unsafe project folder \(field(String(fields[3].prefix(60))))")
            }
            return SessionNote(kind: kind, sessionId: fields[2].lowercased(), text: fields[3])
        }
        return SessionNote(kind: kind, sessionId: fields[2].lowercased(), text: SessionNote.unescape(fields[3]))
    }

    /// `S <state> <size> <mtime> <lines> <sha256> <path>`.
    private func state(_ fields: [String]) throws -> AgentRecord.FileState {
        let record = "state record"
        guard fields.count == 7 else { throw bad("a malformed \(record)") }
        guard let kind = AgentRecord.FileState.Kind(rawValue: fields[1]) else {
            throw bad("a \(record) of an unknown kind \(field(String(fields[1].prefix(20))))")
        }
        let path = try path(fields[6], in: record)
        // No size ("-", or nothing when the file went away meanwhile): no stat.
        var stat: PodStat?
        if fields[2] != "-" && !fields[2].isEmpty {
            let size = try number(fields[2], "size", in: record)
            let mtime = fields[3]
            guard mtime.isEmpty || mtime == "-" || Self.isTime(mtime) else {
                throw bad("a \(record) with an impossible time \(field(String(mtime.prefix(40))))")
            }
            stat = PodStat(size: size, mtime: mtime)
        }
        // A new file is announced with what it is: its size and time.
        if kind == .new, !(stat.map { Self.isTime($0.mtime) } ?? false) {
            throw bad("a \(record) of a new file without its size and time, for \(field(path))")
        }
        let lines = fields[4].isEmpty ? 0 : try number(fields[4], "line count", in: record)
        let sha = fields[5] == "-" ? nil : fields[5]
        if let sha, !AgentExchange.isHex64(sha) { throw bad("a \(record) with a malformed hash") }
        return AgentRecord.FileState(kind: kind, path: path, stat: stat, lines: Int(lines), sha256: sha)
    }

    /// A time as `find -printf %T@` prints it: seconds, maybe negative, maybe with a fraction.
    static func isTime(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard text.utf8.count <= 40, (1...2).contains(parts.count) else { return false }
        return parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    }
}
