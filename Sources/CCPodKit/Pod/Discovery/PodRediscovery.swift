import Foundation

/// How a direct SSH connection to a pod failed.
public enum DirectFailure: String, Sendable, CaseIterable {
    case refused
    case timedOut
    case hostKeyChanged
    /// Closed the connection before the command ran, twice (a fresh connection too).
    case closed

    var phrase: String {
        switch self {
        case .refused: return "refused the connection"
        case .timedOut: return "did not answer"
        case .hostKeyChanged: return "presented a different host key"
        case .closed: return "closed the connection before the command ran (a fresh one too)"
        }
    }
}

/// Where a rediscovered address came from.
public enum RediscoverySource: String, Sendable, Equatable {
    /// The pod's own files, read through its authenticated proxy: address and host key.
    case proxy
    /// RunPod's API: address only, no host key.
    case api
    /// The user typed the new port: port only, no host key.
    case prompt
}

/// What rediscovery would do, decided from what is configured (no I/O).
public enum RediscoveryPlan: Sendable, Equatable {
    /// Read the address through the proxy; if that fails, ask the API when `fallbackToAPI`.
    case proxy(fallbackToAPI: Bool)
    case api
    case prompt
    /// Nothing can be done safely; the error says what to configure.
    case refuse(CCPodError)

    public static func == (a: RediscoveryPlan, b: RediscoveryPlan) -> Bool {
        switch (a, b) {
        case let (.proxy(x), .proxy(y)): return x == y
        case (.api, .api), (.prompt, .prompt): return true
        case let (.refuse(x), .refuse(y)): return x.status == y.status && x.message == y.message
        default: return false
        }
    }
}

/// What changed, for the caller to print, pin and save (only after it verified the new address works).
public struct RediscoveryResult: Sendable, Equatable {
    public var source: RediscoverySource
    public var oldHost: String
    public var oldPort: Int
    public var newHost: String
    public var newPort: Int
    /// The host key learned over a trusted channel (the proxy); nil when the source cannot
    /// vouch for one (API, prompt): the caller must verify it as on first contact.
    public var hostKey: String?
    /// Whether `hostKey` differs from the pinned one; nil when unknown.
    public var hostKeyChanged: Bool?
    /// The RunPod pod id the source reported, when it did.
    public var podId: String?

    public var addressChanged: Bool { oldHost != newHost || oldPort != newPort }

    /// One line for people: `gpu1: 203.0.113.7:41022 → 203.0.113.7:41999 (through the proxy); new host key pinned`.
    public func summary(podName: String) -> String {
        let address = addressChanged
            ? "\(oldHost):\(oldPort) → \(newHost):\(newPort)"
            : "address unchanged (\(newHost):\(newPort))"
        let from: String
        switch source {
        case .proxy: from = "through the proxy"
        case .api: from = "from the RunPod API"
        case .prompt: from = "as entered"
        }
        let key: String
        switch (hostKey, hostKeyChanged) {
        case (nil, _): key = "host key not known yet: it will be verified on first contact"
        case (_, true?): key = "new host key learned through the proxy"
        default: key = "host key unchanged"
        }
        return "\(podName): \(address) (\(from)); \(key)"
    }
}

/// Finds a pod's new direct address after a restart, from plain values (the caller
/// maps them from its config): through the proxy when there is one, else RunPod's
/// API, else by asking on a terminal; otherwise fails with the fix. A changed host
/// key is accepted only from the proxy, never from the API or a prompt.
public struct PodRediscovery: Sendable {
    public var podName: String
    public var host: String
    public var port: Int
    /// The host key pinned for the direct endpoint now (`TYPE BASE64`), if any.
    public var pinnedHostKey: String?
    /// The proxy control channel, when a proxy is configured.
    public var proxy: ProxyControlChannel?
    /// Where the pod keeps its environment file and host key.
    public var podPaths: PodPaths
    public var runPodId: String?
    /// The API client (carrying the key), when a key is configured.
    public var api: RunPodAPI?
    /// Asks the user for a line (the new port); nil when not on a terminal.
    public var ask: (@Sendable (String) -> String?)?

    public init(podName: String, host: String, port: Int, pinnedHostKey: String? = nil,
                proxy: ProxyControlChannel? = nil, podPaths: PodPaths = PodPaths(),
                runPodId: String? = nil, api: RunPodAPI? = nil,
                ask: (@Sendable (String) -> String?)? = nil) {
        self.podName = podName
        self.host = host
        self.port = port
        self.pinnedHostKey = pinnedHostKey
        self.proxy = proxy
        self.podPaths = podPaths
        self.runPodId = runPodId
        self.api = api
        self.ask = ask
    }

    var hasAPI: Bool { api != nil && !(runPodId ?? "").isEmpty }

    /// The decision table.
    public func plan(after failure: DirectFailure) -> RediscoveryPlan {
        if proxy != nil { return .proxy(fallbackToAPI: hasAPI && failure != .hostKeyChanged) }
        if failure == .hostKeyChanged {
            return .refuse(CCPodError(.podLost, 
                "\(podName) (\(host):\(port)) presented a different host key, and ccpod has no trusted way to learn the new one. "
                + "Add the pod's proxy (`ccpod pod add \(podName) --direct root@\(host):PORT --proxy POD-ID@ssh.runpod.io`) "
                + "so ccpod can read the key through it, or check the key yourself before trusting it."))
        }
        if hasAPI { return .api }
        if ask != nil { return .prompt }
        return .refuse(CCPodError(.podLost, 
            "\(podName) \(failure.phrase) at \(host):\(port); the pod may have restarted on a new port. "
            + "To let ccpod find it: add its proxy (`ccpod pod add \(podName) --direct root@HOST:PORT --proxy POD-ID@ssh.runpod.io`), "
            + "or its RunPod id (`--runpod-id`) with RUNPOD_API_KEY, or set RUNPOD_PORT=<new port> for this run."))
    }

    /// Runs the plan. Throws the refusal, or the source's own error (69 unreachable,
    /// 65 garbage, 77 API key rejected, 64 bad port typed). Changes nothing itself.
    public func rediscover(after failure: DirectFailure) throws -> RediscoveryResult {
        switch plan(after: failure) {
        case .refuse(let error):
            throw error
        case .proxy(let fallbackToAPI):
            do {
                return try throughProxy()
            } catch let error as CCPodError where fallbackToAPI && error.status == .unavailable
                        && error.sshFailure != .hostKeyChanged && error.sshFailure != .hostKeyUnknown {
                // A proxy that is down is worked around; one whose key is wrong is reported.
                return try throughAPI()
            }
        case .api:
            return try throughAPI()
        case .prompt:
            return try byAsking(failure)
        }
    }

    func throughProxy() throws -> RediscoveryResult {
        guard let proxy else { throw CCPodError.failure("no proxy configured") }
        let found = try PodAddressProbe(paths: podPaths).probe(through: proxy, expectingPodId: runPodId)
        return RediscoveryResult(
            source: .proxy, oldHost: host, oldPort: port, newHost: found.host, newPort: found.port,
            hostKey: found.hostKey, hostKeyChanged: pinnedHostKey.map { $0 != found.hostKey },
            podId: found.podId)
    }

    func throughAPI() throws -> RediscoveryResult {
        guard let api, let id = runPodId, !id.isEmpty else { throw CCPodError.failure("no RunPod API configured") }
        let endpoint = try api.pod(id: id).directEndpoint()
        return RediscoveryResult(source: .api, oldHost: host, oldPort: port, newHost: endpoint.host, newPort: endpoint.port,
                                 hostKey: nil, hostKeyChanged: nil, podId: id)
    }

    func byAsking(_ failure: DirectFailure) throws -> RediscoveryResult {
        guard let ask else { throw CCPodError.failure("no terminal to ask on") }
        let question = "\(podName) \(failure.phrase) at \(host):\(port). New SSH port (RunPod console → Connect → "
            + "SSH over exposed TCP), empty to cancel: "
        let answer = (ask(question) ?? "").trimmingCharacters(in: .whitespaces)
        guard !answer.isEmpty else {
            throw CCPodError.unavailable("\(podName): no new port given; nothing changed")
        }
        guard let newPort = Int(answer), (1...65535).contains(newPort) else {
            throw CCPodError.usage("'\(answer.prefix(20))' is not a TCP port (1–65535); nothing changed")
        }
        return RediscoveryResult(source: .prompt, oldHost: host, oldPort: port, newHost: host, newPort: newPort,
                                 hostKey: nil, hostKeyChanged: nil, podId: runPodId)
    }
}
