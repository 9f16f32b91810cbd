import CCPodKit
import CCPodTestSupport
import Foundation

/// A small deterministic random generator (SplitMix64), so a corpus is the same on every machine.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed derived from a string (FNV-1a), for per-file growth that does not depend on order.
    static func seed(_ text: String, _ salt: UInt64) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ salt
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }
}

/// Prose-like filler: words drawn from a fixed vocabulary, so it compresses about as
/// well as real transcripts (3–4x with zlib or zstd), not like a repeated sentence.
final class TextPool: Sendable {
    let bytes: [UInt8]

    init(size: Int = 8 << 20, seed: UInt64 = 42) {
        var rng = SplitMix64(seed: seed)
        let letters = Array("etaoinshrdlcumwfgypbvkjxqz".utf8)
        var vocabulary: [[UInt8]] = []
        for _ in 0..<3000 {
            let length = 2 + Int(rng.next() % 9)
            // Skewed letter choice: common letters more often, as in English.
            vocabulary.append((0..<length).map { _ in letters[Int(min(rng.next() % 26, rng.next() % 26))] })
        }
        let punctuation: [[UInt8]] = [Array(". ".utf8), Array(", ".utf8), Array(" ".utf8), Array("() ".utf8), Array(": ".utf8)]
        var out: [UInt8] = []
        out.reserveCapacity(size + 32)
        while out.count < size {
            // Zipf-like: small indices much more often.
            let r = Double(rng.next() % 1_000_000) / 1_000_000
            let index = min(vocabulary.count - 1, Int(pow(r, 3) * Double(vocabulary.count)))
            out.append(contentsOf: vocabulary[index])
            let p = rng.next() % 12
            out.append(contentsOf: p < 8 ? punctuation[2] : punctuation[Int(p % 5)])
        }
        bytes = Array(out.prefix(size))
    }

    /// `count` bytes starting at a random offset.
    func slice(_ count: Int, _ rng: inout SplitMix64) -> Substring {
        let n = min(count, bytes.count)
        let start = Int(rng.next() % UInt64(bytes.count - n + 1))
        return Substring(String(decoding: bytes[start..<(start + n)], as: UTF8.self))
    }
}

/// Appends conversation turns in Claude Code's format (a short user prompt, then an
/// assistant reply of random length) to a transcript, streaming: memory stays flat
/// however large the file gets.
struct TurnWriter: TurnSource {
    let pool: TextPool
    let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    /// The `uuid`, `sessionId` and `cwd` of the last conversation line of a file (read from its tail).
    static func tail(of path: String) throws -> (uuid: String, sessionId: String, cwd: String) {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size > 1 << 20 ? size - (1 << 20) : 0)
        let data = try handle.readToEnd() ?? Data()
        for line in data.split(separator: 0x0A).reversed() {
            if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
               let uuid = object["uuid"] as? String, let sid = object["sessionId"] as? String, let cwd = object["cwd"] as? String {
                return (uuid, sid, cwd)
            }
        }
        throw BenchError("no conversation line at the end of \(path)")
    }

    /// Appends turns until at least `bytes` more bytes are written; returns the bytes written.
    @discardableResult
    func append(to path: String, bytes: Int, rng: inout SplitMix64, marker: String) throws -> Int {
        var (parent, sessionId, cwd) = try TurnWriter.tail(of: path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        var buffer = Data()
        buffer.reserveCapacity(2 << 20)
        var written = 0
        var clock = Date(timeIntervalSince1970: 1_767_225_600 + Double(rng.next() % 10_000_000))
        func uuid(_ rng: inout SplitMix64) -> String {
            let a = rng.next(), b = rng.next()
            return String(format: "%08x-%04x-4%03x-8%03x-%012llx", UInt32(truncatingIfNeeded: a), UInt16(truncatingIfNeeded: a >> 32),
                          Int(a >> 52) & 0xFFF, Int(b >> 52) & 0xFFF, b & 0xFFFF_FFFF_FFFF)
        }
        var turn = 0
        while written < bytes {
            turn += 1
            clock += 7.5
            let userId = uuid(&rng)
            let prompt = "\(marker)Follow-up \(turn): " + pool.slice(40 + Int(rng.next() % 200), &rng)
            let user = "{\"parentUuid\":\"\(parent)\",\"isSidechain\":false,\"userType\":\"external\",\"cwd\":\"\(cwd)\","
                + "\"sessionId\":\"\(sessionId)\",\"version\":\"2.1.332\",\"gitBranch\":\"main\",\"type\":\"user\","
                + "\"message\":{\"role\":\"user\",\"content\":\"\(prompt)\"},\"uuid\":\"\(userId)\","
                + "\"timestamp\":\"\(formatter.string(from: clock))\",\"entrypoint\":\"cli\"}\n"
            clock += 12.25
            let replyId = uuid(&rng)
            // Replies from a few hundred bytes to ~24 KB, like text answers and long tool output.
            let replyBytes = min(max(200, bytes - written - 1200), 200 + Int(rng.next() % 24_000))
            let reply = "{\"parentUuid\":\"\(userId)\",\"isSidechain\":false,\"userType\":\"external\",\"cwd\":\"\(cwd)\","
                + "\"sessionId\":\"\(sessionId)\",\"version\":\"2.1.332\",\"gitBranch\":\"main\",\"type\":\"assistant\","
                + "\"requestId\":\"req_\(replyId.prefix(8))\",\"message\":{\"id\":\"msg_\(replyId.prefix(8))\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\""
                + pool.slice(replyBytes, &rng)
                + "\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":\(rng.next() % 90_000),\"output_tokens\":\(rng.next() % 4000)}},"
                + "\"uuid\":\"\(replyId)\",\"timestamp\":\"\(formatter.string(from: clock))\",\"entrypoint\":\"cli\"}\n"
            buffer.append(contentsOf: user.utf8)
            buffer.append(contentsOf: reply.utf8)
            written += user.utf8.count + reply.utf8.count
            parent = replyId
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
        return written
    }
}

/// The benchmark corpus: N sessions of log-normal sizes totalling about M bytes, spread
/// over projects, every tenth with a subagent file, in `<claude>/projects/<slug>/`.
enum Corpus {
    /// Session sizes: quantiles of a log-normal distribution (σ = 2.2), scaled to `total`,
    /// at least 4 KB each, shuffled. With 500 sessions / 200 MB the largest is ~30 MB.
    static func sizes(count: Int, total: Int, seed: UInt64) -> [Int] {
        let sigma = 2.2
        var raw = (0..<count).map { i in exp(sigma * inverseNormal((Double(i) + 0.5) / Double(count))) }
        let scale = Double(total) / raw.reduce(0, +)
        raw = raw.map { max(4096, $0 * scale) }
        var rng = SplitMix64(seed: seed)
        return raw.map { Int($0) }.shuffled(using: &rng)
    }

    /// Writes the corpus; returns the transcript paths (relative to `claudeDir`).
    static func generate(claudeDir: String, sessions: Int, totalBytes: Int, turns writer: TurnSource, seed: UInt64 = 7) throws -> [String] {
        let config = URL(fileURLWithPath: claudeDir, isDirectory: true)
        let projects = max(1, sessions / 25)
        var paths: [String] = []
        let sizes = sizes(count: sessions, total: totalBytes, seed: seed)
        for (i, size) in sizes.enumerated() {
            let id = String(format: "%08x-0000-4000-8000-%012x", i, Int(seed))
            var options = SessionFixtures.Options()
            options.subagent = i % 10 == 0
            options.start = Date(timeIntervalSince1970: 1_767_225_600 + Double(i) * 600)
            let url = try SessionFixtures.writeSession(
                in: config, projectPath: "/workspace/runs/project_\(i % projects)/code", sessionId: id, lines: 8, options: options)
            let current = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            if size > current {
                var rng = SplitMix64(seed: seed &+ UInt64(i) &* 7919)
                try writer.append(to: url.path, bytes: size - current, rng: &rng)
            }
            paths.append(String(url.path.dropFirst(claudeDir.count + 1)))
        }
        return paths
    }

    /// One large session (for the memory check), written in a streaming way.
    static func generateBig(claudeDir: String, bytes: Int, turns: TurnSource) throws -> String {
        let config = URL(fileURLWithPath: claudeDir, isDirectory: true)
        let url = try SessionFixtures.writeSession(
            in: config, projectPath: "/workspace/runs/big/code", sessionId: "b16b16b1-0000-4000-8000-000000000001", lines: 8)
        var rng = SplitMix64(seed: 99)
        try turns.append(to: url.path, bytes: bytes, rng: &rng)
        return String(url.path.dropFirst(claudeDir.count + 1))
    }

    /// How much zstd -3 shrinks the tree (one tar stream) and its sessions one by one
    /// (the median over at most 60 of them, evenly spread).
    static func zstdRatios(_ root: String, files: [String]) throws -> (whole: Double, perFile: Double) {
        let whole = try ChildProcess.run("sh", ["-c", "tar -C \"$1\" -cf - . | zstd -3 -q -c | wc -c", "ratio", root])
        let listing = Trees.listing(root)
        let total = Double(listing.values.reduce(0, +))
        let packed = Double(whole.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        var ratios: [Double] = []
        let step = max(1, files.count / 60)
        for path in stride(from: 0, to: files.count, by: step).map({ files[$0] }) {
            let r = try ChildProcess.run("sh", ["-c", "zstd -3 -q -c \"$1\" | wc -c", "ratio", root + "/" + path])
            let size = Double(listing[path] ?? 0)
            if let n = Double(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)), n > 0 { ratios.append(size / n) }
        }
        ratios.sort()
        return (packed > 0 ? total / packed : 0, ratios.isEmpty ? 0 : ratios[ratios.count / 2])
    }

    /// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
    static func inverseNormal(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = sqrt(-2 * log(p))
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - low {
            let q = sqrt(-2 * log(1 - p))
            return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}

/// A failure of the benchmark itself (a tool failed, trees differ): printed, exit 1.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
