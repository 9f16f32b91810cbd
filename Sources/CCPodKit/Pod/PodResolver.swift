import Foundation

/// A pod chosen for a command: its settings (nil for `local:` pods) and a connection.
public struct ResolvedPod: Sendable {
    /// The pod's name, or `local:/path`.
    public var name: String
    /// The configured settings, with `RUNPOD_PORT` applied; nil for `local:` pods.
    public var settings: PodSettings?
    public var connection: any PodConnection

    public init(name: String, settings: PodSettings?, connection: any PodConnection) {
        self.name = name
        self.settings = settings
        self.connection = connection
    }
}

/// Picks the pod a command works on: `--pod NAME` > `CCPOD_POD` > the project's pod
/// (`pod` in its .ccpod.toml) > `defaultPod` in the config. `local:/path` works wherever
/// a name does. `RUNPOD_PORT` overrides the direct port of the chosen pod (not saved).
/// Commands go through `PodAccess`, which adds first-contact trust and restart recovery.
public enum PodResolver {
    /// The name (or `local:` spec) that applies, or a usage error when there is none.
    public static func chosenName(name: String?, projectPod: String? = nil, environment: [String: String],
                                  config: CCPodConfig) throws -> String {
        if let name, !name.isEmpty { return name }
        if let env = environment["CCPOD_POD"], !env.isEmpty { return env }
        if let projectPod, !projectPod.isEmpty { return projectPod }
        if let d = config.defaultPod, !d.isEmpty { return d }
        throw CCPodError.usage("no pod chosen: pass --pod NAME, set CCPOD_POD, or make one the default with `ccpod pod default NAME` (try local:/path for a folder)")
    }

    /// The settings of a configured pod with `RUNPOD_PORT` applied; nil for `local:` specs.
    public static func settings(name: String?, environment: [String: String], config: CCPodConfig) throws -> PodSettings? {
        let chosen = try chosenName(name: name, environment: environment, config: config)
        return try settings(chosen: chosen, environment: environment, config: config)
    }

    /// Where the chosen name came from, for an error about it.
    static func origin(name: String?, environment: [String: String], locations: CCPodLocations?) -> String {
        if let name, !name.isEmpty { return "--pod" }
        if let env = environment["CCPOD_POD"], !env.isEmpty { return "CCPOD_POD" }
        return locations.map { "the default pod in \($0.configFile.path)" } ?? "the default pod"
    }

    /// The settings of the pod named `chosen` with `RUNPOD_PORT` applied; nil for `local:` specs.
    /// An unknown name is a usage error that says where the name came from (`origin`).
    static func settings(chosen: String, environment: [String: String], config: CCPodConfig,
                         origin: String? = nil) throws -> PodSettings? {
        if chosen.hasPrefix("local:") { return nil }
        var pod: PodSettings
        do {
            pod = try config.pod(named: chosen)
        } catch let error as CCPodError where origin != nil {
            throw CCPodError(error.status, error.message + "; the name comes from \(origin!)")
        }
        if let portText = environment["RUNPOD_PORT"], !portText.isEmpty {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw CCPodError.usage("RUNPOD_PORT=\(portText) is not a port number from 1 to 65535")
            }
            guard pod.direct != nil else {
                throw CCPodError.usage("RUNPOD_PORT is set but pod \(pod.name) has no direct endpoint")
            }
            pod.direct?.port = port
        }
        return pod
    }

    /// Resolves the pod and builds its connection (SSH for configured pods, a local `sh` for `local:/path`).
    /// The config is read once, the environment once.
    public static func resolvePod(
        name: String?, projectPod: String? = nil, environment: [String: String], locations: CCPodLocations,
        recorder: ExecRecorder? = nil
    ) throws -> ResolvedPod {
        let config = try CCPodConfig.load(from: locations)
        let chosen = try chosenName(name: name, projectPod: projectPod, environment: environment, config: config)
        if chosen.hasPrefix("local:") {
            let local = try LocalConnection.parse(chosen, recorder: recorder)
            return ResolvedPod(name: local.displayName, settings: nil, connection: local)
        }
        let from = (name?.isEmpty == false || environment["CCPOD_POD"]?.isEmpty == false || projectPod?.isEmpty != false)
            ? origin(name: name, environment: environment, locations: locations)
            : "`pod` in the project's \(ProjectSettings.fileName)"
        guard let pod = try settings(chosen: chosen, environment: environment, config: config, origin: from) else {
            throw CCPodError.usage("unknown pod \"\(chosen)\"")
        }
        let ssh = try SSHConnection(settings: pod, locations: locations, recorder: recorder)
        return ResolvedPod(name: pod.name, settings: pod, connection: ssh)
    }

    /// Resolves the pod and returns only its connection.
    public static func resolve(
        name: String?, environment: [String: String], locations: CCPodLocations, recorder: ExecRecorder? = nil
    ) throws -> any PodConnection {
        try resolvePod(name: name, environment: environment, locations: locations, recorder: recorder).connection
    }
}
