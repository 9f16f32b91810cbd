import CCPodKit
import Foundation

/// Something that appends conversation turns in Claude Code's format to a transcript.
protocol TurnSource {
    /// Appends turns until at least `bytes` more bytes are written; returns the bytes written.
    @discardableResult
    func append(to path: String, bytes: Int, rng: inout SplitMix64, marker: String) throws -> Int
}

extension TurnSource {
    @discardableResult
    func append(to path: String, bytes: Int, rng: inout SplitMix64) throws -> Int {
        try append(to: path, bytes: bytes, rng: &rng, marker: "")
    }
}

/// The "varied" corpus's turns: what a coding session with Claude Code writes, in the
/// proportions real transcripts have, with text generated afresh rather than sliced
/// from a pool (so no compressor's window holds all of it):
///
/// - every line's metadata (ids, cwd, version, branch, timestamps, usage);
/// - prose for prompts, replies and thinking (with its signature, which does not
///   compress), from a vocabulary of 20,000 invented words with Zipf frequencies;
/// - tool calls and their results as Claude Code records them: a Read's file contents
///   twice (numbered in the result, raw in `toolUseResult`), an Edit with the whole
///   original file, a Bash command's progress lines each repeating the output so far,
///   training logs, occasional base64 screenshots;
/// - each project's source files generated once and read again and again, as a
///   session keeps reading the files it works on.
///
/// zstd -3 shrinks it about as much as real transcripts (7–11x; see docs/BENCHMARKS.md).
final class VariedTurns: TurnSource {
    private let words: [String]
    private let cumulative: [Double]
    private var files: [String: [String]] = [:]
    private let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    init(seed: UInt64 = 2026) {
        var rng = SplitMix64(seed: seed)
        let onsets = ["", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "pr", "ch", "sh", "th", "gr", "pl"]
        let vowels = ["a", "e", "i", "o", "u", "ea", "ou", "io", "ai"]
        let codas = ["", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck", "m"]
        var seen = Set<String>()
        var list: [String] = []
        while list.count < 20_000 {
            let syllables = 1 + Int(rng.next() % 3)
            var w = ""
            for _ in 0..<syllables {
                w += onsets[Int(rng.next() % UInt64(onsets.count))] + vowels[Int(rng.next() % UInt64(vowels.count))]
                    + codas[Int(rng.next() % UInt64(codas.count))]
            }
            if seen.insert(w).inserted { list.append(w) }
        }
        words = list
        var total = 0.0
        cumulative = (1...list.count).map { rank in
            total += 1 / pow(Double(rank), 1.07)
            return total
        }
    }

    // MARK: - Text

    func word(_ rng: inout SplitMix64) -> String {
        let x = Double(rng.next() % 1_000_000_000) / 1_000_000_000 * cumulative[cumulative.count - 1]
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return words[lo]
    }

    func prose(_ bytes: Int, _ rng: inout SplitMix64) -> String {
        var out = ""
        while out.utf8.count < bytes {
            let n = 6 + Int(rng.next() % 18)
            var sentence = (0..<n).map { _ in word(&rng) }
            sentence[0] = sentence[0].prefix(1).uppercased() + sentence[0].dropFirst()
            if rng.next() % 5 == 0 { sentence[Int(rng.next() % UInt64(n))] = "`" + identifier(&rng) + "`" }
            out += sentence.joined(separator: " ") + [". ", ". ", ", and ", "? ", ".\n\n", ":\n- "][Int(rng.next() % 6)]
        }
        return out
    }

    func identifier(_ rng: inout SplitMix64) -> String {
        rng.next() % 3 == 0 ? word(&rng) : word(&rng) + "_" + word(&rng)
    }

    func base64(_ bytes: Int, _ rng: inout SplitMix64) -> String {
        var raw = [UInt8]()
        raw.reserveCapacity(bytes + 8)
        while raw.count < bytes { withUnsafeBytes(of: rng.next()) { raw.append(contentsOf: $0) } }
        return Data(raw.prefix(bytes)).base64EncodedString()
    }

    /// A project's source file, the same every time it is asked for.
    func sourceFile(project: String, index: Int) -> [String] {
        let key = "\(project)#\(index)"
        if let lines = files[key] { return lines }
        var rng = SplitMix64(seed: SplitMix64.seed(key, 77))
        var lines = ["import \(word(&rng))", "from \(word(&rng)).\(word(&rng)) import \(identifier(&rng)), \(identifier(&rng))", ""]
        let functions = 3 + Int(rng.next() % 14)
        for _ in 0..<functions {
            let f = identifier(&rng), a = word(&rng), b = word(&rng), v = identifier(&rng)
            lines += ["", "def \(f)(self, \(a), \(b)=\(rng.next() % 100)):",
                      "    \"\"\"\(prose(40 + Int(rng.next() % 80), &rng).trimmingCharacters(in: .whitespacesAndNewlines))\"\"\"",
                      "    \(v) = self.\(identifier(&rng))(\(a), \(b))"]
            for _ in 0..<(2 + Int(rng.next() % 12)) {
                switch rng.next() % 5 {
                case 0: lines.append("    if \(v) is None:\n        raise ValueError(\"\(word(&rng)) \(word(&rng)) \(word(&rng))\")")
                case 1: lines.append("    for \(word(&rng)) in range(len(\(a))):\n        \(v) += \(a)[\(rng.next() % 8)] * \(Double(rng.next() % 1000) / 100)")
                case 2: lines.append("    \(identifier(&rng)) = \(v).\(word(&rng))(\(b), axis=\(rng.next() % 3))")
                case 3: lines.append("    # \(prose(30 + Int(rng.next() % 50), &rng).trimmingCharacters(in: .whitespacesAndNewlines))")
                default: lines.append("    self.\(identifier(&rng)) = \(v)")
                }
            }
            lines.append("    return \(v)")
        }
        let text = lines.joined(separator: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        files[key] = text
        return text
    }

    func trainingLog(_ lines: Int, _ rng: inout SplitMix64) -> String {
        var step = Int(rng.next() % 10_000), loss = 2.5 + Double(rng.next() % 100) / 100
        var out = ""
        for _ in 0..<lines {
            step += 50
            loss *= 0.995 + Double(rng.next() % 100) / 20_000
            out += String(format: "epoch %d step %d | loss %.4f | lr %.2e | grad_norm %.3f | %.1f samples/s\n",
                          step / 5000, step, loss, 3e-4 * (1 - Double(step) / 1e6), Double(rng.next() % 5000) / 1000,
                          900 + Double(rng.next() % 2000) / 10)
        }
        return out
    }

    // MARK: - Lines

    struct Context {
        var parent: String
        var sessionId: String
        var cwd: String
        var clock: Date
        var slug: String
    }

    func uuid(_ rng: inout SplitMix64) -> String {
        let a = rng.next(), b = rng.next()
        return String(format: "%08x-%04x-4%03x-8%03x-%012llx", UInt32(truncatingIfNeeded: a), UInt16(truncatingIfNeeded: a >> 32),
                      Int(a >> 52) & 0xFFF, Int(b >> 52) & 0xFFF, b & 0xFFFF_FFFF_FFFF)
    }

    /// One line: Claude Code's common fields around `body` (JSON members without braces).
    func line(_ c: inout Context, _ type: String, _ body: String, _ rng: inout SplitMix64) -> String {
        let id = uuid(&rng)
        c.clock += Double(rng.next() % 9000) / 1000
        let text = "{\"parentUuid\":\"\(c.parent)\",\"isSidechain\":false,\"userType\":\"external\",\"cwd\":\(json(c.cwd)),"
            + "\"sessionId\":\"\(c.sessionId)\",\"version\":\"2.1.39\",\"gitBranch\":\"main\",\"slug\":\"\(c.slug)\",\"type\":\"\(type)\","
            + body + ",\"uuid\":\"\(id)\",\"timestamp\":\"\(formatter.string(from: c.clock))\"}\n"
        c.parent = id
        return text
    }

    func assistant(_ c: inout Context, _ content: String, _ rng: inout SplitMix64) -> String {
        let r = uuid(&rng).replacingOccurrences(of: "-", with: "").prefix(24)
        return line(&c, "assistant", "\"requestId\":\"req_\(r)\",\"message\":{\"model\":\"claude-opus-4-5\",\"id\":\"msg_\(r)\","
            + "\"type\":\"message\",\"role\":\"assistant\",\"content\":[\(content)],\"stop_reason\":null,\"stop_sequence\":null,"
            + "\"usage\":{\"input_tokens\":\(rng.next() % 20),\"cache_creation_input_tokens\":\(rng.next() % 9000),"
            + "\"cache_read_input_tokens\":\(rng.next() % 120_000),\"output_tokens\":\(rng.next() % 3000),\"service_tier\":\"standard\"}}",
            &rng)
    }

    /// One turn: a prompt, thinking, tool calls with their results, a reply.
    func turn(_ c: inout Context, marker: String, _ rng: inout SplitMix64) -> String {
        var out = line(&c, "user", "\"message\":{\"role\":\"user\",\"content\":\(json(marker + prose(60 + Int(rng.next() % 400), &rng)))}", &rng)
        if rng.next() % 2 == 0 {
            out += assistant(&c, "{\"type\":\"thinking\",\"thinking\":\(json(prose(200 + Int(rng.next() % 1500), &rng))),"
                + "\"signature\":\"\(base64(300 + Int(rng.next() % 400), &rng))\"}", &rng)
        }
        for _ in 0..<(1 + Int(rng.next() % 6)) { out += toolStep(&c, &rng) }
        out += assistant(&c, "{\"type\":\"text\",\"text\":\(json(prose(100 + Int(rng.next() % 2500), &rng)))}", &rng)
        if rng.next() % 4 == 0 {
            out += "{\"type\":\"file-history-snapshot\",\"messageId\":\"\(uuid(&rng))\",\"snapshot\":{\"messageId\":\"\(uuid(&rng))\","
                + "\"trackedFileBackups\":{},\"timestamp\":\"\(formatter.string(from: c.clock))\"},\"isSnapshotUpdate\":false}\n"
        }
        return out
    }

    func toolStep(_ c: inout Context, _ rng: inout SplitMix64) -> String {
        let toolId = "toolu_01" + base64(18, &rng).filter { $0.isLetter || $0.isNumber }.prefix(22)
        let project = c.cwd
        // A session keeps coming back to the few files it works on.
        let index = Int(pow(Double(rng.next() % 1000) / 1000, 2.5) * 40)
        let path = "\(project)/src/\(words[index * 7 % words.count])_\(index).py"
        let file = sourceFile(project: project, index: index)
        var out = ""
        func use(_ name: String, _ input: String) -> String {
            assistant(&c, "{\"type\":\"tool_use\",\"id\":\"\(toolId)\",\"name\":\"\(name)\",\"input\":{\(input)}}", &rng)
        }
        func result(_ content: String, _ extra: String) -> String {
            line(&c, "user", "\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"\(toolId)\",\"type\":\"tool_result\","
                + "\"content\":\(content)}]},\"toolUseResult\":{\(extra)}", &rng)
        }
        switch rng.next() % 10 {
        case 0, 1, 2, 3:
            out += use("Read", "\"file_path\":\(json(path))")
            let numbered = file.enumerated().map { String(format: "%6d\u{2192}", $0.offset + 1) + $0.element }.joined(separator: "\n")
            let raw = file.joined(separator: "\n")
            out += result(json(numbered), "\"type\":\"text\",\"file\":{\"filePath\":\(json(path)),\"content\":\(json(raw)),"
                + "\"numLines\":\(file.count),\"startLine\":1,\"totalLines\":\(file.count)}")
        case 4, 5:
            let at = Int(rng.next() % UInt64(file.count))
            let old = file[at], new = old + "  # " + word(&rng)
            out += use("Edit", "\"file_path\":\(json(path)),\"old_string\":\(json(old)),\"new_string\":\(json(new)),\"replace_all\":false")
            let snippet = file[max(0, at - 4)..<min(file.count, at + 5)].enumerated()
                .map { String(format: "%6d\u{2192}", max(0, at - 4) + $0.offset + 1) + $0.element }.joined(separator: "\n")
            out += result(json("The file \(path) has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n" + snippet),
                          "\"filePath\":\(json(path)),\"oldString\":\(json(old)),\"newString\":\(json(new)),"
                          + "\"originalFile\":\(json(file.joined(separator: "\n"))),\"structuredPatch\":[{\"oldStart\":\(at + 1),\"oldLines\":1,"
                          + "\"newStart\":\(at + 1),\"newLines\":1,\"lines\":[\(json("-" + old)),\(json("+" + new))]}],\"userModified\":false,\"replaceAll\":false")
        case 6, 7, 8:
            let command = "python train.py --\(word(&rng)) \(rng.next() % 64) --\(word(&rng))_\(word(&rng)) \(Double(rng.next() % 100) / 1000)"
            out += use("Bash", "\"command\":\(json(command)),\"description\":\(json(prose(30, &rng).trimmingCharacters(in: .whitespacesAndNewlines)))")
            let output = trainingLog(5 + Int(rng.next() % 120), &rng)
            let lines = output.split(separator: "\n")
            var shown = 0
            for step in 1...min(4, lines.count) {
                shown = lines.count * step / min(4, lines.count)
                let sofar = lines.prefix(shown).joined(separator: "\n")
                out += line(&c, "progress", "\"data\":{\"type\":\"bash_progress\",\"output\":\(json(String(lines[shown - 1]))),"
                    + "\"fullOutput\":\(json(sofar)),\"elapsedTimeSeconds\":\(step * 2),\"totalLines\":\(shown),\"timeoutMs\":120000},"
                    + "\"toolUseID\":\"bash-progress-\(step)\",\"parentToolUseID\":\"\(toolId)\"", &rng)
            }
            out += result(json(output), "\"stdout\":\(json(output)),\"stderr\":\"\",\"interrupted\":false,\"isImage\":false")
        default:
            if rng.next() % 6 == 0 {
                out += use("Read", "\"file_path\":\(json(project + "/plots/loss.png"))")
                let data = base64(4000 + Int(rng.next() % 16_000), &rng)
                out += result("[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"\(data)\"}}]",
                              "\"type\":\"image\",\"file\":{\"base64\":\"\(data)\",\"type\":\"image/png\"}")
            } else {
                let pattern = word(&rng)
                out += use("Grep", "\"pattern\":\(json(pattern)),\"path\":\(json(project)),\"output_mode\":\"content\"")
                let hits = (0..<(1 + Int(rng.next() % 20))).map { _ -> String in
                    let i = Int(rng.next() % 40), f = sourceFile(project: project, index: i)
                    let n = Int(rng.next() % UInt64(f.count))
                    return "\(project)/src/\(words[i * 7 % words.count])_\(i).py:\(n + 1):\(f[n])"
                }.joined(separator: "\n")
                out += result(json(hits), "\"mode\":\"content\",\"numFiles\":3,\"filenames\":[],\"content\":\(json(hits)),\"numLines\":20")
            }
        }
        return out
    }

    // MARK: - Appending

    func append(to path: String, bytes: Int, rng: inout SplitMix64, marker: String) throws -> Int {
        let (parent, sessionId, cwd) = try TurnWriter.tail(of: path)
        var c = Context(parent: parent, sessionId: sessionId, cwd: cwd,
                        clock: Date(timeIntervalSince1970: 1_767_225_600 + Double(rng.next() % 10_000_000)),
                        slug: "\(word(&rng))-\(word(&rng))-\(word(&rng))")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        var buffer = Data()
        var written = 0
        while written < bytes {
            let text = turn(&c, marker: marker, &rng)
            buffer.append(contentsOf: text.utf8)
            written += text.utf8.count
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
        return written
    }
}

/// A JSON string literal (the export format's escaping).
func json(_ s: String) -> String { ExportFormat.quote(s) }
