import Foundation
import TOMLKit

/// Spending limits of a pod (`[pods.NAME]` in config.toml) or of a project
/// (`.ccpod.toml`). Every key is optional; a limit that is not set is not checked.
///
/// ```toml
/// budget_usd_per_day = 20        # US dollars per calendar day
/// budget_usd_per_month = 300     # US dollars per calendar month
/// budget_hours_per_day = 8       # GPU-hours per calendar day
/// budget_hours_per_month = 120   # GPU-hours per calendar month
/// ```
///
/// Days and months are those of this machine's time zone. What counts as spent is
/// what `ccpod cost` shows (`CostBudgetCheck`).
public struct CostBudget: Sendable, Equatable, Codable {
    public var usdPerDay: Double?
    public var usdPerMonth: Double?
    public var hoursPerDay: Double?
    public var hoursPerMonth: Double?

    public init(usdPerDay: Double? = nil, usdPerMonth: Double? = nil, hoursPerDay: Double? = nil, hoursPerMonth: Double? = nil) {
        self.usdPerDay = usdPerDay
        self.usdPerMonth = usdPerMonth
        self.hoursPerDay = hoursPerDay
        self.hoursPerMonth = hoursPerMonth
    }

    public var isEmpty: Bool { usdPerDay == nil && usdPerMonth == nil && hoursPerDay == nil && hoursPerMonth == nil }

    /// The TOML key of each limit.
    public enum Key: String, CaseIterable, Sendable {
        case usdPerDay = "budget_usd_per_day"
        case usdPerMonth = "budget_usd_per_month"
        case hoursPerDay = "budget_hours_per_day"
        case hoursPerMonth = "budget_hours_per_month"

        /// "USD per day" and the like, for sentences.
        public var phrase: String {
            switch self {
            case .usdPerDay: return "USD per day"
            case .usdPerMonth: return "USD per month"
            case .hoursPerDay: return "GPU-hours per day"
            case .hoursPerMonth: return "GPU-hours per month"
            }
        }

        public var isMoney: Bool { self == .usdPerDay || self == .usdPerMonth }
        public var isMonthly: Bool { self == .usdPerMonth || self == .hoursPerMonth }
    }

    public subscript(key: Key) -> Double? {
        get {
            switch key {
            case .usdPerDay: return usdPerDay
            case .usdPerMonth: return usdPerMonth
            case .hoursPerDay: return hoursPerDay
            case .hoursPerMonth: return hoursPerMonth
            }
        }
        set {
            switch key {
            case .usdPerDay: usdPerDay = newValue
            case .usdPerMonth: usdPerMonth = newValue
            case .hoursPerDay: hoursPerDay = newValue
            case .hoursPerMonth: hoursPerMonth = newValue
            }
        }
    }

    /// Reads the budget keys of a table; `bad` makes the error for a wrong value.
    public static func parse(_ table: TOMLTable, bad: (String) -> CCPodError) throws -> CostBudget {
        var budget = CostBudget()
        for key in Key.allCases {
            guard let value = table[key.rawValue] else { continue }
            guard let number = value.double ?? value.int.map(Double.init), number.isFinite, number > 0, number <= 1_000_000 else {
                throw bad("\(key.rawValue) must be a positive number (\(key.phrase)), at most 1000000")
            }
            budget[key] = number
        }
        return budget
    }

    /// Writes the set limits into `table` (whole numbers as integers).
    public func write(into table: TOMLTable) {
        for key in Key.allCases {
            guard let value = self[key] else { continue }
            if value == value.rounded(), abs(value) < 1e15 { table[key.rawValue] = Int(value) } else { table[key.rawValue] = value }
        }
    }
}
