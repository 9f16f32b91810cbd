import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a settings file lives and how it is read and written: on this machine, or on a
/// pod through its connection.
public protocol HookSettingsStore: Sendable {
    /// What the user reads in messages (`~/.claude/settings.json`, `gpu1:/root/.claude/settings.json`).
    var origin: String { get }
    /// The file's bytes; nil when it does not exist.
    func read() throws -> Data?
    /// Replaces the file atomically (keeping its permissions), or removes it (nil).
    func write(_ data: Data?) throws
}

/// Claude Code's `settings.json` on this machine. A symlinked file (a dotfiles checkout)
/// is edited where it points, so the link stays.
public struct LocalSettingsFile: HookSettingsStore {
    public let url: URL

    public init(claudeDir: URL) {
        url = claudeDir.appendingPathComponent("settings.json")
    }

    public var origin: String { url.path }

    private var target: URL { url.resolvingSymlinksInPath() }

    public func read() throws -> Data? {
        guard FileManager.default.fileExists(atPath: target.path) else { return nil }
        do {
            return try Data(contentsOf: target)
        } catch {
            throw CCPodError.io("cannot read \(url.path): \(error.localizedDescription)")
        }
    }

    public func write(_ data: Data?) throws {
        let target = self.target
        guard let data else {
            if unlink(target.path) != 0 && errno != ENOENT {
                throw CCPodError.io("cannot remove \(target.path): \(String(cString: strerror(errno)))")
            }
            return
        }
        var mode: mode_t = 0o600
        var info = stat()
        if stat(target.path, &info) == 0 { mode = info.st_mode & 0o7777 }
        try CCPodLocations.makePrivateDirectory(target.deletingLastPathComponent())
        try AtomicFile.write(data, to: target, mode: mode)
    }
}

/// Installs, removes and reports ccpod's hooks in one settings file, remembering what
/// it inserted under `<state>/hooks/` (see `HookInstallRecord`).
public struct HookInstaller: Sendable {
    public let store: any HookSettingsStore
    public let recordFile: URL

    /// `place`: `laptop`, or `pod-<name>`, so each settings file has its own record.
    public init(store: any HookSettingsStore, stateDir: URL, place: String) {
        self.store = store
        let safe = String(place.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(64))
        recordFile = stateDir.appendingPathComponent("hooks", isDirectory: true)
            .appendingPathComponent("\(safe)-\(SHA256Hex.of(Data(store.origin.utf8)).prefix(12)).json")
    }

    public enum Outcome: String, Sendable, Codable {
        case installed, alreadyInstalled = "already-installed", removed, notInstalled = "not-installed"
    }

    /// Adds ccpod's hooks (`commands[event]`) next to the ones already there.
    public func install(commands: [HookEvent: String]) throws -> Outcome {
        let original = try store.read()
        let plan = try HookSettingsPlan.install(original, commands: commands, origin: store.origin)
        guard let result = plan.result else { return .alreadyInstalled }
        // The record first: a cut between the two leaves a record of nothing, which
        // uninstall ignores (its texts are not found).
        try saveRecord(HookInstallRecord(settingsPath: store.origin, createdFile: plan.createdFile, inserted: plan.inserted))
        try store.write(result)
        return .installed
    }

    /// Removes exactly what ccpod added.
    public func uninstall() throws -> Outcome {
        let record = loadRecord()
        guard let current = try store.read() else {
            try? FileManager.default.removeItem(at: recordFile)
            return .notInstalled
        }
        guard !(try HookSettingsPlan.installed(current, origin: store.origin)).isEmpty else {
            try? FileManager.default.removeItem(at: recordFile)
            return .notInstalled
        }
        let result = try HookSettingsPlan.uninstall(current, record: record, origin: store.origin)
        try store.write(result)
        try? FileManager.default.removeItem(at: recordFile)
        return .removed
    }

    /// The events that have one of ccpod's hooks (empty when the file does not exist).
    public func installedEvents() throws -> Set<HookEvent> {
        guard let current = try store.read() else { return [] }
        return try HookSettingsPlan.installed(current, origin: store.origin)
    }

    func loadRecord() -> HookInstallRecord? {
        guard let data = try? Data(contentsOf: recordFile),
            let record = try? JSONDecoder().decode(HookInstallRecord.self, from: data),
            record.settingsPath == store.origin
        else { return nil }
        return record
    }

    func saveRecord(_ record: HookInstallRecord) throws {
        try CCPodLocations.makePrivateDirectory(recordFile.deletingLastPathComponent())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(record), to: recordFile)
    }
}
