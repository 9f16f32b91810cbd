import Foundation

/// Every record of the artifacts exchange, read or written: the listing (phase 1), the
/// request ccpod sends (phase 2) and the pod's answer. The format is stated at the top
/// of Artifacts/artifacts.sh; fields are separated by a TAB, the path is always last.
///
/// Nothing here trusts the pod: every number is a non-negative decimal that fits an
/// Int64, every path is relative and stays below the destination, lines, records and
/// warnings are bounded, and text quoted in a message is escaped first.
enum ArtifactWire {
    /// The longest line accepted from the pod.
    static let maxLine = 64 * 1024
    /// The longest path accepted (also what `PodPathCheck` allows).
    static let maxPath = 4096
    /// Records of one listing, warnings included.
    static let maxListingRecords = 1_000_000
    /// Files and links one listing may name (what ccpod keeps in memory while planning).
    static let maxListedEntries = 200_000
    /// Bytes of paths and times one listing may name.
    static let maxListedBytes = 32 << 20
    /// Warnings kept from one exchange; the rest are counted.
    static let maxWarnings = 20

    /// A line's fields (at most `count`, the last one takes the rest of the line).
    static func fields<C: Collection>(_ line: C, _ count: Int) -> [String] where C.Element == UInt8, C.SubSequence: Collection {
        line.split(separator: 0x09, maxSplits: count - 1, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A size, offset or count: decimal digits only that fit an Int64 (no sign, no space).
    static func number(_ s: String) -> Int64? {
        guard !s.isEmpty, s.utf8.count <= 19, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(s)
    }

    /// A modification time as `find -printf %T@` prints it (`1732531234.1234567890`).
    static func isTime(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 40 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D }
    }

    static func isHex64(_ s: String) -> Bool { AgentExchange.isHex64(s) }

    /// A path quoted for a message.
    static func quoted(_ path: String) -> String {
        "\"" + TerminalText.escape(String(path.prefix(200))) + (path.count > 200 ? "…" : "") + "\""
    }

    /// `a + b`, or nil past Int64.
    static func sum(_ a: Int64, _ b: Int64) -> Int64? {
        let (value, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : value
    }

    // MARK: - The request (ccpod → pod)

    /// Phase 2's plain first line.
    static func requestHeader(request: Compression, response: Compression) -> String {
        "CCPOD-ART-REQ \(ArtifactsScript.protocolVersion) \(request.rawValue) \(response.rawValue)\n"
    }

    static let requestEnd = "END\n"

    /// A record of a pull's request.
    enum PullRecord {
        /// `G`: `length` bytes from `offset`, the first `offset` bytes hashing to `prefixSha`.
        case get(offset: Int64, length: Int64, prefixSha: String?, path: String)
        /// `S`: a small file whole, in the current batch; never more than `length` bytes.
        case small(length: Int64, path: String)
        /// `N`: the batch so far goes out now.
        case nextBatch
        /// `C`: the SHA-256 of the whole file.
        case compare(path: String)

        var line: String {
            switch self {
            case let .get(offset, length, sha, path): return "G\t\(offset)\t\(length)\t\(sha ?? "-")\t\(path)\n"
            case let .small(length, path): return "S\t\(length)\t\(path)\n"
            case .nextBatch: return "N\n"
            case let .compare(path): return "C\t-\t-\t-\t\(path)\n"
            }
        }
    }

    /// A record of a push's request (`C` as in a pull).
    enum PushRecord {
        /// `P`: `length` bytes for the file's part from `offset` follow, then a `Z`.
        case part(offset: Int64, length: Int64, path: String)
        /// `Z`: the SHA-256 of the whole file the part now holds.
        case partHash(String)
        case compare(path: String)

        var line: String {
            switch self {
            case let .part(offset, length, path): return "P\t\(offset)\t\(length)\t-\t\(path)\n"
            case let .partHash(sha): return "Z\t\(sha)\n"
            case let .compare(path): return "C\t-\t-\t-\t\(path)\n"
            }
        }
    }

    // MARK: - The answer (pod → ccpod)

    /// One record of phase 2's answer. `bad` makes the error for a malformed one.
    enum Answer: Equatable {
        /// `D`: `length` bytes of `path` from `offset` follow, then a `Z`.
        case data(offset: Int64, length: Int64, path: String)
        /// `B`: `count` `E` entries follow, then their bytes one after the other.
        case batch(count: Int)
        /// `H`: the hash asked for with `C`.
        case hash(sha: String, size: Int64, mtime: String, path: String)
        /// `A`: what became of a pushed part; size and time only for `ok`.
        case ack(status: String, size: Int64?, mtime: String?, path: String)
        case warning(String)
        /// `Y`: the rest of the answer is compressed.
        case compressedRest
        case end(ok: Bool)

        static func parse(_ line: [UInt8], bad: (String) -> Error) throws -> Answer {
            let f = ArtifactWire.fields(line, 5)
            switch f[0] {
            case "D":
                guard f.count == 4, let offset = number(f[1]), let length = number(f[2]), PodPathCheck.isSafeRelative(f[3])
                else { throw bad("a malformed data record (D)") }
                return .data(offset: offset, length: length, path: f[3])
            case "B":
                guard f.count == 2, let count = number(f[1]), count > 0, count <= Int64(maxListedEntries)
                else { throw bad("a malformed batch record (B)") }
                return .batch(count: Int(count))
            case "H":
                guard f.count == 5, isHex64(f[1]), let size = number(f[2]), isTime(f[3]), PodPathCheck.isSafeRelative(f[4])
                else { throw bad("a malformed hash record (H)") }
                return .hash(sha: f[1], size: size, mtime: f[3], path: f[4])
            case "A":
                guard f.count == 5, PodPathCheck.isSafeRelative(f[4]) else { throw bad("a malformed push result record (A)") }
                if f[1] == "ok" {
                    guard let size = number(f[2]), isTime(f[3]) else { throw bad("a malformed push result record (A)") }
                    return .ack(status: "ok", size: size, mtime: f[3], path: f[4])
                }
                return .ack(status: f[1], size: nil, mtime: nil, path: f[4])
            case "W":
                return .warning(TerminalText.escape(f.dropFirst().joined(separator: " ")))
            case "Y":
                guard f.count == 1 else { throw bad("a malformed compression record (Y)") }
                return .compressedRest
            case "END":
                guard f.count == 2 else { throw bad("a malformed end record (END)") }
                return .end(ok: f[1] == "ok")
            default:
                throw bad("an unknown record \(quoted(String(f[0].prefix(16))))")
            }
        }
    }

    /// An `E` entry of a batch: a small file's size and SHA-256.
    struct BatchEntry {
        var length: Int64
        var sha256: String
        var path: String

        static func parse(_ line: [UInt8], bad: (String) -> Error) throws -> BatchEntry {
            let f = ArtifactWire.fields(line, 4)
            guard f.count == 4, f[0] == "E", let length = number(f[1]), isHex64(f[2]), PodPathCheck.isSafeRelative(f[3])
            else { throw bad("a malformed batch entry (E)") }
            return BatchEntry(length: length, sha256: f[2], path: f[3])
        }
    }

    /// The `Z` record after a data record: the SHA-256 of the bytes sent.
    static func dataHash(_ line: [UInt8], path: String, bad: (String) -> Error) throws -> String {
        let f = fields(line, 3)
        guard f.count == 3, f[0] == "Z", f[2] == path, isHex64(f[1]) else {
            throw bad("no hash record (Z) after the data of \(quoted(path))")
        }
        return f[1]
    }
}

/// An answer ccpod refused for what it says (not because the stream ended): the
/// refusal is what the user reads, never a connection message made of the process
/// ccpod stopped itself.
struct ArtifactRejection: Error {
    var error: CCPodError

    /// The error a caller reports: the refusal itself for a rejection.
    static func unwrap(_ error: Error) -> Error { (error as? ArtifactRejection)?.error ?? error }
}

/// Warnings from the pod, escaped and capped: the first `ArtifactWire.maxWarnings`, then
/// how many more there were.
struct WarningList: Sendable {
    private(set) var kept: [String] = []
    private(set) var dropped = 0

    mutating func add(_ warning: String) {
        if isFull { dropped += 1 } else { kept.append(TerminalText.escape(warning)) }
    }

    var isFull: Bool { kept.count >= ArtifactWire.maxWarnings }

    var all: [String] { dropped > 0 ? kept + ["and \(dropped) more warning(s)"] : kept }
}

/// Cuts a byte stream into lines of at most `limit` bytes (without the newline), keeping
/// only the unfinished line in memory. A line is handed out as a buffer valid only
/// during the call.
struct LineSplitter {
    let limit: Int
    private var pending: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    mutating func feed(_ chunk: UnsafeRawBufferPointer, tooLong: () -> Error, _ line: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count {
            guard let found = memchr(base + start, 0x0A, chunk.count - start) else {
                guard pending.count + chunk.count - start <= limit else { throw tooLong() }
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start...]))
                return
            }
            let nl = base.distance(to: UnsafeRawPointer(found))
            guard pending.count + nl - start <= limit else { throw tooLong() }
            if pending.isEmpty {
                try line(UnsafeRawBufferPointer(rebasing: chunk[start..<nl]))
            } else {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<nl]))
                try pending.withUnsafeBytes { try line($0) }
                pending.removeAll(keepingCapacity: true)
            }
            start = nl + 1
        }
    }

    /// The last line, when the stream did not end with a newline.
    mutating func finish(_ line: (UnsafeRawBufferPointer) throws -> Void) throws {
        if !pending.isEmpty { try pending.withUnsafeBytes { try line($0) } }
        pending.removeAll()
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
    /// Escaped, capped ("and N more").
    public var warnings: [String] = []
    /// What the pod can compress with.
    public var tools: [Compression] = []

    /// Parses the listing one line at a time, within the limits of `ArtifactWire`; a line
    /// that does not parse, or a path that could leave the destination, rejects the
    /// whole answer.
    struct Parser {
        let pod: String
        private(set) var listing: RunListing
        private var records = 0
        private var entries = 0
        private var bytes = 0
        private var warnings = WarningList()

        init(tools: [Compression], pod: String) {
            self.pod = pod
            listing = RunListing(runExists: false, tools: tools)
        }

        func bad(_ why: String) -> CCPodError {
            CCPodError.badData("the pod \(TerminalText.escape(pod)) sent an invalid listing (\(why)); nothing was changed here")
        }

        mutating func add(_ line: UnsafeRawBufferPointer) throws {
            records += 1
            guard records <= ArtifactWire.maxListingRecords else {
                throw bad("more than \(ArtifactWire.maxListingRecords) records; list less with patterns")
            }
            guard let kind = line.first else { return }
            // A warning past the cap is only counted (no text made of it).
            if kind == 0x57 && (line.count == 1 || line[1] == 0x09) && warnings.isFull {
                warnings.add("")
                return
            }
            let fields = ArtifactWire.fields(line, 4)
            switch fields[0] {
            case "R":
                guard fields.count == 2 else { throw bad("a malformed run record (R)") }
                listing.runExists = fields[1] == "ok"
            case "V":
                guard fields.count == 2, let free = ArtifactWire.number(fields[1]) else { throw bad("a malformed free-space record (V)") }
                listing.freeBytes = free
            case "F":
                guard fields.count == 4, let size = ArtifactWire.number(fields[1]), ArtifactWire.isTime(fields[2]) else {
                    throw bad("a malformed file record (F)")
                }
                guard PodPathCheck.isSafeRelative(fields[3]) else { throw bad("an unsafe path \(ArtifactWire.quoted(fields[3])) in a file record (F)") }
                try count(fields[3], fields[2])
                listing.files[fields[3]] = File(path: fields[3], stat: PodStat(size: size, mtime: fields[2]))
            case "L":
                guard fields.count == 3, ["inside", "outside"].contains(fields[1]), PodPathCheck.isSafeRelative(fields[2]) else {
                    throw bad("a malformed link record (L)")
                }
                try count(fields[2], "")
                listing.links.append((fields[2], fields[1] == "inside"))
            case "W":
                warnings.add(fields.dropFirst().joined(separator: " "))
            default:
                throw bad("an unknown record \(ArtifactWire.quoted(String(fields[0].prefix(16))))")
            }
        }

        private mutating func count(_ path: String, _ time: String) throws {
            entries += 1
            bytes += path.utf8.count + time.utf8.count
            guard entries <= ArtifactWire.maxListedEntries, bytes <= ArtifactWire.maxListedBytes else {
                throw bad("more than \(ArtifactWire.maxListedEntries) files or \(ArtifactWire.maxListedBytes >> 20) MiB of names; list less with patterns")
            }
        }

        mutating func finish() -> RunListing {
            listing.warnings = warnings.all
            return listing
        }
    }

    /// Parses a whole listing held in memory (tests and fuzzing; ccpod itself streams it).
    static func parse(_ data: Data, tools: [Compression], pod: String) throws -> RunListing {
        var parser = Parser(tools: tools, pod: pod)
        var splitter = LineSplitter(limit: ArtifactWire.maxLine)
        let tooLong = parser.bad("a line longer than \(ArtifactWire.maxLine) bytes")
        try data.withUnsafeBytes { try splitter.feed($0, tooLong: { tooLong }) { try parser.add($0) } }
        try splitter.finish { try parser.add($0) }
        return parser.finish()
    }
}
