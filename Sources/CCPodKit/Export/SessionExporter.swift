import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `ccpod export` writes.
public struct ExportOptions: Sendable {
    public enum Selection: Sendable, Equatable {
        /// These session ids, wherever they are.
        case sessions([String])
        /// Every session of `projectPath`.
        case project
        /// Every session of every project.
        case all
    }

    public var selection: Selection
    /// The project (symlinks resolved): exported with `.project`, named in the header when the sessions are its own.
    public var projectPath: String?
    public var output: URL
    public var withFileHistory = false
    /// Replace secrets by placeholders and verify the result (the default). Off only when asked.
    public var scrub = true
    /// Encrypt to these public keys (none: a plain file).
    public var recipients: [ExportRecipient] = []
    /// Session ids left out whatever the selection (`ccpod share push`: sessions that came from others).
    public var exclude: Set<String> = []
    /// Detector kinds left out of the scrubber (tests only: a gap the second scan must catch).
    var detectorGap: Set<String> = []

    public init(selection: Selection, projectPath: String?, output: URL) {
        self.selection = selection
        self.projectPath = projectPath
        self.output = output
    }
}

/// What an export wrote.
public struct ExportSummary: Sendable, Encodable {
    public var output: String
    public var sessions: Int
    public var files: Int
    /// Content records (lines of the sessions' files).
    public var lines: Int
    public var scrubbed: Bool
    /// Secrets replaced, by kind.
    public var redactions: [String: Int]
    /// Key ids of the recipients (empty: not encrypted).
    public var encryptedTo: [String]
    /// Files left out, with why.
    public var skipped: [String]
}

/// Writes the export file of some sessions: deterministic, line-oriented, scrubbed and verified
/// unless told otherwise, encrypted when recipients are given. Nothing is written unless all of it is.
public struct SessionExporter: Sendable {
    public var claudeDir: URL

    public init(claudeDir: URL) {
        self.claudeDir = claudeDir
    }

    struct Item {
        var area: ExportFormat.Area
        var path: String
        var url: URL
        var jsonl: Bool
    }

    public func export(_ options: ExportOptions) throws -> ExportSummary {
        let store = ClaudeStore(root: claudeDir)
        var skipped = [String]()
        let refs = try select(options, store: store)
        // Stable order: by first activity (new sessions land at the end of the file), then id.
        var sessions = [(SessionRef, SessionSummary)]()
        var seen = Set<String>()
        for ref in refs where !options.exclude.contains(ref.id) {
            guard ExportFormat.isValidSessionId(ref.id) else { skipped.append("\(ref.transcript.path): not a session id ccpod exports"); continue }
            guard seen.insert(ref.id).inserted else { skipped.append("\(ref.transcript.path): a second session with id \(ref.id)"); continue }
            sessions.append((ref, try SessionSummary.read(ref.transcript)))
        }
        sessions.sort { a, b in
            let ta = a.1.firstTimestamp ?? .distantFuture, tb = b.1.firstTimestamp ?? .distantFuture
            return ta != tb ? ta < tb : a.0.id < b.0.id
        }
        var header: (path: String, slug: String)?
        if let path = options.projectPath {
            let slug = ProjectSlug.of(path)
            if options.selection == .project || (options.selection != .all && sessions.allSatisfy({ $0.0.slug == slug })) {
                header = (path, slug)
            }
        }

        var emitter = Emitter(scrub: options.scrub, detectors: SecretDetectors.standard.removing(options.detectorGap))
        var files = 0
        let directory = options.output.deletingLastPathComponent()
        guard FileStat.of(directory.path)?.isDirectory == true else {
            throw CCPodError.io("cannot write \(options.output.path): the folder \(directory.path) does not exist")
        }
        try AtomicFile.write(to: options.output, mode: 0o600) { fd in
            let file = FileSink(fd: fd, path: options.output.path)
            emitter.sink = options.recipients.isEmpty ? file : try EncryptingSink(recipients: options.recipients, output: file)
            try emitter.emit(ExportFormat.headerLine(project: header, scrubbed: options.scrub, fileHistory: options.withFileHistory))
            for (ref, summary) in sessions {
                let items = self.items(of: ref, withFileHistory: options.withFileHistory, skipped: &skipped)
                let record = "{\"record\":\"session\",\"id\":\(ExportFormat.quote(ref.id)),\"slug\":\(ExportFormat.quote(ref.slug)),"
                    + "\"project\":\(ExportFormat.quoteOrNull(summary.projectPath)),\"title\":\(ExportFormat.quoteOrNull(summary.title)),"
                    + "\"firstTimestamp\":\(ExportFormat.quoteOrNull(ExportFormat.timestamp(summary.firstTimestamp))),"
                    + "\"lastTimestamp\":\(ExportFormat.quoteOrNull(ExportFormat.timestamp(summary.lastTimestamp))),"
                    + "\"files\":[\(items.map { ExportFormat.quote(($0.area == .project ? "" : "file-history/") + $0.path) }.joined(separator: ","))]}"
                try emitter.emit(record, at: .init(session: ref.id, file: nil, line: 0))
                for item in items {
                    try emitter.emit(ExportFormat.fileLine(session: ref.id, area: item.area, path: item.path), at: .init(session: ref.id, file: item.path, line: 0))
                    try emitter.emitContent(of: item, session: ref.id)
                    files += 1
                }
            }
            try emitter.emit(ExportFormat.endLine(sessions: sessions.count))
            try emitter.sink?.finish()
            if emitter.verifier.hitCount > 0 { throw emitter.verifier.refusal() }
        }
        return ExportSummary(output: options.output.path, sessions: sessions.count, files: files, lines: emitter.contentLines,
                             scrubbed: options.scrub, redactions: emitter.scrubber.counts,
                             encryptedTo: options.recipients.map(\.keyId), skipped: skipped)
    }

    private func select(_ options: ExportOptions, store: ClaudeStore) throws -> [SessionRef] {
        switch options.selection {
        case .all:
            return store.allSessions()
        case .project:
            guard let path = options.projectPath else { throw CCPodError.usage("no project to export: pass --project PATH") }
            let slug = ProjectSlug.of(path)
            guard let project = store.project(slug: slug) else {
                throw CCPodError.failure("no sessions for \(path) (looked in \(store.projectsDir.path)/\(slug)); pass --project PATH or --all")
            }
            return store.sessions(in: project)
        case .sessions(let ids):
            let all = store.allSessions()
            return try ids.map { id in
                guard let ref = all.first(where: { $0.id == id }) else {
                    throw CCPodError.usage("no session \(id) in \(store.projectsDir.path); `ccpod sessions --all` lists them")
                }
                return ref
            }
        }
    }

    /// The session's files in the order they are written: transcript, subagents, tool results,
    /// legacy agent files, then file history (with the flag). Names import would refuse are left out.
    private func items(of ref: SessionRef, withFileHistory: Bool, skipped: inout [String]) -> [Item] {
        var items = [Item(area: .project, path: "\(ref.id).jsonl", url: ref.transcript, jsonl: true)]
        let byName = { (a: URL, b: URL) in a.lastPathComponent < b.lastPathComponent }
        items += ref.subagents.sorted(by: byName).map { Item(area: .project, path: "\(ref.id)/subagents/\($0.lastPathComponent)", url: $0, jsonl: true) }
        items += ref.toolResults.sorted(by: byName).map { Item(area: .project, path: "\(ref.id)/tool-results/\($0.lastPathComponent)", url: $0, jsonl: false) }
        items += ref.legacyAgents.sorted(by: byName).map { Item(area: .project, path: $0.lastPathComponent, url: $0, jsonl: true) }
        if withFileHistory, let dir = ref.fileHistoryDir {
            for name in DirectoryEntries.names(dir.path) where !name.hasPrefix(".") {
                let url = dir.appendingPathComponent(name, isDirectory: false)
                guard FileStat.of(url.path, followSymlinks: false)?.isRegularFile == true else { continue }
                items.append(Item(area: .fileHistory, path: "\(ref.id)/\(name)", url: url, jsonl: false))
            }
        }
        return items.filter { item in
            let ok = ExportFormat.isValidPath(item.path, area: item.area, session: ref.id)
            if !ok { skipped.append("\(item.url.path): a file name ccpod does not carry") }
            return ok
        }
    }
}

/// Scrubs, verifies and writes record lines.
struct Emitter {
    let scrub: Bool
    var scrubber: SecretScrubber
    var verifier = ExportVerifier()
    var sink: ExportSink?
    var contentLines = 0

    init(scrub: Bool, detectors: SecretDetectors) {
        self.scrub = scrub
        scrubber = SecretScrubber(detectors: detectors)
    }

    mutating func emit(_ line: String, at location: ExportVerifier.Location = .init(session: nil, file: nil, line: 0)) throws {
        try emit(Array(line.utf8), at: location)
    }

    mutating func emit(_ line: [UInt8], at location: ExportVerifier.Location) throws {
        var out = line
        if scrub {
            out = scrubber.scrub(jsonLine: line)
            verifier.check(out, at: location)
        }
        out.append(0x0A)
        try sink?.write(out)
    }

    private mutating func content(_ record: [UInt8], _ session: String, _ file: String, _ line: Int) throws {
        contentLines += 1
        try emit(record, at: .init(session: session, file: file, line: line))
    }

    private mutating func binary(_ bytes: ArraySlice<UInt8>, _ session: String, _ file: String, _ line: Int) throws {
        var offset = bytes.startIndex
        repeat {
            let end = min(bytes.endIndex, offset + ExportFormat.binaryChunk)
            try content(Array("{\"x\":\"\(Data(bytes[offset..<end]).base64EncodedString())\"}".utf8), session, file, line)
            offset = end
        } while offset < bytes.endIndex
    }

    mutating func emitContent(of item: SessionExporter.Item, session: String) throws {
        if item.jsonl {
            let fd = open(item.url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CCPodError.io("cannot read \(item.url.path): \(String(cString: strerror(errno)))") }
            defer { _ = Glibc_close(fd) }
            // Only complete lines: a line Claude is still writing goes with a later export.
            try JSONLReader(url: item.url).read { line in
                let length = Int(line.length)
                guard length <= ExportFormat.maxEmbeddedLine else {
                    try self.longLine(fd: fd, offset: line.offset, length: length, session, item.path, line.number)
                    return true
                }
                var bytes = [UInt8](repeating: 0, count: length + 1)
                let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, length + 1, off_t(line.offset)) }
                guard n == length + 1 else { throw CCPodError.io("\(item.url.path) changed while it was exported; export again") }
                if line.problem == nil {
                    bytes.removeLast()
                    try self.content(Array("{\"j\":".utf8) + bytes + [UInt8(ascii: "}")], session, item.path, line.number)
                } else if length <= ExportFormat.maxTextLine, let text = String(bytes: bytes[0..<length], encoding: .utf8),
                          case let record = Array("{\"t\":\(ExportFormat.quote(text))}".utf8), record.count <= ExportFormat.maxEmbeddedLine {
                    try self.content(record, session, item.path, line.number)
                } else {
                    try self.binary(bytes[...], session, item.path, line.number)
                }
                return true
            }
        } else {
            var reader = try BoundedLineReader(path: item.url.path, maxLine: ExportFormat.maxTextLine)
            defer { reader.close() }
            var number = 0
            while let (bytes, terminated) = try reader.next() {
                number += 1
                // Text by line, unless escaping would make the record longer than an importer reads.
                if let text = String(bytes: bytes, encoding: .utf8), terminated || reader.finished,
                   case let record = Array("{\"\(terminated ? "t" : "u")\":\(ExportFormat.quote(text))}".utf8),
                   record.count <= ExportFormat.maxEmbeddedLine {
                    try content(record, session, item.path, number)
                } else {
                    try binary(terminated ? bytes + [0x0A] : bytes, session, item.path, number)
                }
            }
        }
    }

    private mutating func longLine(fd: Int32, offset: Int64, length: Int, _ session: String, _ file: String, _ number: Int) throws {
        var done = 0
        let total = length + 1
        while done < total {
            let count = min(ExportFormat.binaryChunk, total - done)
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, off_t(offset) + off_t(done)) }
            guard n == count else { throw CCPodError.io("\(file) changed while it was exported; export again") }
            try binary(bytes[...], session, file, number)
            done += count
        }
    }
}

/// Where export lines go: a file, or an encryptor in front of one.
protocol ExportSink {
    mutating func write(_ bytes: [UInt8]) throws
    mutating func finish() throws
}

/// Buffered writes to a file descriptor.
struct FileSink: ExportSink {
    let fd: Int32
    let path: String
    private var buffer = [UInt8]()

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    mutating func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    mutating func flush() throws {
        try buffer.withUnsafeBytes { try FileDescriptorIO.writeAll(fd, $0, path: path) }
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func finish() throws { try flush() }
}
