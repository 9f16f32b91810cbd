import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The session export file: one JSON object per line, deterministic.
///
/// ```
/// {"format":"ccpod-session-export","version":1,"ccpodVersion":…,"project":{…}|null,"scrubbed":true,"fileHistory":false}
/// {"record":"session","id":…,"slug":…,"project":…,"title":…,"firstTimestamp":…,"lastTimestamp":…,"files":[…]}
/// {"record":"file","session":…,"area":"project"|"file-history","path":…}
/// {"j":<a complete JSON-object line, embedded as it is>}     the line plus "\n"
/// {"t":"<a complete UTF-8 line>"}                               the line plus "\n"
/// {"u":"<UTF-8 bytes without a final newline>"}                 the bytes as they are
/// {"x":"<base64>"}                                              raw bytes
/// {"record":"end","sessions":N}
/// ```
/// A file's content is the concatenation of the content records after its `file` record.
public enum ExportFormat {
    public static let formatName = "ccpod-session-export"
    public static let version = 1
    /// The default file name, at the project root.
    public static let defaultFileName = ".claude-session-export.jsonl"
    /// Longest line embedded as a `j` record; longer ones travel as `x` chunks.
    static let maxEmbeddedLine = 6 << 20
    /// Longest text line carried as `t`/`u`; longer text travels as `x` chunks.
    static let maxTextLine = 4 << 20
    /// Bytes per `x` record.
    static let binaryChunk = 3 << 20
    /// Longest record line the importer reads (an `x` chunk is 4 MiB of base64, a `j` line at most 6 MiB
    /// before placeholders lengthen it a little).
    static let maxRecordLine = 7 << 20

    /// The project folder area (`projects/<slug>/`) and the session's file history (`file-history/<id>/`).
    public enum Area: String, Sendable {
        case project
        case fileHistory = "file-history"
    }

    // MARK: - Validation (shared by export and import: export only what import accepts)

    /// A session id: letters, digits, `-` and `_`, starting with a letter or digit, at most 100 characters.
    public static func isValidSessionId(_ id: String) -> Bool {
        let b = Array(id.utf8)
        guard (1...100).contains(b.count), isAlnum(b[0]) else { return false }
        return b.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// One file name: letters, digits and `._@+=-`, not starting with `.` or `-`, at most 200 bytes.
    public static func isValidName(_ name: String) -> Bool {
        let b = Array(name.utf8)
        guard (1...200).contains(b.count), isAlnum(b[0]) || b[0] == UInt8(ascii: "_") else { return false }
        let extra: Set<UInt8> = Set("._@+=-".utf8)
        return b.allSatisfy { isAlnum($0) || extra.contains($0) } && !name.contains("..")
    }

    /// Whether `path` (relative to the area's folder) may belong to session `id`:
    /// project: `<id>.jsonl`, `<id>/subagents/<name>.jsonl`, `<id>/tool-results/<name>`, `agent-<name>.jsonl`;
    /// file-history: `<id>/<name>`.
    public static func isValidPath(_ path: String, area: Area, session id: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch area {
        case .fileHistory:
            return parts.count == 2 && parts[0] == id && isValidName(parts[1])
        case .project:
            if parts.count == 1 {
                return parts[0] == "\(id).jsonl" || (parts[0].hasPrefix("agent-") && parts[0].hasSuffix(".jsonl") && isValidName(parts[0]))
            }
            guard parts.count == 3, parts[0] == id, isValidName(parts[2]) else { return false }
            return (parts[1] == "subagents" && parts[2].hasSuffix(".jsonl")) || parts[1] == "tool-results"
        }
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    // MARK: - Encoding

    /// A JSON string literal, escaped the same way every time (only `"`, `\` and controls).
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func quoteOrNull(_ s: String?) -> String { s.map(quote) ?? "null" }

    static func headerLine(project: (path: String, slug: String)?, scrubbed: Bool, fileHistory: Bool) -> String {
        let projectJSON = project.map { "{\"path\":\(quote($0.path)),\"slug\":\(quote($0.slug))}" } ?? "null"
        return "{\"format\":\(quote(formatName)),\"version\":\(version),\"ccpodVersion\":\(quote(CCPodVersion.string)),"
            + "\"project\":\(projectJSON),\"scrubbed\":\(scrubbed),\"fileHistory\":\(fileHistory)}"
    }

    static func fileLine(session: String, area: Area, path: String) -> String {
        "{\"record\":\"file\",\"session\":\(quote(session)),\"area\":\(quote(area.rawValue)),\"path\":\(quote(path))}"
    }

    static func endLine(sessions: Int) -> String { "{\"record\":\"end\",\"sessions\":\(sessions)}" }

    /// Timestamps in the session record: UTC, milliseconds, the same text for the same instant.
    static func timestamp(_ date: Date?) -> String? {
        guard let date else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

/// Reads a file line by line with a bounded buffer. Lines longer than `maxLine` come in
/// pieces (`terminated == false`, `partial == true`) so memory stays bounded.
struct BoundedLineReader {
    let path: String
    let maxLine: Int
    private let fd: Int32
    private var buffer = [UInt8]()
    private var start = 0
    private var eof = false

    init(path: String, maxLine: Int) throws {
        self.path = path
        self.maxLine = maxLine
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
    }

    func close() { _ = Glibc_close(fd) }

    /// Whether everything was returned.
    var finished: Bool { eof && start >= buffer.count }

    /// The next piece: the line's bytes (without `\n`), and whether a `\n` ended it.
    /// A piece of `maxLine` bytes without `\n` is returned as it is (`terminated` false, more may follow).
    mutating func next() throws -> (bytes: ArraySlice<UInt8>, terminated: Bool)? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                let line = buffer[start..<nl]
                start = nl + 1
                return (line, true)
            }
            if buffer.count - start >= maxLine {
                let piece = buffer[start..<(start + maxLine)]
                start += maxLine
                return (piece, false)
            }
            if eof {
                guard start < buffer.count else { return nil }
                let rest = buffer[start...]
                start = buffer.count
                return (rest, false)
            }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let want = 1 << 20
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: want))
            let n = try buffer.withUnsafeMutableBytes { raw in
                try FileDescriptorIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[old...]), path: path)
            }
            buffer.removeLast(want - n)
            if n == 0 { eof = true }
        }
    }
}

@inline(__always) func Glibc_close(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    return Glibc.close(fd)
    #else
    return Darwin.close(fd)
    #endif
}
