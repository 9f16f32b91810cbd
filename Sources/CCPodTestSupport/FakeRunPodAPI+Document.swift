import Foundation

/// The RunPod document's shapes as the fake answers them: the `Pod` object, the
/// transitions its `actions` allow, the problem details of errors.
extension FakeRunPodAPI {
    static func failureDetail(_ status: Int) -> String {
        switch status {
        case 401: return "invalid bearer token"
        case 403: return "access denied"
        case 404: return "resource not found"
        case 429: return "rate limit exceeded for the minute window"
        default: return "an unexpected error occurred"
        }
    }

    static func actions(for status: String) -> [String] {
        switch status {
        case "RUNNING": return ["stop", "restart", "terminate"]
        case "EXITED", "ERROR": return ["start", "terminate"]
        case "PROVISIONING", "STARTING": return ["stop", "terminate"]
        default: return []
        }
    }

    /// The pod as RunPod's `Pod` schema describes it; `ssh.direct` and `runtime` are null unless running.
    static func json(_ pod: Pod) -> Data {
        let running = pod.status == "RUNNING"
        let proxy: [String: Any] = [
            "host": "ssh.runpod.io", "port": 22, "username": "\(pod.id)-64411eb2",
            "command": "ssh \(pod.id)-64411eb2@ssh.runpod.io",
        ]
        var ssh: [String: Any] = ["proxy": proxy, "direct": NSNull()]
        if running && pod.reportsDirect {
            ssh["direct"] = ["host": pod.publicIP, "port": pod.sshPort, "username": "root",
                             "command": "ssh root@\(pod.publicIP) -p \(pod.sshPort)"] as [String: Any]
        }
        let runtime: Any = running ? [
            "uptime": pod.uptime,
            "gpus": [["id": "0", "gpuUtilPercent": 0, "memoryUtilPercent": 0]],
            "ports": [
                ["private": 22, "public": pod.sshPort, "type": "tcp", "ip": pod.publicIP] as [String: Any],
                ["private": 8888, "public": NSNull(), "type": "http", "ip": NSNull()] as [String: Any],
            ],
        ] as [String: Any] : NSNull()
        let object: [String: Any] = [
            "id": pod.id, "name": pod.name, "status": pod.status, "actions": actions(for: pod.status),
            "image": "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404", "args": "", "disk": 50,
            "ports": ["8888/http", "22/tcp"], "env": [String: String](), "registry": NSNull(),
            "mounts": ["persistent": ["size": pod.volumeSize, "path": pod.volumePath]],
            "cloud": "SECURE", "dataCenterId": "US-KS-2", "cudaVersion": "12.8",
            "ssh": ssh, "template": NSNull(), "cost": running ? pod.cost : 0.0, "locked": false,
            "globalNetworking": ["enabled": false], "runtime": runtime,
            "createdAt": "2026-06-01T12:00:00Z", "startedAt": running ? "2026-06-01T12:02:00Z" : NSNull(),
        ]
        var document = object
        if let gpuType = pod.gpuType { document["gpu"] = ["id": gpuType, "count": pod.gpuCount] as [String: Any] }
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data()
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 422: return "Unprocessable Entity"
        case 429: return "Too Many Requests"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Internal Server Error"
        }
    }
}
