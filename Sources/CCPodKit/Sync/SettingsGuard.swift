import Foundation

/// The pod's `settings.json` keeps the user's settings but gets a `cleanupPeriodDays`
/// large enough that Claude Code's retention sweep never deletes synced sessions
/// there (they arrive with old timestamps).
public enum SettingsGuard {
    /// About a hundred years.
    public static let cleanupPeriodDays = 36500

    /// The settings with the guard applied; the input unchanged when it already has it
    /// or is not a JSON object (then Claude would not read it either).
    public static func apply(to data: Data) throws -> Data {
        guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return data }
        if let days = object["cleanupPeriodDays"] as? Int, days >= cleanupPeriodDays { return data }
        object["cleanupPeriodDays"] = cleanupPeriodDays
        var out = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        out.append(0x0A)
        return out
    }
}
