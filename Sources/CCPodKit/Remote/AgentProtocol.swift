import Foundation

/// The pod-side agent: a POSIX `sh` script (Remote/agent.sh) built into the binary
/// and sent with every call in the command line, so stdin stays free for data.
public enum AgentScript {
    /// Version of the request/response format; the agent refuses any other.
    public static let protocolVersion = 2

    /// The script's text.
    public static var source: String { String(decoding: PackageResources.agent_sh, as: UTF8.self) }

    /// A POSIX command line that runs the agent with `sh` (never a login shell).
    /// `requestCompression` is how ccpod compresses what it writes to stdin. With
    /// `compressedScript` the script travels gzipped (about 4 KB instead of 19 KB per
    /// call); a pod without gzip answers `no-gzip-script` at once, without reading stdin.
    /// `cache` keeps the packed script between runs (packing it forks gzip).
    /// The pod keeps the unpacked script in a folder of the user's own in its temporary
    /// folder (`.ccpod-agents.<user>`, mode 700, named by the script's digest) and runs
    /// it from there when it is the user's: unpacking it (a subshell, base64 and gzip)
    /// costs 4 ms of every exchange. A folder someone else owns, or a link, is not used.
    public static func remoteCommand(requestCompression: Compression, compressedScript: Bool = true,
                                     cache: DerivedValueCache? = nil) -> String {
        let arguments = "\(protocolVersion) \(requestCompression.rawValue)"
        let tail = "ccpod-agent " + arguments
        if compressedScript, let packed = packedScript(cache: cache) {
            let name = SHA256Hex.of(Data(packed.utf8)).prefix(16)
            return "d=\"${TMPDIR:-/tmp}/.ccpod-agents.${USER:-$LOGNAME}\"; f=\"$d/\(name).sh\"; "
                + "if [ -s \"$f\" ] && [ -d \"$d\" ] && [ ! -L \"$d\" ] && [ -O \"$d\" ]; then exec sh \"$f\" \(arguments); fi; "
                + "if command -v gzip >/dev/null 2>&1; then s=$(printf %s \(packed) | base64 -d | gzip -dc); "
                + "if [ -n \"$s\" ] && { [ -d \"$d\" ] || mkdir -m 700 \"$d\"; } 2>/dev/null && [ ! -L \"$d\" ] && [ -O \"$d\" ] && "
                + "printf '%s\\n' \"$s\" > \"$f.$$\" 2>/dev/null; then mv -f \"$f.$$\" \"$f\" 2>/dev/null || rm -f \"$f.$$\"; fi; "
                + "exec sh -c \"$s\" \(tail); "
                + "else echo 'CCPOD-AGENT \(protocolVersion) no-gzip-script'; fi"
        }
        return InlineScript.command(PackageResources.agent_sh, name: "ccpod-agent",
                                    arguments: [String(protocolVersion), requestCompression.rawValue])
    }

    /// `packedScript`, from `cache` when it has this script's. It goes into a command
    /// line unquoted, so a kept value is used only when it is base64 and nothing else.
    static func packedScript(cache: DerivedValueCache?) -> String? {
        guard let cache else { return packedScript }
        return cache.value(for: "agent script, comments stripped, gzip -9 -n, base64\t" + SHA256Hex.of(Data(PackageResources.agent_sh)),
                           isValid: { !$0.isEmpty && $0.utf8.allSatisfy(\.isBase64Character) }) { packedScript }
    }

    /// The script without its comment lines, gzipped and base64-encoded (nil without a local gzip).
    static let packedScript: String? = {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            return !trimmed.isEmpty && !trimmed.hasPrefix("#")
        }
        let stripped = Data((lines.joined(separator: "\n") + "\n").utf8)
        guard let out = try? ChildProcess.run("gzip", ["-9", "-n", "-c"], input: stripped), out.status == 0, !out.stdout.isEmpty else {
            return nil
        }
        return out.stdout.base64EncodedString()
    }()
}

/// A stream compression both ends can run as a filter.
public enum Compression: String, Sendable, CaseIterable {
    case zstd, gzip, none

    /// The local command that decompresses this format, nil for `none`.
    var decompressor: [String]? {
        switch self {
        // 32 MB is twice the largest window ccpod's compressors use (--long=24): a
        // pod's answer (a sync's, an artifacts listing or data) asking for more is
        // refused instead of taking the memory.
        case .zstd: return ["zstd", "-q", "-d", "-c", "--memory=32MB"]
        case .gzip: return ["gzip", "-d", "-c"]
        case .none: return nil
        }
    }

    /// The compressor: zstd's fast level, which keeps up with a loopback link on two
    /// cores (long-range matching would send a quarter fewer bytes of real transcripts
    /// but costs about a fifth more CPU, which a fast link pays in time).
    var compressor: [String]? {
        switch self {
        case .zstd: return ["zstd", "-q", "-3", "-T2", "-c"]
        case .gzip: return ["gzip", "-1", "-c"]
        case .none: return nil
        }
    }

    /// The first step of a request's compression: lighter still, as the link's pace
    /// moves a request to `denserSteps` when the link holds it back. Level 2 takes about
    /// a quarter less CPU than level 3 for 10–17 % more bytes (a first push of the
    /// benchmark's varied corpus, 228 MB on two cores: 0.52 against 0.74 CPU-seconds
    /// of zstd), and only a fast link, where CPU sets the pace, sends much at this level.
    /// (The pod's answers that carry files follow the link with zstd's own `--adapt`
    /// where the pod has it: agent.sh.)
    var requestCompressor: [String]? {
        switch self {
        case .zstd: return ["zstd", "-q", "-2", "-T2", "-c"]
        case .gzip, .none: return compressor
        }
    }

    /// The compressor of a small request of new lines (`AgentRequest.isSmallWithPayloads`:
    /// at most 2 MiB, 64 KiB of payloads or more): zstd level 9, which finds more of what
    /// the lines repeat (the files a session reads again, the sessions of one project
    /// alike) than level 2's quick search. Ten sessions grown by about 50 KB of turns
    /// each (requests of 1.0–1.4 MB): 10–12 % fewer bytes than level 2 (level 6: 8 %),
    /// for 25 ms of CPU instead of 7 for 1.4 MB, mostly while the channel opens. A
    /// request of records alone (125 KB for 550 files) came out 3 % larger at level 9.
    var smallRequestCompressor: [String]? {
        switch self {
        case .zstd: return ["zstd", "-q", "-9", "-c"]
        case .gzip, .none: return compressor
        }
    }

    /// The first compressor of `request`'s stream (the later steps are `denserSteps`).
    func firstRequestStep(for request: AgentRequest) -> [String]? {
        request.isSmallWithPayloads ? smallRequestCompressor : requestCompressor
    }

    /// Denser steps after `compressor`, for a stream the link holds back
    /// (`RequestCompressor`): level 9 with long-range matching over 16 MiB
    /// (transcripts repeat the files they read, and sessions of a project one another,
    /// further apart than level 3's window) sends about 30 % fewer bytes of real
    /// transcripts and still compresses faster than any link it is chosen for (about
    /// 100 MB/s on two cores, 73 MB of memory).
    var denserSteps: [[String]] {
        switch self {
        case .zstd: return [["zstd", "-q", "-9", "--long=24", "-T2", "-c"]]
        case .gzip, .none: return []
        }
    }

    /// What this machine can decompress, best first.
    public static var locallyAvailable: [Compression] {
        [.zstd, .gzip].filter { ChildProcess.exists($0.rawValue) }
    }
}

/// One file record of an agent request.
public struct AgentFileRequest: Sendable, Equatable {
    public enum Operation: String, Sendable {
        /// Report how the pod's file moved on (with data when pulling).
        case check = "C"
        /// Append `payload` when the pod's file is still the ancestor.
        case append = "A"
        /// Create the file when the pod has none.
        case put = "P"
        /// Replace the file when the pod's file is still the ancestor.
        case replace = "R"
        /// Delete the file when the pod's file is still the ancestor.
        case delete = "D"
        /// Merge the payload's lines into the pod's file by line (history.jsonl): lines
        /// the pod lacks are added in timestamp order, nothing is replaced.
        case merge = "M"
    }

    public var path: String
    public var seen: PodStat?
    public var ancestor: FileVersion?
    public var operation: Operation
    /// Where the bytes to send come from (a local file range), if any.
    public var payload: Payload?

    public struct Payload: Sendable, Equatable {
        /// Bytes already in memory (rewritten lines), or a range of a local file.
        public var data: Data?
        public var file: String?
        public var offset: Int64
        public var length: Int64
        public var sha256: String

        public init(data: Data) {
            self.data = data
            self.file = nil
            self.offset = 0
            self.length = Int64(data.count)
            self.sha256 = SHA256Hex.of(data)
        }

        public init(file: String, offset: Int64, length: Int64, sha256: String) {
            self.data = nil
            self.file = file
            self.offset = offset
            self.length = length
            self.sha256 = sha256
        }
    }

    public init(path: String, seen: PodStat?, ancestor: FileVersion?, operation: Operation, payload: Payload? = nil) {
        self.path = path
        self.seen = seen
        self.ancestor = ancestor
        self.operation = operation
        self.payload = payload
    }
}

/// Size and SHA-256 of a version of a file.
public struct FileVersion: Sendable, Equatable, Codable {
    public var size: Int64
    public var sha256: String

    public init(size: Int64, sha256: String) {
        self.size = size
        self.sha256 = sha256
    }
}

/// What the pod's `find` reports for a file: size and mtime (as printed, seconds with fraction).
public struct PodStat: Sendable, Equatable, Codable {
    public var size: Int64
    public var mtime: String

    public init(size: Int64, mtime: String) {
        self.size = size
        self.mtime = mtime
    }
}

/// A whole request: options, scope and files.
public struct AgentRequest: Sendable {
    public enum Mode: String, Sendable { case push, pull, sync, status }

    public var mode: Mode
    /// Pod folder prepended to every pod path ("" on a real pod).
    public var rootPrefix: String
    public var paths: PodPaths
    /// Folders (relative to the pod's Claude dir) whose files are in scope.
    public var scope: [String]
    /// Session ids whose per-session folders are in scope.
    public var sessionIds: [String]
    public var files: [AgentFileRequest]
    /// A file modified less than this many seconds ago is busy.
    public var busySeconds: Int
    public var accept: [Compression]
    /// Pod paths whose `grew`/`appended` state must carry the file's hash (sessions
    /// paired with a sibling whose bytes differ: ccpod cannot derive the pod's hash).
    public var hashed: [String] = []
    /// With mode status: the agent also says which sessions a running claude holds
    /// and what the transcripts not in sync say of themselves (`N` records).
    public var overview = false

    /// Up to this many payload bytes, the pod takes its lock and scans as soon as the
    /// request's options and scope arrive, beside the reading of the rest (option
    /// `early`, agent.sh `start_early`); a larger request, whose upload may take
    /// minutes, takes it once it has arrived, so another ccpod is never kept waiting
    /// for an upload.
    static let earlyLockBytes: Int64 = 16 << 20

    /// Whether the pod may take its lock before the payloads arrive (see `earlyLockBytes`).
    var locksEarly: Bool {
        var total: Int64 = 0
        for file in files {
            total += file.payload?.length ?? 0
            if total > Self.earlyLockBytes { return false }
        }
        return true
    }

    /// A request of at most this many bytes (payloads, and about a record's for each
    /// file) that carries at least `densePayloadBytes` of payloads is compressed at
    /// `Compression.smallRequestCompressor`'s level from its first byte. Below that, it
    /// is mostly records (a sync with nothing new), which a denser level does not shrink.
    static let smallRequestBytes: Int64 = 2 << 20
    static let densePayloadBytes: Int64 = 64 << 10

    /// Whether the request is small and mostly payloads (see `smallRequestBytes`).
    var isSmallWithPayloads: Bool {
        var total: Int64 = 0, payloads: Int64 = 0
        for file in files {
            let length = file.payload?.length ?? 0
            payloads += length
            total += length + 100 + Int64(file.path.utf8.count)
            if total > Self.smallRequestBytes { return false }
        }
        return payloads >= Self.densePayloadBytes
    }

    public init(mode: Mode, rootPrefix: String, paths: PodPaths, scope: [String], sessionIds: [String],
                files: [AgentFileRequest], busySeconds: Int = 5, accept: [Compression]) {
        self.mode = mode
        self.rootPrefix = rootPrefix
        self.paths = paths
        self.scope = scope
        self.sessionIds = sessionIds
        self.files = files
        self.busySeconds = busySeconds
        self.accept = accept
    }
}

/// One record of the agent's answer.
public enum AgentRecord: Sendable, Equatable {
    /// A file's state on the pod.
    case state(FileState)
    /// `length` bytes of `path` from `offset`, in a local temporary file, verified
    /// (their SHA-256, and how many newlines they hold).
    case data(path: String, offset: Int64, length: Int64, file: String, sha256: String, lines: Int)
    case warning(String)
    /// What the pod says of a session (option overview), checked (see `SessionNote`).
    case session(SessionNote)

    public struct FileState: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case new, gone, busy, same, grew, rewritten, appended, written, identical, conflict, deleted, failed
            /// After a merge (op M): the pod had nothing new since the ancestor / it had lines of its own.
            case merged
            case mergedChanged = "merged-changed"
        }

        public var kind: Kind
        public var path: String
        public var stat: PodStat?
        public var lines: Int
        public var sha256: String?
    }
}

/// One `N` record of an overview: a session a running claude holds on the pod, or a
/// piece of what its transcript says (a JSON string's body, unescaped here, at most
/// 600 bytes on the wire and 200 characters kept; escaped again before printing).
public struct SessionNote: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case live, title, summary, first, prompt, activity, slug
    }

    public var kind: Kind
    public var sessionId: String
    /// nil for `live`.
    public var text: String?

    public init(kind: Kind, sessionId: String, text: String?) {
        self.kind = kind
        self.sessionId = sessionId
        self.text = text
    }

    /// The body of a JSON string as written (escapes kept), cut anywhere: decoded leniently
    /// (an escape cut off at the end is dropped, invalid UTF-8 replaced), whitespace
    /// collapsed, at most 200 characters.
    public static func unescape(_ body: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = body.unicodeScalars[...]
        var pendingHigh: UInt32?
        while let c = scalars.popFirst() {
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard let e = scalars.popFirst() else { break }
            switch e {
            case "n", "r", "t", "b", "f": out.append(" ")
            case "u":
                let hex = String(String.UnicodeScalarView(scalars.prefix(4)))
                guard hex.count == 4, let v = UInt32(hex, radix: 16) else { scalars = scalars.dropFirst(scalars.count); break }
                scalars = scalars.dropFirst(4)
                if (0xD800..<0xDC00).contains(v) { pendingHigh = v; continue }
                if (0xDC00..<0xE000).contains(v), let high = pendingHigh {
                    if let s = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (v - 0xDC00)) { out.append(s) }
                } else if let s = Unicode.Scalar(v) {
                    out.append(s)
                }
            default: out.append(e)
            }
            pendingHigh = nil
        }
        var text = String(out).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        if text.count > 200 { text = String(text.prefix(199)) + "…" }
        return text
    }
}

/// Rejects any path from the pod that could write outside the Claude dir.
public enum PodPathCheck {
    /// Relative, at most 4096 bytes, no control character (tab and newline only with
    /// `allowingTabAndNewline`), and no component that is empty, `.` or `..`. One pass
    /// over the UTF-8 bytes (it runs for every path of every answer and every stored
    /// agreement): a control character is one byte in UTF-8, never part of another.
    public static func isSafeRelative(_ path: String, allowingTabAndNewline: Bool = false) -> Bool {
        var path = path
        return path.withUTF8 { bytes in
            guard !bytes.isEmpty, bytes.count <= 4096, bytes[0] != 0x2F else { return false }
            var componentStart = 0
            var dots = 0
            for i in 0...bytes.count {
                let b: UInt8 = i < bytes.count ? bytes[i] : 0x2F
                if b == 0x2F {
                    let length = i - componentStart
                    if length == 0 || dots == length && length <= 2 { return false }
                    componentStart = i + 1
                    dots = 0
                    continue
                }
                if b == 0x2E { dots += 1 }
                if b < 0x20 || b == 0x7F {
                    if !(allowingTabAndNewline && (b == 0x09 || b == 0x0A)) { return false }
                }
            }
            return true
        }
    }
}

private extension UInt8 {
    var isBase64Character: Bool {
        (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || (0x30...0x39).contains(self)
            || self == 0x2B || self == 0x2F || self == 0x3D
    }
}
