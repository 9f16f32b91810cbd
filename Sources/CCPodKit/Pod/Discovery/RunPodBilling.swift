import Foundation

/// One time bucket of one pod's bill (`PodBillingRecord` of `GET /v2/billing/pods`).
public struct RunPodBillingRecord: Sendable, Equatable, Codable {
    public var podId: String
    /// The bucket, `[start, end)`.
    public var start: Date
    public var end: Date
    /// US dollars: the total and its parts.
    public var totalAmount: Double
    public var gpuAmount: Double
    public var cpuAmount: Double
    public var diskAmount: Double

    public init(podId: String, start: Date, end: Date, totalAmount: Double, gpuAmount: Double = 0,
                cpuAmount: Double = 0, diskAmount: Double = 0) {
        self.podId = podId
        self.start = start
        self.end = end
        self.totalAmount = totalAmount
        self.gpuAmount = gpuAmount
        self.cpuAmount = cpuAmount
        self.diskAmount = diskAmount
    }
}

/// What one billing request answered: the records and the window the API resolved.
public struct RunPodBillingPage: Sendable, Equatable {
    public var records: [RunPodBillingRecord]
    /// The resolved query window (`metadata.query`), `[windowStart, windowEnd)`.
    public var windowStart: Date
    public var windowEnd: Date
}

/// `bucketSize` of the billing routes.
public enum RunPodBillingBucket: String, Sendable, CaseIterable {
    case hour, day, week, month, year
}

extension RunPodAPI {
    /// Most records one answer may carry (an hour per pod for a year of a few pods).
    static let maxBillingRecords = 100_000

    /// `GET /v2/billing/pods`: the bill per pod and bucket from `start` (snapped down by
    /// the API to its bucket) to `end` (default now), for one pod or all of them.
    /// Every record is checked: known bucket bounds, finite amounts, a pod id.
    public func podBilling(from start: Date, to end: Date? = nil, bucket: RunPodBillingBucket = .hour,
                           podId: String? = nil) throws -> RunPodBillingPage {
        var query = [URLQueryItem(name: "startTime", value: RunPodAPI.rfc3339(start)),
                     URLQueryItem(name: "bucketSize", value: bucket.rawValue)]
        if let end { query.append(URLQueryItem(name: "endTime", value: RunPodAPI.rfc3339(end))) }
        if let podId { query.append(URLQueryItem(name: "podId", value: try RunPodAPI.checked(podId))) }
        var components = URLComponents()
        components.path = "/v2/billing/pods"
        components.queryItems = query
        // `+` of a time zone offset must not read as a space.
        let path = (components.percentEncodedPath) + "?" + (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let response: HTTPResponse
        do {
            response = try request("GET", path: path, body: nil, podId: podId ?? "(billing)")
        } catch let error as CCPodError where error.status == .unavailable && error.message.hasPrefix("RunPod has no pod") {
            // The shared 404 sentence is about pods; here the route itself (or the pod's bill) is missing.
            throw CCPodError.unavailable("the RunPod API at \(baseURL.host ?? "?") has no pod bill \(podId.map { "for pod \($0) " } ?? "")(404)")
        }
        return try RunPodAPI.decodeBilling(response.body)
    }

    static func rfc3339(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    static func parseRFC3339(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let date = f.date(from: text) { return date }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }

    static func decodeBilling(_ data: Data) throws -> RunPodBillingPage {
        let dto: BillingDTO
        do {
            dto = try JSONDecoder().decode(BillingDTO.self, from: data)
        } catch {
            let excerpt = String(decoding: data.prefix(80), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            throw CCPodError.badData("the RunPod API answered something that is not a pod bill ('\(excerpt)')")
        }
        guard dto.records.count <= maxBillingRecords else {
            throw CCPodError.badData("the RunPod API answered \(dto.records.count) billing records, more than ccpod reads (\(maxBillingRecords)); ask for a shorter --since")
        }
        func bad(_ what: String) -> CCPodError { .badData("the RunPod API answered a bill with \(what)") }
        func amount(_ value: Double?, _ name: String) throws -> Double {
            guard let value else { return 0 }
            guard value.isFinite, abs(value) <= 10_000_000 else { throw bad("an impossible \(name)") }
            return value
        }
        guard let windowStart = parseRFC3339(dto.metadata.query.startTime),
              let windowEnd = parseRFC3339(dto.metadata.query.endTime), windowStart <= windowEnd else {
            throw bad("an unreadable query window")
        }
        let records = try dto.records.map { r -> RunPodBillingRecord in
            guard (try? RunPodAPI.checked(r.podId)) != nil else { throw bad("an invalid pod id") }
            guard let start = parseRFC3339(r.startTime), let end = parseRFC3339(r.endTime), start < end,
                  end.timeIntervalSince(start) <= 366 * 86400 else {
                throw bad("an unreadable time bucket for pod \(r.podId)")
            }
            return RunPodBillingRecord(podId: r.podId, start: start, end: end,
                                       totalAmount: try amount(r.totalAmount, "total"),
                                       gpuAmount: try amount(r.gpuAmount, "GPU amount"),
                                       cpuAmount: try amount(r.cpuAmount, "CPU amount"),
                                       diskAmount: try amount(r.diskAmount, "disk amount"))
        }
        return RunPodBillingPage(records: records, windowStart: windowStart, windowEnd: windowEnd)
    }

    struct BillingDTO: Decodable {
        var records: [RecordDTO]
        var metadata: MetadataDTO
    }
    struct RecordDTO: Decodable {
        var podId: String
        var startTime: String
        var endTime: String
        var totalAmount: Double
        var gpuAmount: Double?
        var cpuAmount: Double?
        var diskAmount: Double?
    }
    struct MetadataDTO: Decodable {
        var query: QueryDTO
    }
    struct QueryDTO: Decodable {
        var startTime: String
        var endTime: String
    }
}
