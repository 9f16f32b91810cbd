import Foundation

/// One run in the pod's registry (`<persistentDir>/runs/<folder>.json`, one line of JSON
/// written by the deploy script) and in ccpod's local copy of it.
public struct RunRecord: Sendable, Codable, Equatable {
    /// The run's name (`--run`).
    public var name: String
    /// The run's folder name under `<workspace>/runs/`: `<name>_<YYYYmmdd-HHMMSS>`.
    public var folder: String
    /// The run folder on the pod (pod-absolute, without a `local:` pod's root).
    public var directory: String
    /// When the run was first deployed (ISO 8601, UTC).
    public var created: String
    /// When it was last deployed or updated (ISO 8601, UTC).
    public var deployed: String
    /// The annotated tag of the last deploy (`ccpod/<name>-<YYYYmmdd-HHMMSS>`).
    public var tag: String
    /// The commit checked out in `code/`.
    public var commit: String
    /// The local project's folder it was deployed from.
    public var project: String
    /// Whether `commit` is a snapshot of uncommitted changes (`--allow-dirty`).
    public var snapshot: Bool

    public init(name: String, folder: String, directory: String, created: String, deployed: String,
                tag: String, commit: String, project: String, snapshot: Bool) {
        self.name = name
        self.folder = folder
        self.directory = directory
        self.created = created
        self.deployed = deployed
        self.tag = tag
        self.commit = commit
        self.project = project
        self.snapshot = snapshot
    }

    /// `<directory>/code`, where Claude Code works on the pod.
    public var codePath: String { directory + "/code" }

    /// One line of JSON, as stored on the pod.
    public func jsonLine() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// Rules for run names and the timestamps in folder and tag names.
public enum RunName {
    /// Accepts letters, digits, `.`, `_` and `-`, starting with a letter or digit, up
    /// to 64 characters: the name goes into a folder name and a git tag.
    public static func validate(_ name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
        guard !name.isEmpty, name.count <= 64, allowed,
              let first = name.unicodeScalars.first, CharacterSet.alphanumerics.contains(first),
              !name.contains(".."), !name.hasSuffix("."), !name.hasSuffix(".lock") else {
            throw CCPodError.usage("run name \"\(name)\" is not allowed: use letters, digits, `.`, `_` and `-` (no `/`, no spaces), starting with a letter or digit, as in --run stage1_dpo")
        }
    }

    /// A run name from a project folder's name (`my app` → `my-app`).
    public static func defaultName(projectRoot: String) -> String {
        var name = String(URL(fileURLWithPath: projectRoot).lastPathComponent.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar)) ? Character(scalar) : "-"
        })
        while let first = name.unicodeScalars.first, !CharacterSet.alphanumerics.contains(first) { name.removeFirst() }
        while name.hasSuffix(".") { name.removeLast() }
        name = String(name.prefix(64))
        return (try? validate(name)) == nil ? "run" : name
    }

    /// `YYYYmmdd-HHMMSS` in UTC.
    public static func stamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: date)
    }

    /// ISO 8601 in UTC, as the records keep dates.
    public static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

/// ccpod's local copy of the runs it deployed to one pod (`<pod state>/runs.json`):
/// it tells `--update` which commit the pod has without asking the pod.
public struct LocalRunRecords: Sendable {
    public let file: URL

    public init(podStateDir: URL) { file = podStateDir.appendingPathComponent("runs.json") }

    public func load() -> [RunRecord] {
        (try? JSONDecoder().decode([RunRecord].self, from: Data(contentsOf: file))) ?? []
    }

    /// Adds or replaces the record of `record.folder`.
    public func remember(_ record: RunRecord) throws {
        var all = load().filter { $0.folder != record.folder }
        all.append(record)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        try AtomicFile.write(try encoder.encode(all.sorted { $0.folder < $1.folder }), to: file)
    }
}

extension Array where Element == RunRecord {
    /// The most recently deployed record (ties: the later created, then the later folder).
    public var latest: RunRecord? {
        self.max { a, b in (a.deployed, a.created, a.folder) < (b.deployed, b.created, b.folder) }
    }
}
