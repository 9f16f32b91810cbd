import Foundation

/// The parts of RunPod's `Pod` that `ccpod pod status` shows besides the address:
/// the GPU (`gpu`), the storage (`mounts`), where and since when it runs.
public struct RunPodPodDetails: Sendable, Equatable, Codable {
    /// `gpu.id`, e.g. "NVIDIA GeForce RTX 4090"; nil for a CPU pod.
    public var gpuType: String?
    /// `gpu.count` (1 when the API leaves it out of a GPU pod).
    public var gpuCount: Int?
    /// `mounts.persistent`: size in GB and mount path.
    public var volumeSizeGB: Int?
    public var volumePath: String?
    /// `mounts.network[0].volumeId`, for a network volume.
    public var networkVolumeId: String?
    public var image: String?
    public var dataCenterId: String?
    /// Locked pods cannot be stopped or reset.
    public var locked: Bool?
    /// `startedAt` as RunPod wrote it (ISO 8601).
    public var startedAt: String?

    public init(gpuType: String? = nil, gpuCount: Int? = nil, volumeSizeGB: Int? = nil, volumePath: String? = nil,
                networkVolumeId: String? = nil, image: String? = nil, dataCenterId: String? = nil,
                locked: Bool? = nil, startedAt: String? = nil) {
        self.gpuType = gpuType
        self.gpuCount = gpuCount
        self.volumeSizeGB = volumeSizeGB
        self.volumePath = volumePath
        self.networkVolumeId = networkVolumeId
        self.image = image
        self.dataCenterId = dataCenterId
        self.locked = locked
        self.startedAt = startedAt
    }

    /// From the decoded document; texts are cut to a sane length (they come from outside).
    init(_ dto: RunPodAPI.PodDTO) {
        func short(_ s: String?) -> String? { s.map { String($0.prefix(200)) } }
        let gpu = dto.gpu?.value, mounts = dto.mounts?.value
        gpuType = short(gpu?.id)
        gpuCount = gpu.map { max(1, min($0.count ?? 1, 1024)) }
        volumeSizeGB = mounts?.persistent.map { max(0, min($0.size, 1 << 30)) }
        volumePath = short(mounts?.persistent?.path ?? mounts?.network?.first?.path)
        networkVolumeId = short(mounts?.network?.first?.volumeId)
        image = short(dto.image?.value)
        dataCenterId = short(dto.dataCenterId?.value)
        locked = dto.locked?.value
        startedAt = short(dto.startedAt?.value)
    }
}

/// A value the API may send malformed without it mattering: nil then, not an error.
struct RunPodLenient<T: Decodable>: Decodable {
    var value: T?
    init(from decoder: any Decoder) throws { value = try? T(from: decoder) }
}

extension RunPodAPI {
    struct GpuDTO: Decodable {
        var id: String
        var count: Int?
    }
    struct MountsDTO: Decodable {
        var persistent: PersistentDTO?
        var network: [NetworkDTO]?
    }
    struct PersistentDTO: Decodable {
        var size: Int
        var path: String
    }
    struct NetworkDTO: Decodable {
        var volumeId: String
        var path: String
    }
}

extension RunPodAPI {
    /// The API's root: `RUNPOD_API_URL` when set (tests, proxies), else
    /// `https://api.runpod.io`. Anything but an http(s) URL with a host is a usage error.
    public static func baseURL(environment: [String: String]) throws -> URL {
        guard let text = environment["RUNPOD_API_URL"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return defaultBaseURL
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = url.host, !host.isEmpty, url.query == nil else {
            throw CCPodError.usage("RUNPOD_API_URL=\(text.prefix(200)) is not an http(s) address like https://api.runpod.io")
        }
        return url
    }

    /// Whether `id` can be a RunPod pod id (letters, digits, `-`, `_`; at most 64):
    /// what the pod's `RUNPOD_POD_ID` must look like before ccpod saves it.
    public static func isValidPodId(_ id: String) -> Bool {
        (try? checked(id)) != nil
    }

    /// The client for a configured pod: its `runpodId`, the key from `RUNPOD_API_KEY` or
    /// the pod's key file, the address from `RUNPOD_API_URL`. Throws a usage error
    /// saying what is missing (`what` names the command, "start gpu1").
    public static func forPod(_ settings: PodSettings, environment: [String: String], what: String,
                              transport: any HTTPTransport = CurlTransport()) throws -> (api: RunPodAPI, podId: String) {
        guard let id = settings.runpodId, !id.isEmpty else {
            throw CCPodError.usage(
                "pod \(settings.name) has no RunPod id, which \(what) needs: add it with "
                + "`ccpod pod add \(settings.name) … --runpod-id ID` (RunPod console → the pod's id), "
                + "or let ccpod read it through the proxy with `ccpod pod trust \(settings.name)`")
        }
        guard let key = try settings.apiKey(environment: environment) else {
            throw CCPodError.usage(
                "\(what) uses the RunPod API, and no key is configured: set RUNPOD_API_KEY, or put the key in a "
                + "file only you can read (chmod 600) and name it with `ccpod pod add \(settings.name) … --api-key-file FILE`")
        }
        return (RunPodAPI(apiKey: key, baseURL: try baseURL(environment: environment), transport: transport), try checked(id))
    }
}
