import Foundation

/// The Claude Code events ccpod hooks into.
public enum HookEvent: String, Sendable, CaseIterable, Codable {
    case sessionStart = "SessionStart"
    case sessionEnd = "SessionEnd"

    /// The argument of `ccpod hook …` for this event.
    public var argument: String {
        switch self {
        case .sessionStart: "session-start"
        case .sessionEnd: "session-end"
        }
    }
}

/// What ccpod put into one settings file: the exact texts it inserted (or, when it
/// created the file, the whole file), so `uninstall` removes exactly them and leaves the
/// file byte for byte as it was when nothing else changed.
public struct HookInstallRecord: Sendable, Codable, Equatable {
    public var settingsPath: String
    public var createdFile: Bool
    public var inserted: [String]

    public init(settingsPath: String, createdFile: Bool, inserted: [String]) {
        self.settingsPath = settingsPath
        self.createdFile = createdFile
        self.inserted = inserted
    }
}

/// The pure edit of Claude Code's `settings.json` (`{"hooks": {"SessionEnd": [{"hooks":
/// [{"type": "command", "command": …}]}]}}`): ccpod's groups are appended after the
/// hooks already there, by inserting text; nothing else is rewritten, reordered or
/// reformatted, and unknown keys stay as they are.
public enum HookSettingsPlan {
    /// How long Claude lets one of ccpod's hooks run (it returns at once; this is a bound).
    public static let timeoutSeconds = 10

    /// Whether a hook command is one ccpod installed (`… hook session-end`).
    public static func isOurs(_ command: String, _ event: HookEvent) -> Bool {
        command.contains("ccpod") && command.hasSuffix(" hook \(event.argument)")
    }

    public struct Install: Sendable, Equatable {
        /// The new content; nil when everything was installed already.
        public var result: Data?
        /// What was inserted (the whole file when `createdFile`).
        public var inserted: [String]
        public var createdFile: Bool
    }

    /// Adds a group running `commands[event]` to each event that lacks one of ccpod's.
    /// `original` nil: the file does not exist. `origin` names the file in errors.
    public static func install(_ original: Data?, commands: [HookEvent: String], origin: String) throws -> Install {
        let events = HookEvent.allCases.filter { commands[$0] != nil }
        guard let original, !original.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) else {
            // No file (or an empty one): ccpod writes the whole file.
            let members = events.map { "    \(quote($0.rawValue)): [\n      \(group(commands[$0]!))\n    ]" }
            let text = "{\n  \"hooks\": {\n" + members.joined(separator: ",\n") + "\n  }\n}\n"
            // An empty file's blank bytes stay in front, so uninstall gives them back.
            return Install(result: (original ?? Data()) + Data(text.utf8), inserted: [text], createdFile: original == nil)
        }
        let present = try installed(original, origin: origin)
        let missing = events.filter { !present.contains($0) }
        if missing.isEmpty { return Install(result: nil, inserted: [], createdFile: false) }
        let bytes = [UInt8](original)
        let root = try spans(bytes, origin: origin)
        var insertions: [(offset: Int, text: String)] = []
        if let hooks = root.member("hooks") {
            guard hooks.kind == .object else { throw notShaped(origin, "\"hooks\" is not an object") }
            var newMembers: [String] = []
            for event in missing {
                let item = group(commands[event]!)
                if let list = hooks.member(event.rawValue) {
                    guard list.kind == .array else { throw notShaped(origin, "\"hooks\".\"\(event.rawValue)\" is not a list") }
                    insertions.append(insertion(into: list, bytes: bytes, items: [item]))
                } else {
                    newMembers.append("\(quote(event.rawValue)): [ \(item) ]")
                }
            }
            if !newMembers.isEmpty { insertions.append(insertion(into: hooks, bytes: bytes, items: newMembers)) }
        } else {
            let inner = missing.map { "\(quote($0.rawValue)): [ \(group(commands[$0]!)) ]" }.joined(separator: ", ")
            insertions.append(insertion(into: root, bytes: bytes, items: ["\"hooks\": { \(inner) }"]))
        }
        var result = bytes
        for (offset, text) in insertions.sorted(by: { $0.offset > $1.offset }) {
            result.insert(contentsOf: Array(text.utf8), at: offset)
        }
        return Install(result: Data(result), inserted: insertions.map(\.text), createdFile: false)
    }

    /// Removes ccpod's hooks from `current`: first exactly the texts `record` inserted
    /// (byte-identical to before when nothing else changed), then any of ccpod's groups
    /// still there, one element at a time. Returns nil when the file should be removed
    /// (ccpod created it and nothing else was added).
    public static func uninstall(_ current: Data, record: HookInstallRecord?, origin: String) throws -> Data? {
        _ = try installed(current, origin: origin)
        var bytes = [UInt8](current)
        for text in record?.inserted ?? [] {
            let needle = [UInt8](text.utf8)
            let found = occurrences(of: needle, in: bytes)
            if found.count == 1 { bytes.removeSubrange(found[0]..<(found[0] + needle.count)) }
        }
        if bytes.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            // What was there before ccpod wrote its file: nothing, or blank bytes.
            return record?.createdFile == true && bytes.isEmpty ? nil : Data(bytes)
        }
        // What the recorded texts did not cover (the file was reformatted, or no record).
        while let range = try oneOfOurGroups(bytes, origin: origin) {
            bytes.removeSubrange(range)
        }
        return Data(bytes)
    }

    /// The events that have one of ccpod's hooks in this settings text.
    public static func installed(_ data: Data, origin: String) throws -> Set<HookEvent> {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw CCPodError.badData("\(origin) is not valid JSON; ccpod leaves it as it is: fix it (or move it aside) and run this again")
        }
        guard let settings = object as? [String: Any] else {
            throw CCPodError.badData("\(origin) is not a JSON object; ccpod leaves it as it is: fix it (or move it aside) and run this again")
        }
        var found = Set<HookEvent>()
        guard let hooks = settings["hooks"] as? [String: Any] else { return found }
        for event in HookEvent.allCases {
            for group in hooks[event.rawValue] as? [Any] ?? [] {
                for hook in (group as? [String: Any])?["hooks"] as? [Any] ?? [] {
                    if let command = (hook as? [String: Any])?["command"] as? String, isOurs(command, event) { found.insert(event) }
                }
            }
        }
        return found
    }

    /// The settings a pod gets from this machine: ccpod's hooks here removed (they run
    /// this machine's ccpod), the pod's own (`podCommand`) added. Text that is not a JSON
    /// object is returned as it is.
    public static func forPod(_ data: Data, podCommand: String?) -> Data {
        guard let present = try? installed(data, origin: "settings.json") else { return data }
        var out = data
        if !present.isEmpty, let stripped = try? uninstall(data, record: nil, origin: "settings.json") { out = stripped }
        if let podCommand, let added = try? install(out, commands: [.sessionEnd: podCommand], origin: "settings.json").result {
            out = added
        }
        return out
    }

    // MARK: - Text

    /// One group, on one line: `{ "hooks": [ { "type": "command", "command": "…", "timeout": 10 } ] }`.
    static func group(_ command: String) -> String {
        "{ \"hooks\": [ { \"type\": \"command\", \"command\": \(quote(command)), \"timeout\": \(timeoutSeconds) } ] }"
    }

    static func quote(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes])) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Where and what to insert to append `items` to an object's members or an array's
    /// elements, indented like the container's existing children.
    static func insertion(into container: JSONSpan, bytes: [UInt8], items: [String]) -> (offset: Int, text: String) {
        let firstChild = container.kind == .object ? container.members.first?.keyStart : container.elements.first?.start
        let lastEnd = container.kind == .object ? container.members.last?.value.end : container.elements.last?.end
        if let firstChild, let lastEnd {
            let separator = "," + leadingSpace(before: firstChild, bytes: bytes, fallback: " ")
            return (lastEnd, items.map { separator + $0 }.joined())
        }
        // An empty container: one level deeper than the line it opens on.
        let outer = lineIndent(at: container.start, bytes: bytes)
        let inner = "\n" + outer + "  "
        return (container.start + 1, items.map { inner + $0 }.joined(separator: ",") + "\n" + outer)
    }

    /// The whitespace between the previous separator and `offset` (a newline and an
    /// indent, or a space), else `fallback`.
    static func leadingSpace(before offset: Int, bytes: [UInt8], fallback: String) -> String {
        var i = offset
        while i > 0, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i - 1]) { i -= 1 }
        return i < offset ? String(decoding: bytes[i..<offset], as: UTF8.self) : fallback
    }

    /// The indentation of the line that holds `offset`.
    static func lineIndent(at offset: Int, bytes: [UInt8]) -> String {
        var start = offset
        while start > 0, bytes[start - 1] != 0x0A { start -= 1 }
        var end = start
        while end < bytes.count, bytes[end] == 0x20 || bytes[end] == 0x09 { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        guard !needle.isEmpty, needle.count <= haystack.count else { return [] }
        var found: [Int] = []
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], Array(haystack[i..<(i + needle.count)]) == needle {
                found.append(i)
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }

    /// The byte range that removes one group of ccpod's (with its separator), if any.
    static func oneOfOurGroups(_ bytes: [UInt8], origin: String) throws -> Range<Int>? {
        let root = try spans(bytes, origin: origin)
        guard let hooks = root.member("hooks"), hooks.kind == .object else { return nil }
        for event in HookEvent.allCases {
            guard let list = hooks.member(event.rawValue), list.kind == .array else { continue }
            for (index, element) in list.elements.enumerated() {
                let text = Data(bytes[element.start..<element.end])
                guard let object = try? JSONSerialization.jsonObject(with: text) as? [String: Any],
                    let entries = object["hooks"] as? [Any], !entries.isEmpty,
                    entries.allSatisfy({ (($0 as? [String: Any])?["command"] as? String).map { isOurs($0, event) } ?? false })
                else { continue }
                if list.elements.count == 1 { return (list.start + 1)..<(list.end - 1) }
                if index + 1 < list.elements.count { return element.start..<list.elements[index + 1].start }
                return list.elements[index - 1].end..<element.end
            }
        }
        return nil
    }

    static func spans(_ bytes: [UInt8], origin: String) throws -> JSONSpan {
        guard let root = try? JSONSpan.parse(bytes), root.kind == .object else {
            throw CCPodError.badData("\(origin) could not be read as a JSON object; ccpod leaves it as it is")
        }
        return root
    }

    static func notShaped(_ origin: String, _ what: String) -> CCPodError {
        CCPodError.badData("\(origin): \(what), as Claude Code expects; ccpod leaves the file as it is: fix it and run this again")
    }
}
