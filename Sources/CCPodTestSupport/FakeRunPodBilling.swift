import Foundation

/// The fake API's `GET /v2/billing/pods` (`FakeRunPodAPI.billing`): hourly records the
/// test sets, answered as RunPod's `ListPodBillingResponse` for the query's window
/// (`startTime` snapped down to its bucket, `endTime` default now, `bucketSize` hour
/// or day, `lastN`, `podId`). Records of a day bucket are the sums of its hours (UTC).
public final class FakeRunPodBilling: @unchecked Sendable {
    /// One hour of one pod's bill.
    public struct Hour: Sendable, Equatable {
        public var podId: String
        /// The hour's start (a whole UTC hour).
        public var start: Date
        public var gpu: Double
        public var cpu: Double
        public var disk: Double
        public var total: Double { gpu + cpu + disk }

        public init(podId: String, start: Date, gpu: Double, cpu: Double = 0, disk: Double = 0) {
            self.podId = podId
            self.start = start
            self.gpu = gpu
            self.cpu = cpu
            self.disk = disk
        }
    }

    private let lock = NSLock()
    private var hours: [Hour] = []
    private var clock: Date?

    public init() {}

    /// Adds hours to the bill.
    public func add(_ more: [Hour]) { lock.lock(); hours += more; lock.unlock() }

    /// "Now" for a query without `endTime` (default: the real clock).
    public var now: Date {
        get { lock.lock(); defer { lock.unlock() }; return clock ?? Date() }
        set { lock.lock(); clock = newValue; lock.unlock() }
    }

    /// The answer to `GET /v2/billing/pods?…` (status, headers, body).
    func respond(query: String) -> (Int, [String: String], Data) {
        var params: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { params[parts[0]] = parts[1] }
        }
        let iso = ISO8601DateFormatter()
        let bucket = params["bucketSize"] ?? "day"
        guard bucket == "hour" || bucket == "day" else { return Self.problem(400, "bucketSize '\(bucket)' is not supported by this fake") }
        let size: TimeInterval = bucket == "hour" ? 3600 : 86400
        if params["lastN"] != nil && (params["startTime"] != nil || params["endTime"] != nil) {
            return Self.problem(400, "lastN is mutually exclusive with startTime/endTime")
        }
        func snapDown(_ d: Date) -> Date { Date(timeIntervalSince1970: (d.timeIntervalSince1970 / size).rounded(.down) * size) }
        func snapUp(_ d: Date) -> Date { Date(timeIntervalSince1970: (d.timeIntervalSince1970 / size).rounded(.up) * size) }
        var end = snapUp(now)
        if let text = params["endTime"] {
            guard let d = iso.date(from: text) else { return Self.problem(400, "endTime is not RFC 3339") }
            end = snapUp(d)
        }
        var start = snapDown(now.addingTimeInterval(-30 * 86400))
        if let text = params["startTime"] {
            guard let d = iso.date(from: text) else { return Self.problem(400, "startTime is not RFC 3339") }
            start = snapDown(d)
        } else if let text = params["lastN"] {
            guard let n = Int(text), n >= 1 else { return Self.problem(400, "lastN must be at least 1") }
            start = end.addingTimeInterval(-Double(n) * size)
        }
        let podId = params["podId"]
        lock.lock()
        let selected = hours.filter { $0.start >= start && $0.start < end && (podId == nil || $0.podId == podId) }
        lock.unlock()
        var buckets: [String: (pod: String, start: Date, gpu: Double, cpu: Double, disk: Double)] = [:]
        for hour in selected {
            let b = snapDown(hour.start)
            let key = "\(hour.podId) \(b.timeIntervalSince1970)"
            var entry = buckets[key] ?? (hour.podId, b, 0, 0, 0)
            entry.gpu += hour.gpu
            entry.cpu += hour.cpu
            entry.disk += hour.disk
            buckets[key] = entry
        }
        let records: [[String: Any]] = buckets.values.sorted { ($0.start, $0.pod) < ($1.start, $1.pod) }.map { b in
            ["startTime": iso.string(from: b.start), "endTime": iso.string(from: b.start.addingTimeInterval(size)), "podId": b.pod,
             "totalAmount": b.gpu + b.cpu + b.disk, "gpuAmount": b.gpu, "cpuAmount": b.cpu, "diskAmount": b.disk]
        }
        func sum(_ k: String) -> Double { records.reduce(0) { $0 + (($1[k] as? Double) ?? 0) } }
        var queryEcho: [String: Any] = ["startTime": iso.string(from: start), "endTime": iso.string(from: end), "bucketSize": bucket]
        queryEcho["podId"] = podId ?? NSNull()
        let body: [String: Any] = [
            "records": records,
            "metadata": [
                "query": queryEcho, "recordCount": records.count, "uniquePodCount": Set(selected.map(\.podId)).count,
                "totals": ["totalAmount": sum("totalAmount"), "gpuAmount": sum("gpuAmount"), "cpuAmount": sum("cpuAmount"),
                           "diskAmount": sum("diskAmount")],
            ] as [String: Any],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return (200, ["Content-Type": "application/json"], data)
    }

    static func problem(_ status: Int, _ detail: String) -> (Int, [String: String], Data) {
        let body = (try? JSONSerialization.data(withJSONObject: ["title": "Bad Request", "status": status, "detail": detail],
                                                 options: [.sortedKeys])) ?? Data()
        return (status, ["Content-Type": "application/problem+json"], body)
    }
}
