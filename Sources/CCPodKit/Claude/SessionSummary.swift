import Foundation

/// A line that is not a JSON object.
public struct BadLine: Sendable, Codable, Equatable {
    /// 1-based line number.
    public var line: Int
    public var offset: Int64
    /// Bytes, without the `\n`.
    public var length: Int64
    public var problem: LineProblem
}

/// What ccpod knows about one session file after reading it once: enough to list it,
/// check it and attach it, without keeping any line.
public struct SessionSummary: Sendable, Codable, Equatable {
    public var size: Int64 = 0
    /// Offset just after the last `\n`.
    public var completeLength: Int64 = 0
    public var lineCount = 0
    /// Lines that are not JSON objects (the first 1,000).
    public var badLines: [BadLine] = []
    public var badLineCount = 0
    /// The latest `summary` line's text.
    public var summary: String?
    /// The latest `custom-title` line's `customTitle` (last wins).
    public var customTitle: String?
    /// The first prompt the user typed (not a tool result, meta line or slash command).
    public var firstPrompt: String?
    /// The first slash command, when the session has no typed prompt.
    public var firstCommand: String?
    public var firstTimestamp: Date?
    public var lastTimestamp: Date?
    /// The `cwd` values seen, in order of first appearance (the first 32).
    public var cwds: [String] = []
    /// The first `entrypoint` seen (`cli`, `sdk-cli`, `sdk-ts`, `sdk-py`, …).
    public var entrypoint: String?
    /// The `sessionId` values seen (the first 8).
    public var sessionIds: [String] = []

    public init() {}

    /// Bytes after the last `\n`.
    public var tailLength: Int64 { size - completeLength }
    public var hasIncompleteTail: Bool { size > completeLength }

    /// The title Claude Code's picker shows: a custom title (set with `/rename`, last wins), else
    /// the latest summary, else the first prompt, else the first slash command.
    public var title: String? { customTitle ?? summary ?? firstPrompt ?? firstCommand }

    /// Sessions written by `claude -p` or an SDK (`entrypoint` `sdk-…`) are not listed by
    /// `claude --resume`; they can still be resumed by id.
    public var isHiddenFromPicker: Bool { entrypoint.map(SessionSummary.isHiddenEntrypoint) ?? false }

    public static func isHiddenEntrypoint(_ entrypoint: String) -> Bool {
        entrypoint.hasPrefix("sdk")
    }

    /// The project path the lines name (the first `cwd`).
    public var projectPath: String? { cwds.first }

    /// Reads `url` once and summarizes it.
    /// - Throws: `CCPodError` (exit 65) naming the file when it cannot be read.
    public static func read(_ url: URL, bufferSize: Int = 1 << 20) throws -> SessionSummary {
        var builder = SessionSummary()
        let report = try JSONLReader(url: url, bufferSize: bufferSize).read(
            wantMessage: { builder.firstPrompt == nil }
        ) { line in
            builder.add(line)
            return true
        }
        builder.size = report.size
        builder.completeLength = report.completeLength
        builder.lineCount = report.lineCount
        return builder
    }

    /// Folds one line into the summary.
    public mutating func add(_ line: JSONLLine) {
        if let problem = line.problem {
            badLineCount += 1
            if badLines.count < 1000 {
                badLines.append(BadLine(line: line.number, offset: line.offset, length: line.length, problem: problem))
            }
            return
        }
        if let ts = line.timestamp, let date = ISOTimestamp.parse(ts) {
            if firstTimestamp.map({ date < $0 }) ?? true { firstTimestamp = date }
            if lastTimestamp.map({ date > $0 }) ?? true { lastTimestamp = date }
        }
        if let cwd = line.cwd, cwds.count < 32, !cwds.contains(cwd) { cwds.append(cwd) }
        if entrypoint == nil, let e = line.entrypoint { entrypoint = e }
        if let sid = line.sessionId, sessionIds.count < 8, !sessionIds.contains(sid) { sessionIds.append(sid) }
        switch line.type {
        case "summary":
            if let s = line.summary { summary = Self.oneLine(s) }
        case "custom-title":
            if let t = line.customTitle { customTitle = Self.oneLine(t) }
        case "user":
            guard firstPrompt == nil, !line.isMeta, !line.isCompactSummary, let message = line.message else { break }
            switch Self.promptText(message) {
            case .prompt(let text): firstPrompt = text
            case .command(let text): if firstCommand == nil { firstCommand = text }
            case .none: break
            }
        default:
            break
        }
    }

    enum Prompt { case prompt(String), command(String), none }

    /// The text a person typed, from a `user` line's `message`: a string content or text blocks,
    /// never a tool result; slash commands and Claude Code's own notices are set apart.
    static func promptText(_ message: Data) -> Prompt {
        guard let object = try? JSONSerialization.jsonObject(with: message) as? [String: Any] else { return .none }
        var text: String?
        if let s = object["content"] as? String {
            text = s
        } else if let blocks = object["content"] as? [Any] {
            for case let block as [String: Any] in blocks {
                let type = block["type"] as? String
                if type == "tool_result" { return .none }
                if type == "text", text == nil, let t = block["text"] as? String { text = t }
            }
        }
        guard let raw = text?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else { return .none }
        if raw.hasPrefix("<command-") || raw.contains("<command-name>") {
            let name = between(raw, "<command-name>", "</command-name>") ?? ""
            let args = between(raw, "<command-args>", "</command-args>") ?? ""
            let command = oneLine([name, args].filter { !$0.isEmpty }.joined(separator: " "))
            return command.isEmpty ? .none : .command(command)
        }
        for notice in ["<local-command-", "<bash-", "Caveat:", "[Request interrupted", "<system-reminder>"]
        where raw.hasPrefix(notice) {
            return .none
        }
        return .prompt(oneLine(raw))
    }

    private static func between(_ s: String, _ open: String, _ close: String) -> String? {
        guard let a = s.range(of: open), let b = s.range(of: close, range: a.upperBound..<s.endIndex) else { return nil }
        return String(s[a.upperBound..<b.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Collapses whitespace and keeps the first 200 characters.
    static func oneLine(_ s: String) -> String {
        let words = s.split(whereSeparator: { $0.isWhitespace })
        var out = words.joined(separator: " ")
        if out.count > 200 { out = String(out.prefix(199)) + "…" }
        return out
    }
}

/// Parses the ISO-8601 timestamps Claude Code writes (`2025-11-08T12:00:05.123Z`, offsets allowed).
public enum ISOTimestamp {
    public static func parse(_ s: String) -> Date? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<from + count {
                let c = b[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard b.count >= 19, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x20 || b[10] == 0x74,
            b[13] == 0x3A, b[16] == 0x3A,
            let year = num(0, 4), let month = num(5, 2), let day = num(8, 2),
            let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var scale = 0.1
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                fraction += Double(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
        }
        var offsetSeconds = 0
        if i < b.count {
            if b[i] == 0x5A || b[i] == 0x7A {
                i += 1
            } else if b[i] == 0x2B || b[i] == 0x2D, let oh = num(i + 1, 2) {
                let sign = b[i] == 0x2D ? -1 : 1
                var om = 0
                if i + 3 < b.count, b[i + 3] == 0x3A, let m = num(i + 4, 2) { om = m; i += 6 }
                else if let m = num(i + 3, 2) { om = m; i += 5 } else { i += 3 }
                offsetSeconds = sign * (oh * 3600 + om * 60)
            } else {
                return nil
            }
        }
        guard i == b.count else { return nil }
        // Days from the civil date (proleptic Gregorian), after Howard Hinnant.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}
