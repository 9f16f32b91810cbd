import Foundation

/// One HTTP request, as the RunPod client sends it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [String: String]
    public var body: Data?

    public init(method: String, url: URL, headers: [String: String] = [:], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// One HTTP response; header names lowercased.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }
}

/// Sends HTTP requests. Throws only when no response arrived at all.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest, timeout: Duration) throws -> HTTPResponse
}

/// An SSH endpoint as RunPod reports it (`PodSshEndpoint`).
public struct RunPodSSHEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String

    public init(host: String, port: Int, username: String) {
        self.host = host
        self.port = port
        self.username = username
    }
}

/// A live port mapping of a running pod (`PodRuntimePort`).
public struct RunPodPortMapping: Sendable, Equatable {
    /// The public IP, null for ports not exposed over TCP.
    public var ip: String?
    /// The public port, null until assigned.
    public var publicPort: Int?

    public init(ip: String?, publicPort: Int?) {
        self.ip = ip
        self.publicPort = publicPort
    }
}

/// The parts of RunPod's `Pod` that ccpod uses.
public struct RunPodPod: Sendable, Equatable {
    public var id: String
    public var name: String?
    /// `PROVISIONING`, `STARTING`, `RUNNING`, `EXITED`, `ERROR` or `TERMINATED`.
    public var status: String
    /// Transitions allowed now (`start`, `stop`, `restart`, `terminate`).
    public var actions: [String]
    /// US dollars per hour (0 when stopped).
    public var costPerHour: Double?
    /// Seconds since the container started; nil when not running.
    public var uptimeSeconds: Int?
    /// `ssh.direct`: null unless running with `22/tcp` published.
    public var directSSH: RunPodSSHEndpoint?
    /// `ssh.proxy`.
    public var proxySSH: RunPodSSHEndpoint?
    /// The `runtime.ports[]` entry with `private == 22`, when present.
    public var sshPortMapping: RunPodPortMapping?
    /// What `pod status` shows besides: GPU, storage, place, start time.
    public var details: RunPodPodDetails

    public init(id: String, name: String?, status: String, actions: [String], costPerHour: Double?,
                uptimeSeconds: Int?, directSSH: RunPodSSHEndpoint?, proxySSH: RunPodSSHEndpoint?,
                sshPortMapping: RunPodPortMapping?, details: RunPodPodDetails = RunPodPodDetails()) {
        self.id = id
        self.name = name
        self.status = status
        self.actions = actions
        self.costPerHour = costPerHour
        self.uptimeSeconds = uptimeSeconds
        self.directSSH = directSSH
        self.proxySSH = proxySSH
        self.sshPortMapping = sshPortMapping
        self.details = details
    }

    public var isRunning: Bool { status == "RUNNING" }

    /// Where the pod's sshd is reachable now: `ssh.direct`, else the runtime port
    /// mapping of 22. Throws (exit 69) with what to do when the pod is not running
    /// or publishes no SSH port.
    public func directEndpoint() throws -> RunPodSSHEndpoint {
        if let directSSH { return directSSH }
        if isRunning, let ip = sshPortMapping?.ip, let port = sshPortMapping?.publicPort, !ip.isEmpty {
            return RunPodSSHEndpoint(host: ip, port: port, username: "root")
        }
        switch status {
        case "EXITED", "ERROR":
            throw CCPodError.unavailable(
                "RunPod pod \(id) is stopped (\(status)); start it in the RunPod console "
                + "(or `runpodctl start pod \(id)`) and try again")
        case "PROVISIONING", "STARTING":
            throw CCPodError.unavailable("RunPod pod \(id) is still starting (\(status)); try again in a minute")
        case "TERMINATED":
            throw CCPodError.unavailable("RunPod pod \(id) has been terminated; create a new pod and run `ccpod pod add`")
        default:
            throw CCPodError.unavailable(
                "RunPod pod \(id) is \(status) but publishes no direct SSH port; expose TCP port 22 in its template")
        }
    }
}

/// A pod transition for `POST /v2/pods/{id}/action`.
public enum RunPodPodAction: String, Sendable, CaseIterable {
    case start, stop, restart, terminate
}

/// A small client for RunPod's REST API v2: read a pod, trigger a transition.
///
/// Errors and exit codes: key rejected (401) or without the access asked for (403)
/// → 77 (`notPermitted`); pod not found (404) → 66; rate limited after retries → 75;
/// unreachable, a 5xx, or a transition the pod does not allow now (409) → 69; an
/// answer that is not the documented JSON → 65. The API key is sent only in the
/// `Authorization` header, never put on a command line or in a message.
public struct RunPodAPI: Sendable {
    public static let defaultBaseURL = URL(string: "https://api.runpod.io")!

    public var apiKey: String
    /// The server root; paths start with `/v2`.
    public var baseURL: URL
    public var transport: any HTTPTransport
    /// Tries per request when rate limited (429).
    public var maxAttempts: Int
    /// The longest ccpod waits before one retry, whatever Retry-After says.
    public var maxRetryWait: Duration
    public var requestTimeout: Duration
    /// How to wait between retries (tests pass a recorder).
    public var sleep: @Sendable (Duration) -> Void

    public init(apiKey: String, baseURL: URL = RunPodAPI.defaultBaseURL,
                transport: any HTTPTransport = CurlTransport(),
                maxAttempts: Int = 3, maxRetryWait: Duration = .seconds(30),
                requestTimeout: Duration = .seconds(20),
                sleep: @escaping @Sendable (Duration) -> Void = { Thread.sleep(forTimeInterval: Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) }) {
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.transport = transport
        self.maxAttempts = max(1, maxAttempts)
        self.maxRetryWait = maxRetryWait
        self.requestTimeout = requestTimeout
        self.sleep = sleep
    }

    /// `GET /v2/pods/{id}`.
    public func pod(id: String) throws -> RunPodPod {
        let response = try request("GET", path: "/v2/pods/\(try RunPodAPI.checked(id))", body: nil, podId: id)
        return try RunPodAPI.decodePod(response.body)
    }

    /// `POST /v2/pods/{id}/action`. Returns the updated pod, or nil for `terminate` (204).
    @discardableResult
    public func perform(_ action: RunPodPodAction, podId: String) throws -> RunPodPod? {
        let body = try JSONSerialization.data(withJSONObject: ["action": action.rawValue])
        let response = try request("POST", path: "/v2/pods/\(try RunPodAPI.checked(podId))/action", body: body, podId: podId,
                                   action: action)
        if response.status == 204 || response.body.isEmpty { return nil }
        return try RunPodAPI.decodePod(response.body)
    }

    // MARK: - Internals

    func request(_ method: String, path: String, body: Data?, podId: String, action: RunPodPodAction? = nil) throws -> HTTPResponse {
        guard let url = URL(string: path, relativeTo: baseURL)?.absoluteURL else {
            throw CCPodError.usage("invalid RunPod API address \(baseURL)")
        }
        var headers = [
            "Authorization": "Bearer \(apiKey)",
            "User-Agent": "ccpod/\(CCPodVersion.string)",
            "Accept": "application/json",
        ]
        if body != nil { headers["Content-Type"] = "application/json" }
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body)
        var attempt = 1
        while true {
            let response = try transport.send(request, timeout: requestTimeout)
            switch response.status {
            case 200..<300:
                return response
            case 401:
                throw CCPodError(.notPermitted,
                                 "the RunPod API key was rejected (\(response.status) \(RunPodAPI.detail(response))); "
                                 + "check RUNPOD_API_KEY or the key file (the key needs read access to pods)")
            case 403:
                throw CCPodError(.notPermitted,
                                 "the RunPod API key may not \(action.map { "\($0.rawValue) pods" } ?? "read this pod") "
                                 + "(\(response.status) \(RunPodAPI.detail(response))); give the key read and write access to pods in the RunPod console")
            case 404:
                throw CCPodError(.noInput, "RunPod has no pod '\(podId)' for this API key; check the pod id (`--runpod-id`)")
            case 409:
                throw CCPodError.unavailable("RunPod refused to \(action?.rawValue ?? "change") pod \(podId): \(RunPodAPI.detail(response))")
            case 429:
                let wait = RunPodAPI.retryDelay(response, attempt: attempt)
                guard attempt < maxAttempts else {
                    throw CCPodError(.busy,
                        "the RunPod API rate limit was reached (\(maxAttempts) tries); try again in \(max(1, Int(wait.components.seconds))) s")
                }
                sleep(min(wait, maxRetryWait))
                attempt += 1
            case 500..<600:
                throw CCPodError.unavailable("the RunPod API failed (\(response.status) \(RunPodAPI.detail(response))); try again later")
            default:
                throw CCPodError.badData("unexpected answer from the RunPod API: \(response.status) \(RunPodAPI.detail(response))")
            }
        }
    }

    /// Pod ids are opaque tokens; refuse anything that would change the URL path.
    static func checked(_ id: String) throws -> String {
        guard !id.isEmpty, id.count <= 64,
              id.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_") })
        else { throw CCPodError.usage("invalid RunPod pod id '\(id.prefix(64))'") }
        return id
    }

    /// Retry-After (seconds), else the `t` of an exhausted RateLimit window, else 2^attempt s.
    static func retryDelay(_ response: HTTPResponse, attempt: Int) -> Duration {
        if let text = response.headers["retry-after"]?.trimmingCharacters(in: .whitespaces), let s = Int(text), s >= 0 {
            return .seconds(s)
        }
        if let limit = response.headers["ratelimit"] {
            for member in limit.split(separator: ",") {
                let params = member.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                if params.contains("r=0"), let t = params.first(where: { $0.hasPrefix("t=") }).flatMap({ Int($0.dropFirst(2)) }) {
                    return .seconds(t)
                }
            }
        }
        return .seconds(1 << min(attempt, 5))
    }

    /// `detail` of a `{title,status,detail}` body, or a short excerpt of whatever came.
    static func detail(_ response: HTTPResponse) -> String {
        if let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] {
            let title = object["title"] as? String
            let detail = object["detail"] as? String
            if let detail { return title.map { "\($0): \(detail)" } ?? detail }
            if let title { return title }
        }
        let text = String(decoding: response.body.prefix(120), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? "no details" : "'\(text)'"
    }

    static func decodePod(_ data: Data) throws -> RunPodPod {
        let dto: PodDTO
        do {
            dto = try JSONDecoder().decode(PodDTO.self, from: data)
        } catch {
            let excerpt = String(decoding: data.prefix(80), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            throw CCPodError.badData("the RunPod API answered something that is not a pod ('\(excerpt)')")
        }
        guard !dto.id.isEmpty, !dto.status.isEmpty else {
            throw CCPodError.badData("the RunPod API answered a pod without id or status")
        }
        let mapping = dto.runtime?.ports?.first(where: { $0.privatePort == 22 })
        let pod = RunPodPod(
            id: dto.id, name: dto.name, status: dto.status, actions: dto.actions ?? [],
            costPerHour: dto.cost, uptimeSeconds: dto.runtime?.uptime,
            directSSH: dto.ssh?.direct.map { RunPodSSHEndpoint(host: $0.host, port: $0.port, username: $0.username) },
            proxySSH: dto.ssh?.proxy.map { RunPodSSHEndpoint(host: $0.host, port: $0.port, username: $0.username) },
            sshPortMapping: mapping.map { RunPodPortMapping(ip: $0.ip, publicPort: $0.publicPort) },
            details: RunPodPodDetails(dto))
        if let direct = pod.directSSH {
            guard (1...65535).contains(direct.port), PodAddressProbe.isValidHost(direct.host) else {
                throw CCPodError.badData("the RunPod API reported an invalid SSH endpoint for pod \(dto.id)")
            }
        }
        if let port = mapping?.publicPort, !(1...65535).contains(port) {
            throw CCPodError.badData("the RunPod API reported an invalid SSH port \(port) for pod \(dto.id)")
        }
        if let ip = mapping?.ip, !PodAddressProbe.isValidHost(ip) {
            throw CCPodError.badData("the RunPod API reported an invalid IP for pod \(dto.id)")
        }
        return pod
    }

    struct PodDTO: Decodable {
        var id: String
        var name: String?
        var status: String
        var actions: [String]?
        var cost: Double?
        var ssh: SSHDTO?
        var runtime: RuntimeDTO?
        // What `pod status` shows besides; a malformed one is left out, not fatal (RunPodClient.swift).
        var gpu: RunPodLenient<GpuDTO>?
        var mounts: RunPodLenient<MountsDTO>?
        var image: RunPodLenient<String>?
        var dataCenterId: RunPodLenient<String>?
        var locked: RunPodLenient<Bool>?
        var startedAt: RunPodLenient<String>?
    }
    struct SSHDTO: Decodable {
        var proxy: EndpointDTO?
        var direct: EndpointDTO?
    }
    struct EndpointDTO: Decodable {
        var host: String
        var port: Int
        var username: String
    }
    struct RuntimeDTO: Decodable {
        var uptime: Int?
        var ports: [PortDTO]?
    }
    struct PortDTO: Decodable {
        var privatePort: Int?
        var publicPort: Int?
        var type: String?
        var ip: String?
        enum CodingKeys: String, CodingKey {
            case privatePort = "private", publicPort = "public", type, ip
        }
    }
}

extension RunPodAPI: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the key (logs, `--json` dumps, test failures).
    public var description: String { "RunPodAPI(\(baseURL.absoluteString), key: <redacted>)" }
    public var debugDescription: String { description }
}
