import CCPodKit
import Foundation

/// A temporary state dir with a ledger, and fixed times for cost tests.
final class CostTestBed {
    let root: URL
    let locations: CCPodLocations

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-cost-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        locations = CCPodLocations(configDir: root.appendingPathComponent("config/ccpod"),
                                   stateDir: root.appendingPathComponent("state/ccpod"))
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func ledger() throws -> CostLedger { try CostLedger.open(locations: locations) }

    var ledgerFile: URL { locations.stateDir.appendingPathComponent("ledger.sqlite") }

    /// The environment of a ccpod run on this bed.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path, "TZ": "UTC",
                   "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        env.merge(extra) { $1 }
        return env
    }

    func writeConfig(_ text: String) throws {
        try CCPodLocations.makePrivateDirectory(locations.configDir)
        try text.write(to: locations.configFile, atomically: true, encoding: .utf8)
    }
}

enum CostTime {
    /// A UTC calendar, so days do not depend on the machine's time zone.
    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    /// `2026-11-20T10:00:00Z` and friends.
    static func at(_ text: String) -> Date {
        let f = ISO8601DateFormatter()
        return f.date(from: text)!
    }
}

/// The built `ccpod` next to the test bundle, or nil.
let costTestBinary: String? = {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("ccpod").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

func near(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool { abs(a - b) <= tolerance }
