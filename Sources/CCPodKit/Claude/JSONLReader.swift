import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a complete line is not a valid Claude Code line.
public enum LineProblem: String, Sendable, Codable, Equatable {
    case invalidUTF8 = "invalid UTF-8"
    case notJSON = "not valid JSON"
    case notObject = "JSON but not an object"
    case blank = "blank line"
}

/// One complete line (ended by `\n`) of a JSONL file, as the reader saw it.
/// The reader only reads: the file's bytes are never changed.
public struct JSONLLine: Sendable {
    /// 1-based line number.
    public var number: Int
    /// Byte offset of the line's first byte.
    public var offset: Int64
    /// Length in bytes, without the `\n`.
    public var length: Int64
    /// Nil when the line is one JSON object.
    public var problem: LineProblem?
    public var type: String?
    public var uuid: String?
    public var sessionId: String?
    public var timestamp: String?
    public var cwd: String?
    public var entrypoint: String?
    public var summary: String?
    public var customTitle: String?
    public var isMeta = false
    public var isCompactSummary = false
    /// The raw JSON of the top-level `message` object, when it was asked for and is at most 256 KiB.
    public var message: Data?
    /// SHA-256 of the line's bytes (without `\n`), when the reader was asked for line hashes.
    public var sha256: String?

    /// The line's identity: its `uuid` when it has one, else `sha256:<hex of its bytes>`
    /// (nil when line hashes were not asked for).
    public var identity: String? { uuid ?? sha256.map { "sha256:" + $0 } }
}

/// What a whole read of a file found.
public struct JSONLFileReport: Sendable, Equatable {
    /// Bytes read.
    public var size: Int64
    /// Offset just after the last `\n`: everything before it is complete lines.
    public var completeLength: Int64
    /// Complete lines.
    public var lineCount: Int
    /// Bytes after the last `\n` (a line being written, or torn by a crash). Not corruption.
    public var tailLength: Int64 { size - completeLength }
    public var hasIncompleteTail: Bool { size > completeLength }
}

/// Streams a JSONL file line by line with a fixed buffer: memory stays bounded whatever the
/// length of a line (a 20 MB line is validated and hashed in pieces).
public struct JSONLReader: Sendable {
    public var url: URL
    public var bufferSize: Int
    /// Whether to compute each line's SHA-256 (needed for `JSONLLine.identity` of lines without `uuid`).
    public var lineHashes: Bool

    public init(url: URL, bufferSize: Int = 1 << 20, lineHashes: Bool = false) {
        self.url = url
        self.bufferSize = max(16, bufferSize)
        self.lineHashes = lineHashes
    }

    /// Reads the file, calling `visit` for every complete line in order; `visit` returns false to stop early.
    /// `wantMessage` is asked before each line whether to capture its `message` object.
    /// - Throws: `CCPodError` (exit 65) naming the file when it cannot be opened or read.
    @discardableResult
    public func read(
        wantMessage: () -> Bool = { false },
        _ visit: (JSONLLine) throws -> Bool
    ) throws -> JSONLFileReport {
        let path = url.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.badData("cannot read \(path): \(errnoText())") }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }

        var scanner = JSONLineScanner()
        var hasher = SHA256()
        var offset: Int64 = 0  // bytes consumed so far
        var lineStart: Int64 = 0
        var lineNumber = 0
        var completeLength: Int64 = 0
        var lineOpen = false
        var stopped = false

        func beginLine() {
            scanner.reset(captureMessage: wantMessage())
            if lineHashes { hasher = SHA256() }
            lineOpen = true
        }

        while !stopped {
            let n: Int
            do {
                n = try FileDescriptorIO.read(fd, into: buffer, path: path)
            } catch {
                throw CCPodError.badData("cannot read \(path): \(errnoText())")
            }
            if n == 0 { break }
            let base = buffer.baseAddress!
            var start = 0
            while start < n {
                if !lineOpen { beginLine() }
                let rest = n - start
                let found = memchr(base + start, 0x0A, rest)
                let end = found.map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? n
                let segment = UnsafeRawBufferPointer(start: base + start, count: end - start)
                scanner.feed(segment)
                if lineHashes { hasher.update(bufferPointer: segment) }
                guard found != nil else { break }
                // A complete line.
                lineNumber += 1
                let lineEnd = offset + Int64(end)
                var line = JSONLLine(number: lineNumber, offset: lineStart, length: lineEnd - lineStart)
                line.problem = scanner.finish()
                fill(&line, from: scanner)
                if lineHashes { line.sha256 = SHA256Hex.hex(hasher.finalize()) }
                completeLength = lineEnd + 1
                lineStart = completeLength
                lineOpen = false
                start = end + 1
                if try !visit(line) { stopped = true; break }
            }
            offset += Int64(n)
        }
        if stopped {
            return JSONLFileReport(size: offset, completeLength: completeLength, lineCount: lineNumber)
        }
        return JSONLFileReport(size: offset, completeLength: completeLength, lineCount: lineNumber)
    }

    private func fill(_ line: inout JSONLLine, from scanner: JSONLineScanner) {
        guard line.problem == nil else { return }
        for (key, raw) in scanner.fields {
            switch key {
            case .type: line.type = decodeJSONString(raw)
            case .uuid: line.uuid = decodeJSONString(raw)
            case .sessionId: line.sessionId = decodeJSONString(raw)
            case .timestamp: line.timestamp = decodeJSONString(raw)
            case .cwd: line.cwd = decodeJSONString(raw)
            case .entrypoint: line.entrypoint = decodeJSONString(raw)
            case .summary: line.summary = decodeJSONString(raw)
            case .customTitle: line.customTitle = decodeJSONString(raw)
            case .message: line.message = Data(raw)
            case .other, .isMeta, .isCompactSummary: break
            }
        }
        line.isMeta = scanner.isMeta
        line.isCompactSummary = scanner.isCompactSummary
    }
}
