import CCPodKit
import Foundation

/// `ccpod cost` as a table, a bar per day, and JSON.
enum CostRendering {
    /// Widest the output gets.
    static let width = 80
    /// Cells of the longest bar.
    static let barCells = 46

    static func text(_ report: CostReport, calendar: Calendar, unicode: Bool, home: String? = nil) -> String {
        var out = "from \(stamp(report.from, calendar: calendar)) to \(stamp(report.to, calendar: calendar))\n\n"
        let heading = report.grouping.rawValue.uppercased()
        var rows = [[heading, "GPU-HOURS", "BILLED", "ESTIMATED", "TOTAL"]]
        for row in report.rows { rows.append([label(row.key, grouping: report.grouping, home: home)] + figures(row.figures)) }
        if report.rows.isEmpty { rows.append(["(nothing recorded)", "", "", "", ""]) }
        rows.append([report.grouping == .pod ? "total" : "all pods"] + figures(report.total))
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for (n, row) in rows.enumerated() {
            if n == rows.count - 1 { out += String(repeating: unicode ? "─" : "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)) + "\n" }
            var line = row.indices.map { i in i == 0 ? pad(row[i], widths[i]) : padLeft(row[i], widths[i]) }.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        out += "\n" + chart(report.days, calendar: calendar, unicode: unicode)
        var notes: [String] = []
        if report.total.estimatedUSD > 0 || report.rows.contains(where: { $0.figures.estimatedUSD > 0 }) {
            notes.append("~ estimated: $/h × the time ccpod saw the pod run" + (report.grouping == .pod ? "" : " (for projects and runs: time in Claude)"))
        }
        if report.total.unpricedHours > 0 {
            notes.append("\(CostFormat.hours(report.total.unpricedHours)) without a known price: `ccpod cost record NAME --status RUNNING --usd-per-hour N`")
        }
        if !notes.isEmpty { out += "\n" + notes.joined(separator: "\n") + "\n" }
        return out
    }

    static func figures(_ f: CostFigures) -> [String] {
        [String(format: "%.1f", f.gpuHours),
         f.billedUSD > 0 ? CostFormat.usd(f.billedUSD) : "-",
         f.estimatedUSD > 0 ? "~" + CostFormat.usd(f.estimatedUSD) : "-",
         (f.estimatedUSD > 0 ? "~" : "") + CostFormat.usd(f.usd)]
    }

    /// A project's folder with `~` for home, at most 36 characters (the end kept).
    static func label(_ key: String, grouping: CostGrouping, home: String?) -> String {
        var text = key
        if grouping == .project, let home, !home.isEmpty, text == home || text.hasPrefix(home + "/") {
            text = "~" + text.dropFirst(home.count)
        }
        return text.count > 36 ? "…" + String(text.suffix(35)) : text
    }

    /// One line per day: `11-29 Sat ████▌▒▒▒   $3.10  7.0 h`. Billed in full blocks (eighths
    /// at its end), estimated in shade; the longest day fills the bar.
    static func chart(_ days: [CostDay], calendar: Calendar, unicode: Bool) -> String {
        let largest = days.map(\.figures.usd).max() ?? 0
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = calendar
        formatter.timeZone = calendar.timeZone
        formatter.dateFormat = "MM-dd EEE"
        var out = ""
        for day in days {
            let bar = largest > 0 ? self.bar(billed: day.figures.billedUSD, estimated: day.figures.estimatedUSD, largest: largest, unicode: unicode) : ""
            let amount = day.figures.usd > 0 ? (day.figures.estimatedUSD > 0 ? "~" : "") + CostFormat.usd(day.figures.usd) : "-"
            let hours = day.figures.gpuHours > 0 ? CostFormat.hours(day.figures.gpuHours) : ""
            out += formatter.string(from: day.start) + " " + pad(bar, barCells) + " " + padLeft(amount, 10) + " " + padLeft(hours, 7)
            while out.hasSuffix(" ") { out.removeLast() }
            out += "\n"
        }
        out += unicode ? "█ billed  ▒ estimated\n" : "# billed  = estimated\n"
        return out
    }

    static func bar(billed: Double, estimated: Double, largest: Double, unicode: Bool) -> String {
        let eighths = Double(barCells * 8)
        let billedEighths = Int((max(0, billed) / largest * eighths).rounded())
        let totalEighths = Int((max(0, billed + estimated) / largest * eighths).rounded())
        var bar = String(repeating: unicode ? "█" : "#", count: billedEighths / 8)
        let rest = billedEighths % 8
        if rest > 0 { bar += unicode ? String(Array("▏▎▍▌▋▊▉")[rest - 1]) : "#" }
        if billed > 0 && bar.isEmpty { bar = unicode ? "▏" : "#" }
        if estimated > 0 {
            let cells = max(1, (totalEighths + 4) / 8 - bar.count)
            bar += String(repeating: unicode ? "▒" : "=", count: cells)
        }
        return String(bar.prefix(barCells))
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    static func padLeft(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

    static func stamp(_ date: Date, calendar: Calendar) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = calendar.timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: date)
    }

    // MARK: - JSON

    struct FiguresJSON: Encodable {
        var gpuHours, billedUSD, estimatedUSD, totalUSD, unpricedGPUHours: Double
        init(_ f: CostFigures) {
            func r(_ v: Double) -> Double { (v * 1_000_000).rounded() / 1_000_000 }
            gpuHours = r(f.gpuHours); billedUSD = r(f.billedUSD); estimatedUSD = r(f.estimatedUSD)
            totalUSD = r(f.usd); unpricedGPUHours = r(f.unpricedHours)
        }
    }
    struct RowJSON: Encodable {
        var key: String
        var figures: FiguresJSON
        /// The name of `key` in the object: the grouping (`pod`, `project`, `run`) or `date`.
        var keyName: String
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(key, forKey: Key(keyName))
            try c.encode(figures.gpuHours, forKey: Key("gpuHours"))
            try c.encode(figures.billedUSD, forKey: Key("billedUSD"))
            try c.encode(figures.estimatedUSD, forKey: Key("estimatedUSD"))
            try c.encode(figures.totalUSD, forKey: Key("totalUSD"))
            try c.encode(figures.unpricedGPUHours, forKey: Key("unpricedGPUHours"))
        }
    }
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    struct ReportJSON: Encodable {
        var since: String, until: String, by: String, billing: String
        var rows: [RowJSON]
        var total: FiguresJSON
        var days: [RowJSON]
    }

    static func json(_ report: CostReport, calendar: Calendar, billing: CostBillingRefresh.Outcome) throws -> String {
        let iso = ISO8601DateFormatter()
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = calendar.timeZone
        day.dateFormat = "yyyy-MM-dd"
        let billingText: String
        switch billing {
        case .notConfigured: billingText = "not configured"
        case .refreshed(let n): billingText = "refreshed (\(n) records)"
        case .failed(let why): billingText = "failed: \(why)"
        }
        let value = ReportJSON(
            since: iso.string(from: report.from), until: iso.string(from: report.to), by: report.grouping.rawValue, billing: billingText,
            rows: report.rows.map { RowJSON(key: $0.key, figures: FiguresJSON($0.figures), keyName: report.grouping.rawValue) },
            total: FiguresJSON(report.total),
            days: report.days.map { RowJSON(key: day.string(from: $0.start), figures: FiguresJSON($0.figures), keyName: "date") })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
