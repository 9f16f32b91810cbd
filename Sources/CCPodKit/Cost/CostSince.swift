import Foundation

/// `--since`: a duration back from now (`30m`, `24h`, `7d`, `2w`) or a date
/// (`2026-11-01`, midnight in the calendar's time zone; or `2026-11-01T12:00:00Z`).
public enum CostSince {
    /// The earliest `--since` accepts: ten years back.
    public static let longest: TimeInterval = 3650 * 86400

    public static func parse(_ text: String, now: Date, calendar: Calendar = .current) throws -> Date {
        let value = text.trimmingCharacters(in: .whitespaces)
        func refuse(_ why: String = "") -> CCPodError {
            .usage("--since takes a duration (30m, 24h, 7d, 2w) or a date (2026-11-01)\(why); got '\(TerminalText.escape(String(value.prefix(40))))'")
        }
        var date: Date?
        if let unit = value.last, "mhdw".contains(unit), let count = Int(value.dropLast()) {
            guard count > 0 else { throw refuse(": a duration is more than 0") }
            let seconds: Double = ["m": 60, "h": 3600, "d": 86400, "w": 604_800][String(unit)]!
            guard Double(count) * seconds <= longest else { throw refuse(": at most ten years back") }
            date = now.addingTimeInterval(-Double(count) * seconds)
        } else if value.count == 10, value.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil {
            let parts = value.split(separator: "-").compactMap { Int($0) }
            var components = DateComponents()
            components.year = parts[0]
            components.month = parts[1]
            components.day = parts[2]
            if let day = calendar.date(from: components), calendar.component(.month, from: day) == parts[1],
               calendar.component(.day, from: day) == parts[2] {
                date = day
            }
        } else {
            date = RunPodAPI.parseRFC3339(value)
        }
        guard let date else { throw refuse() }
        guard date <= now else { throw refuse(": it is in the future") }
        guard now.timeIntervalSince(date) <= longest else { throw refuse(": at most ten years back") }
        return date
    }
}
