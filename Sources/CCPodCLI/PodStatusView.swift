import CCPodKit
import Foundation

/// `ccpod pod status` as text and JSON (never the API key: nothing here has it).
struct PodStatusView: Codable {
    var name: String
    var runpodId: String
    var status: String
    var actions: [String]
    var gpuType: String?
    var gpuCount: Int?
    var costPerHour: Double?
    var uptimeSeconds: Int?
    /// `user@host:port` as RunPod reports it now; nil while stopped.
    var direct: String?
    /// What the config has (it differs after a restart until ccpod reaches the pod).
    var configuredDirect: String?
    var proxy: String?
    var volumeSizeGB: Int?
    var volumePath: String?
    var networkVolumeId: String?
    var image: String?
    var dataCenterId: String?
    var startedAt: String?
    var locked: Bool?

    init(settings: PodSettings, pod: RunPodPod) {
        name = settings.name
        runpodId = pod.id
        status = pod.status
        actions = pod.actions
        gpuType = pod.details.gpuType
        gpuCount = pod.details.gpuCount
        costPerHour = pod.costPerHour
        uptimeSeconds = pod.uptimeSeconds
        if pod.isRunning, let endpoint = try? pod.directEndpoint() {
            direct = SSHEndpoint(user: endpoint.username, host: endpoint.host, port: endpoint.port).description
        }
        configuredDirect = settings.direct?.description
        proxy = pod.proxySSH.map { "\($0.username)@\($0.host)" + ($0.port == 22 ? "" : ":\($0.port)") }
        volumeSizeGB = pod.details.volumeSizeGB
        volumePath = pod.details.volumePath
        networkVolumeId = pod.details.networkVolumeId
        image = pod.details.image
        dataCenterId = pod.details.dataCenterId
        startedAt = pod.details.startedAt
        locked = pod.details.locked
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    static func duration(_ seconds: Int) -> String {
        let minutes = max(0, seconds) / 60
        if minutes >= 24 * 60 { return "\(minutes / 1440) d \(minutes % 1440 / 60) h" }
        return minutes >= 60 ? "\(minutes / 60) h \(minutes % 60) min" : "\(minutes) min"
    }

    func text() -> String {
        var lines = ["\(name): \(status) (RunPod pod \(runpodId)\(dataCenterId.map { ", \($0)" } ?? ""))"]
        func row(_ key: String, _ value: String) { lines.append("  \(SyncRendering.pad(key, 8)) \(value)") }
        if let gpuType { row("gpu", "\(gpuCount ?? 1) × \(gpuType)") } else { row("gpu", "none (a CPU pod)") }
        row("cost", PodLifecycle.dollars(costPerHour) + (status == "RUNNING" ? "" : " (not running)"))
        if let uptimeSeconds { row("uptime", Self.duration(uptimeSeconds)) }
        if let direct {
            let note = configuredDirect == nil || configuredDirect == direct ? ""
                : " (the config has \(configuredDirect!); the next command that reaches the pod updates it)"
            row("ssh", direct + note)
        } else {
            row("ssh", "none while \(status)" + (status == "EXITED" ? "; `ccpod pod start \(name)`" : ""))
        }
        if let proxy { row("proxy", proxy) }
        if let volumeSizeGB, let volumePath {
            row("volume", "\(volumeSizeGB) GB at \(volumePath)")
        } else if let networkVolumeId {
            row("volume", "network volume \(networkVolumeId)\(volumePath.map { " at \($0)" } ?? "")")
        }
        if let image { row("image", image) }
        if locked == true { row("locked", "yes (RunPod refuses to stop or reset it)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
