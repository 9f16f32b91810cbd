import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A session of an export file, its files written out to a staging folder.
struct StagedSession {
    struct File {
        var area: ExportFormat.Area
        /// Relative to the area's folder (validated).
        var path: String
        var staged: URL
    }

    var id: String
    /// The first file is always the transcript, `<id>.jsonl`.
    var files: [File] = []
}

/// Reads an export file as untrusted input: streamed line by line (each line bounded),
/// every record, id and path checked, the sessions' files written to `dir`. Nothing outside
/// `dir` is touched, and a file that is malformed or cut off anywhere is refused whole.
enum ImportStaging {
    static let maxSessions = 100_000
    static let maxFilesPerSession = 100_000

    static func stage(export path: String, into dir: URL) throws -> [StagedSession] {
        var reader = try BoundedLineReader(path: path, maxLine: ExportFormat.maxRecordLine)
        defer { reader.close() }
        var number = 0
        func bad(_ what: String) -> CCPodError {
            CCPodError.badData("line \(number) of the export \(path): \(what); nothing was imported")
        }
        var sessions = [StagedSession]()
        var ids = Set<String>()
        var paths = Set<String>()
        var out: FileSink?
        var ended = false
        defer { if let out { _ = Glibc_close(out.fd) } }

        func closeFile() throws {
            guard var current = out else { return }
            try current.finish()
            _ = Glibc_close(current.fd)
            out = nil
        }

        while let (bytes, terminated) = try reader.next() {
            number += 1
            guard terminated else { throw bad(reader.finished ? "the last line has no newline (the file was cut off)" : "a line is too long") }
            if number == 1 {
                try checkHeader(bytes, bad)
                continue
            }
            guard !ended else { throw bad("there is more after the end record") }
            // A `j` record: the line embedded as it is. It must be one JSON object.
            if bytes.starts(with: jPrefix) {
                guard bytes.last == UInt8(ascii: "}"), out != nil else { throw bad(out == nil ? "content before any file record" : "a broken line record") }
                let inner = bytes[(bytes.startIndex + jPrefix.count)..<(bytes.endIndex - 1)]
                var scanner = JSONLineScanner()
                scanner.reset(captureMessage: false)
                inner.withUnsafeBytes { scanner.feed($0) }
                guard scanner.finish() == nil else { throw bad("an embedded line is not a JSON object") }
                try out?.write(Array(inner) + [0x0A])
                continue
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { throw bad("not a JSON object") }
            if object.count == 1, let entry = object.first, ["t", "u", "x"].contains(entry.key) {
                let (key, value) = (entry.key, entry.value)
                guard out != nil else { throw bad("content before any file record") }
                guard let text = value as? String else { throw bad("a content record without text") }
                switch key {
                case "t": try out?.write(Array(text.utf8) + [0x0A])
                case "u": try out?.write(Array(text.utf8))
                default:
                    if let data = ExportRecipient.strictBase64(text) {
                        try out?.write([UInt8](data))
                    } else if text.utf8.count < 128, text.range(of: #"^\[REDACTED:[a-z0-9-]+:[0-9a-f]{4}\]$"#, options: .regularExpression) != nil {
                        // The scrubber replaced a whole base64 chunk that hid a secret: the placeholder takes its place.
                        try out?.write(Array(text.utf8))
                    } else {
                        throw bad("a binary record that is not base64")
                    }
                }
                continue
            }
            switch object["record"] as? String {
            case "session":
                try closeFile()
                guard let id = object["id"] as? String, ExportFormat.isValidSessionId(id) else { throw bad("a session without a valid id") }
                guard ids.insert(id).inserted else { throw bad("session \(id) appears twice") }
                guard sessions.count < maxSessions else { throw bad("more than \(maxSessions) sessions") }
                if let previous = sessions.last, previous.files.isEmpty { throw bad("session \(previous.id) has no transcript") }
                sessions.append(StagedSession(id: id))
                paths = []
            case "file":
                try closeFile()
                guard let session = sessions.last, object["session"] as? String == session.id else { throw bad("a file record outside its session") }
                guard let areaName = object["area"] as? String, let area = ExportFormat.Area(rawValue: areaName),
                      let relative = object["path"] as? String, ExportFormat.isValidPath(relative, area: area, session: session.id)
                else { throw bad("a file path ccpod does not accept (only the session's transcript, subagents, tool results and file history)") }
                if session.files.isEmpty, !(area == .project && relative == "\(session.id).jsonl") {
                    throw bad("session \(session.id) does not start with its transcript")
                }
                guard paths.insert(areaName + "/" + relative).inserted else { throw bad("\(relative) appears twice") }
                guard session.files.count < maxFilesPerSession else { throw bad("too many files in session \(session.id)") }
                let staged = dir.appendingPathComponent("\(sessions.count)-\(session.files.count)", isDirectory: false)
                let fd = open(staged.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw CCPodError.io("cannot create \(staged.path): \(String(cString: strerror(errno)))") }
                out = FileSink(fd: fd, path: staged.path)
                sessions[sessions.count - 1].files.append(.init(area: area, path: relative, staged: staged))
            case "end":
                try closeFile()
                guard (object["sessions"] as? Int) == sessions.count else { throw bad("the end record counts other sessions than the file holds") }
                if let previous = sessions.last, previous.files.isEmpty { throw bad("session \(previous.id) has no transcript") }
                ended = true
            default:
                throw bad("an unknown record")
            }
        }
        guard number > 0 else { throw CCPodError.badData("the export \(path) is empty") }
        guard ended else { throw CCPodError.badData("the export \(path) has no end record: it was cut off; nothing was imported") }
        return sessions
    }

    private static let jPrefix = Array("{\"j\":".utf8)

    private static func checkHeader(_ bytes: ArraySlice<UInt8>, _ bad: (String) -> CCPodError) throws {
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              header["format"] as? String == ExportFormat.formatName else {
            throw bad("not a ccpod session export (no header)")
        }
        guard header["version"] as? Int == ExportFormat.version else {
            throw bad("an export of format version \(header["version"] ?? "?"), this ccpod (\(CCPodVersion.string)) reads version \(ExportFormat.version)")
        }
    }
}
