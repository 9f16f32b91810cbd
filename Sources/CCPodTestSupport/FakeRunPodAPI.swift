import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A local HTTP/1.1 server on 127.0.0.1 that answers like RunPod's REST API v2
/// (shapes from RunPod's published OpenAPI document: `Pod`, `PodSsh`, `PodRuntime`,
/// `PodRuntimePort`, errors as `{title,status,detail}`, `RateLimit` headers).
///
/// `GET /v2/pods/{id}`, `POST /v2/pods/{id}/action` and `GET /v2/billing/pods` with `Authorization: Bearer <key>`.
/// Transitions follow the document: `start` takes an `EXITED` pod through `STARTING`
/// (for `startingPolls` reads) to `RUNNING` on a new port, `stop` to `EXITED` (cost 0,
/// no `ssh.direct`, no `runtime`), `terminate` deletes it (204); `onAction` ties them to
/// a simulated pod, `failNext` answers 401/403/5xx on demand, `rateLimitNext` 429.
/// Every request is recorded for assertions. One connection at a time, `Connection: close`.
/// The serving thread keeps the fake alive: call `shutdown()` when done.
public final class FakeRunPodAPI: @unchecked Sendable {
    /// A pod as the fake keeps it.
    public struct Pod: Sendable {
        public var id: String
        public var name: String
        /// `RUNNING`, `EXITED`, `STARTING`, …
        public var status: String
        public var publicIP: String
        public var sshPort: Int
        public var cost: Double
        public var uptime: Int
        /// Report `ssh.direct` (a real running pod does; false leaves only `runtime.ports`).
        public var reportsDirect: Bool
        /// `gpu.id` and `gpu.count`; nil `gpuType` makes a CPU pod (no `gpu`).
        public var gpuType: String?
        public var gpuCount: Int
        /// `mounts.persistent`.
        public var volumeSize: Int
        public var volumePath: String
        /// After `start`, how many `GET`s still see `STARTING` (waiting for a GPU) before `RUNNING`.
        public var startingPolls: Int

        public init(id: String, name: String = "ccpod-test", status: String = "RUNNING", publicIP: String = "127.0.0.1",
                    sshPort: Int, cost: Double = 0.44, uptime: Int = 3600, reportsDirect: Bool = true,
                    gpuType: String? = "NVIDIA GeForce RTX 4090", gpuCount: Int = 1, volumeSize: Int = 20,
                    volumePath: String = "/workspace", startingPolls: Int = 0) {
            self.id = id
            self.name = name
            self.status = status
            self.publicIP = publicIP
            self.sshPort = sshPort
            self.cost = cost
            self.uptime = uptime
            self.reportsDirect = reportsDirect
            self.gpuType = gpuType
            self.gpuCount = gpuCount
            self.volumeSize = volumeSize
            self.volumePath = volumePath
            self.startingPolls = startingPolls
        }
    }

    /// Called on the serving thread for each accepted `start`, `stop` or `restart`, with
    /// the pod as it will be stored: a test ties them to its simulated pod (restart the
    /// sshd on a new port and set `sshPort`; stop it). Throwing answers 500.
    public typealias ActionHook = @Sendable (_ action: String, _ pod: inout Pod) throws -> Void

    /// A request as the fake received it; header names lowercased.
    public struct RecordedRequest: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: Data
    }

    /// How the fake misbehaves.
    public enum Mode: Sendable {
        case normal
        /// 200 with a body that is not JSON.
        case garbage
        /// 500 with a problem body.
        case serverError
    }

    public let apiKey: String
    /// `GET /v2/billing/pods` (FakeRunPodBilling.swift).
    public let billing = FakeRunPodBilling()
    public private(set) var port: Int = 0
    /// `http://127.0.0.1:PORT` — pass it as `RunPodAPI(baseURL:)`.
    public var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    private let lock = NSLock()
    private var pods: [String: Pod] = [:]
    private var recorded: [RecordedRequest] = []
    private var rateLimitedLeft = 0
    private var retryAfter = 1
    private var currentMode = Mode.normal
    private var failures: [Int] = []
    private var hook: ActionHook?
    private var listener: Int32 = -1
    private var stopped = false
    private var thread: Thread?

    public init(apiKey: String = "rpa_TEST0000000000000000000000000000000000") throws {
        self.apiKey = apiKey
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw CCPodFakeError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw CCPodFakeError("bind/listen: \(String(cString: strerror(errno)))")
        }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        listener = fd
        let thread = Thread { [self] in serve() }
        thread.name = "FakeRunPodAPI"
        self.thread = thread
        thread.start()
    }

    deinit { shutdown() }

    /// Stops serving (the listener thread notices within 100 ms).
    public func shutdown() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    // MARK: - Configuring

    public func setPod(_ pod: Pod) { locked { pods[pod.id] = pod } }
    public func pod(_ id: String) -> Pod? { locked { pods[id] } }
    public func updatePod(_ id: String, _ change: (inout Pod) -> Void) {
        locked { if var pod = pods[id] { change(&pod); pods[id] = pod } }
    }

    /// Answer the next `count` requests with `status` (401, 403, 404, 500, 503, …) and
    /// an RFC 9457 problem body, whatever they ask.
    public func failNext(_ status: Int, count: Int = 1) {
        locked { failures += Array(repeating: status, count: count) }
    }

    /// Ties `start`, `stop` and `restart` to what the test simulates (see `ActionHook`).
    public func onAction(_ hook: @escaping ActionHook) {
        locked { self.hook = hook }
    }

    /// Answer the next `count` authenticated requests with 429 and `Retry-After: seconds`.
    public func rateLimitNext(_ count: Int, retryAfter seconds: Int = 1) {
        locked { rateLimitedLeft = count; retryAfter = seconds }
    }

    public var mode: Mode {
        get { locked { currentMode } }
        set { locked { currentMode = newValue } }
    }

    /// Requests received so far.
    public var requests: [RecordedRequest] { locked { recorded } }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: - Serving

    private func serve() {
        defer { close(listener) }
        while !locked({ stopped }) {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    private func handle(_ fd: Int32) {
        guard let request = readRequest(fd) else { return }
        locked { recorded.append(request) }
        let (status, headers, body) = respond(to: request)
        var head = "HTTP/1.1 \(status) \(FakeRunPodAPI.reason(status))\r\n"
        var all = headers
        all["Content-Length"] = String(body.count)
        all["Connection"] = "close"
        for (name, value) in all.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        writeAll(fd, Data(head.utf8) + body)
    }

    private func readRequest(_ fd: Int32) -> RecordedRequest? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 8192)
        let separator = Data("\r\n\r\n".utf8)
        var headerEnd: Range<Data.Index>?
        var contentLength = 0
        while true {
            if headerEnd == nil, let r = data.range(of: separator) {
                headerEnd = r
                let head = String(decoding: data[..<r.lowerBound], as: UTF8.self)
                for line in head.split(separator: "\r\n").dropFirst() where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let headerEnd, data.count - headerEnd.upperBound >= contentLength { break }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 5000) > 0 else { return nil }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return nil }
            data.append(contentsOf: buffer[0..<n])
        }
        guard let headerEnd else { return nil }
        let lines = String(decoding: data[..<headerEnd.lowerBound], as: UTF8.self).split(separator: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        guard parts.count >= 2 else { return nil }
        var headers = [String: String]()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = data[headerEnd.upperBound..<(headerEnd.upperBound + contentLength)]
        return RecordedRequest(method: String(parts[0]), path: String(parts[1]), headers: headers, body: Data(body))
    }

    private func writeAll(_ fd: Int32, _ data: Data) {
        var offset = 0
        data.withUnsafeBytes { raw in
            while offset < raw.count {
                #if canImport(Glibc)
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                #else
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                #endif
                if n <= 0 { return }
                offset += n
            }
        }
    }

    // MARK: - The API

    private static let policy = "\"minute\";q=60;w=60, \"hour\";q=3000;w=3600, \"day\";q=50000;w=86400"

    private func respond(to request: RecordedRequest) -> (Int, [String: String], Data) {
        if let status = locked({ failures.isEmpty ? nil : failures.removeFirst() }) {
            return problem(status, FakeRunPodAPI.reason(status), FakeRunPodAPI.failureDetail(status), rateLimited: status != 401)
        }
        guard let auth = request.headers["authorization"], auth.hasPrefix("Bearer ") else {
            return problem(401, "Unauthorized", "missing bearer token", rateLimited: false)
        }
        guard auth.dropFirst("Bearer ".count) == apiKey else {
            return problem(401, "Unauthorized", "invalid bearer token", rateLimited: false)
        }
        let (limited, wait, mode) = locked { () -> (Bool, Int, Mode) in
            if rateLimitedLeft > 0 { rateLimitedLeft -= 1; return (true, retryAfter, currentMode) }
            return (false, retryAfter, currentMode)
        }
        if limited {
            var answer = problem(429, "Too Many Requests", "rate limit exceeded for the minute window")
            answer.1["Retry-After"] = String(wait)
            answer.1["RateLimit"] = "\"minute\";r=0;t=\(wait), \"hour\";r=2800;t=1812, \"day\";r=49500;t=45012"
            return answer
        }
        switch mode {
        case .garbage:
            return (200, rateHeaders(["Content-Type": "application/json"]), Data("<html><body>502 Bad Gateway</body></html>".utf8))
        case .serverError:
            return problem(500, "Internal Server Error", "an unexpected error occurred")
        case .normal:
            break
        }
        let path = request.path.split(separator: "?").first.map(String.init) ?? request.path
        if request.method == "GET" && path == "/v2/billing/pods" { return billing.respond(query: String(request.path.dropFirst(path.count + 1))) }
        let segments = path.split(separator: "/").map(String.init)
        guard segments.count >= 3, segments[0] == "v2", segments[1] == "pods" else {
            return problem(404, "Not Found", "resource not found")
        }
        let id = segments[2]
        switch (request.method, segments.count) {
        case ("GET", 3):
            guard let pod = polled(id) else { return problem(404, "Not Found", "pod not found") }
            return (200, rateHeaders(["Content-Type": "application/json"]), FakeRunPodAPI.json(pod))
        case ("POST", 4) where segments[3] == "action":
            return action(id: id, body: request.body)
        default:
            var answer = problem(405, "Method Not Allowed", "The requested method is not allowed for this path.")
            answer.1["Allow"] = segments.count == 3 ? "GET, PATCH, DELETE" : "POST"
            return answer
        }
    }

    private func action(id: String, body: Data) -> (Int, [String: String], Data) {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            return problem(400, "Bad Request", "request body is not a JSON object")
        }
        if let extra = object.keys.first(where: { $0 != "action" }) {
            return problem(400, "Bad Request", "$: additional properties '\(extra)' not allowed")
        }
        guard let name = object["action"] as? String, let action = ["start", "stop", "restart", "terminate"].first(where: { $0 == name }) else {
            return problem(422, "Unprocessable Entity", "Request validation failed.")
        }
        guard let pod = pod(id) else { return problem(404, "Not Found", "pod not found") }
        guard FakeRunPodAPI.actions(for: pod.status).contains(action) else {
            return problem(409, "Conflict", "action '\(action)' is not valid for a pod in status \(pod.status)")
        }
        var updated = pod
        switch action {
        case "start", "restart":
            updated.status = pod.startingPolls > 0 ? "STARTING" : "RUNNING"
            updated.uptime = 0
            updated.sshPort = pod.sshPort >= 65000 ? 40000 : pod.sshPort + 1
        case "stop":
            updated.status = "EXITED"
        default:
            locked { _ = pods.removeValue(forKey: id) }
            return (204, rateHeaders([:]), Data())
        }
        if let hook = locked({ hook }) {
            do { try hook(action, &updated) } catch { return problem(500, "Internal Server Error", "an unexpected error occurred") }
        }
        setPod(updated)
        return (200, rateHeaders(["Content-Type": "application/json"]), FakeRunPodAPI.json(updated))
    }

    private func rateHeaders(_ headers: [String: String]) -> [String: String] {
        var all = headers
        all["RateLimit"] = "\"minute\";r=59;t=60, \"hour\";r=2999;t=3600, \"day\";r=49999;t=86400"
        all["RateLimit-Policy"] = FakeRunPodAPI.policy
        return all
    }

    private func problem(_ status: Int, _ title: String, _ detail: String, rateLimited: Bool = true) -> (Int, [String: String], Data) {
        let body = (try? JSONSerialization.data(withJSONObject: ["title": title, "status": status, "detail": detail], options: [.sortedKeys])) ?? Data()
        let headers = ["Content-Type": "application/problem+json"]
        return (status, rateLimited ? rateHeaders(headers) : headers, body)
    }

    /// The pod for a `GET`: a starting pod counts down its `startingPolls` to `RUNNING`.
    private func polled(_ id: String) -> Pod? {
        locked {
            guard var pod = pods[id] else { return nil }
            if pod.status == "STARTING" {
                if pod.startingPolls > 0 { pod.startingPolls -= 1 }
                if pod.startingPolls == 0 { pod.status = "RUNNING" }
                pods[id] = pod
            }
            return pod
        }
    }
}

/// Why a test helper could not start.
public struct CCPodFakeError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
