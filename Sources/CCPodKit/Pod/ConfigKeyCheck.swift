import Foundation
import TOMLKit

/// Finds keys ccpod does not know in `config.toml` and `.ccpod.toml` (a typo such as
/// `pod_pth` would otherwise be ignored without a word) and names each with its file
/// and line. Pure: text in, sentences out; the command prints them.
public enum ConfigKeyCheck {
    /// Keys of `config.toml` at the top level.
    public static let configKeys: Set<String> = ["defaultPod", "pods", "share"]
    /// Keys of the `[share]` table.
    public static var shareKeys: Set<String> { ShareSettings.keys }
    /// Keys of a `[pods.NAME]` table.
    public static let podKeys: Set<String> = Set([
        "direct", "proxy", "identity", "runpodId", "apiKeyFile", "claudeDir", "persistentDir", "workspace",
        "environmentFile", "hostKeyFile", "installCommand", "binDir", "tmux", "tmuxSocket", "claudeEnv", "inactivityTimeout",
        "sshOptions", "pod_keep", "pod_keep_days",
    ]).union(budgetKeys)
    /// The spending limits (`CostBudget`), in a pod's table and in `.ccpod.toml`.
    static var budgetKeys: Set<String> { Set(CostBudget.Key.allCases.map(\.rawValue)) }
    /// Keys of a pod's inline `direct = { … }` table.
    public static let directKeys: Set<String> = ["user", "host", "port"]
    /// Keys of `.ccpod.toml`.
    public static let projectKeys: Set<String> = Set(["pod", "pod_path"]).union(budgetKeys)

    /// Warnings for `config.toml`'s text; nothing for text that is not TOML (loading it says why).
    public static func configWarnings(_ text: String, origin: String) -> [String] {
        guard let table = try? TOMLTable(string: text) else { return [] }
        return configWarnings(table, text: text, origin: origin)
    }

    /// The same for a table already parsed from `text` (loading parses once); the text
    /// is scanned for line numbers only when a key is unknown.
    static func configWarnings(_ table: TOMLTable, text: String, origin: String) -> [String] {
        var found: [[String]] = []
        for key in table.keys where !configKeys.contains(key) { found.append([key]) }
        if let share = table["share"]?.table {
            for key in share.keys where !shareKeys.contains(key) { found.append(["share", key]) }
        }
        if let pods = table["pods"]?.table {
            for name in pods.keys {
                guard let pod = pods[name]?.table else { continue }
                for key in pod.keys where !podKeys.contains(key) { found.append(["pods", name, key]) }
                if let direct = pod["direct"]?.table {
                    for key in direct.keys where !directKeys.contains(key) { found.append(["pods", name, "direct", key]) }
                }
            }
        }
        guard !found.isEmpty else { return [] }
        let lines = KeyLines(text)
        return found.map { sentence($0, origin: origin, line: lines.line(of: $0), known: known(for: $0)) }
    }

    /// Warnings for `.ccpod.toml`'s text.
    public static func projectWarnings(_ text: String, origin: String) -> [String] {
        guard let table = try? TOMLTable(string: text) else { return [] }
        return projectWarnings(table, text: text, origin: origin)
    }

    /// The same for a table already parsed from `text`.
    static func projectWarnings(_ table: TOMLTable, text: String, origin: String) -> [String] {
        let unknown = table.keys.filter { !projectKeys.contains($0) }.sorted()
        guard !unknown.isEmpty else { return [] }
        let lines = KeyLines(text)
        return unknown.map { sentence([$0], origin: origin, line: lines.line(of: [$0]), known: projectKeys) }
    }

    static func known(for path: [String]) -> Set<String> {
        switch path.count {
        case 1: return configKeys
        case 2 where path[0] == "share": return shareKeys
        case 3: return podKeys
        default: return directKeys
        }
    }

    static func sentence(_ path: [String], origin: String, line: Int?, known: Set<String>) -> String {
        let place = line.map { "\(origin):\($0)" } ?? origin
        let key = path.joined(separator: ".")
        let last = path.last ?? key
        if let close = known.min(by: { distance($0, last) < distance($1, last) }), distance(close, last) <= 2 {
            return "\(place): unknown key `\(key)` is ignored; did you mean `\(close)`?"
        }
        return "\(place): unknown key `\(key)` is ignored (known here: \(known.sorted().joined(separator: ", ")))"
    }

    /// Edit distance, case-insensitive; small strings only.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.lowercased()), y = Array(b.lowercased())
        var row = Array(0...y.count)
        for i in 1...max(1, x.count) where !x.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: y.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (x[i - 1] == y[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return x.isEmpty ? y.count : row[y.count]
    }

    /// The line where each key path is written: `[table.headers]`, `key = value`,
    /// dotted keys and `"quoted"` keys; keys inside inline tables by their own name
    /// after the line of the table that holds them. Good enough to point at a line;
    /// nil when a key is not found.
    struct KeyLines {
        private var lines: [[String]: Int] = [:]

        init(_ text: String) {
            var table: [String] = []
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                if line.hasPrefix("[") && !line.hasPrefix("[[") {
                    if let close = line.firstIndex(of: "]") {
                        table = Self.path(String(line[line.index(after: line.startIndex)..<close]))
                        record(table, index + 1)
                    }
                    continue
                }
                guard let equals = line.firstIndex(of: "=") else { continue }
                let key = table + Self.path(String(line[..<equals]))
                record(key, index + 1)
                // An inline table's keys: `direct = { user = "root", port = 1 }`.
                let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("{") {
                    for part in value.dropFirst().split(separator: ",") {
                        if let e = part.firstIndex(of: "=") { record(key + Self.path(String(part[..<e])), index + 1) }
                    }
                }
            }
        }

        private mutating func record(_ path: [String], _ line: Int) {
            if lines[path] == nil { lines[path] = line }
        }

        func line(of path: [String]) -> Int? { lines[path] }

        static func path(_ text: String) -> [String] {
            text.split(separator: ".").map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            }
        }
    }
}

/// Where config warnings go: each distinct sentence once per process. The command line
/// sets `sink` to print on stderr; nothing is printed by default (library use, tests).
public enum ConfigNotices {
    private static let state = Locked<(seen: Set<String>, sink: (@Sendable (String) -> Void)?)>((seen: [], sink: nil))

    /// Sends `warnings` not sent before to the sink.
    public static func emit(_ warnings: [String]) {
        guard !warnings.isEmpty else { return }
        let (fresh, sink) = state.withLock { s -> ([String], (@Sendable (String) -> Void)?) in
            let fresh = warnings.filter { s.seen.insert($0).inserted }
            return (fresh, s.sink)
        }
        if let sink { fresh.forEach(sink) }
    }

    /// Sets where warnings go.
    public static func setSink(_ sink: (@Sendable (String) -> Void)?) {
        state.withLock { $0.sink = sink }
    }
}
