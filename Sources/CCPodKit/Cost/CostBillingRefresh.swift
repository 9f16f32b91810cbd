import Foundation

/// Brings RunPod's bill into the ledger before `ccpod cost` reports: one
/// `GET /v2/billing/pods` for the window, hourly buckets.
public enum CostBillingRefresh {
    public enum Outcome: Sendable, Equatable {
        /// No key or no pod with a `runpodId`: nothing to ask.
        case notConfigured
        /// Stored this many records.
        case refreshed(records: Int)
        /// The call failed; the sentence says why (never the key).
        case failed(String)
    }

    /// The pods of the config that RunPod knows: id → name.
    public static func podNames(_ config: CCPodConfig) -> [String: String] {
        var names: [String: String] = [:]
        for (name, pod) in config.pods { if let id = pod.runpodId { names[id] = name } }
        return names
    }

    /// One call for the window `[from, now)`: filtered by `podId` when only one
    /// configured pod (or `onlyPod`) has a RunPod id, else every pod of the account.
    /// Failures are returned, not thrown: the local figures still count.
    public static func refresh(config: CCPodConfig, onlyPod: String? = nil, environment: [String: String], ledger: CostLedger,
                               from: Date, now: Date, transport: any HTTPTransport = CurlTransport()) -> Outcome {
        let pods = config.pods.values.filter { $0.runpodId != nil && (onlyPod == nil || $0.name == onlyPod) }.sorted { $0.name < $1.name }
        guard !pods.isEmpty else { return .notConfigured }
        let key: String?
        do {
            key = try environment["RUNPOD_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
                ?? pods.lazy.compactMap({ try? $0.apiKey(environment: environment) }).first
                ?? pods.first!.apiKey(environment: environment)
        } catch let error as CCPodError {
            return .failed(error.message)
        } catch {
            return .failed("cannot read the RunPod API key")
        }
        guard let key else { return .notConfigured }
        let baseURL: URL
        do { baseURL = try RunPodAPI.baseURL(environment: environment) } catch let error as CCPodError { return .failed(error.message) } catch { return .failed("\(error)") }
        let api = RunPodAPI(apiKey: key, baseURL: baseURL, transport: transport, maxAttempts: 2,
                            maxRetryWait: .seconds(5), requestTimeout: .seconds(15))
        let podId = pods.count == 1 ? pods[0].runpodId : nil
        // Hourly buckets from the start of `from`'s hour (the API snaps down the same way).
        let start = Date(timeIntervalSince1970: (from.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
        do {
            let page = try api.podBilling(from: start, bucket: .hour, podId: podId)
            return .refreshed(records: try ledger.importBilling(page, podId: podId, at: now))
        } catch let error as CCPodError {
            return .failed(error.message)
        } catch {
            return .failed("\(error)")
        }
    }
}
