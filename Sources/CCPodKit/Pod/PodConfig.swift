import Foundation
import TOMLKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything ccpod knows about one configured pod (`[pods.NAME]` in config.toml).
public struct PodSettings: Sendable, Equatable {
    /// The pod's name (also its host key alias and the name of its known_hosts file).
    public var name: String
    /// Full SSH: exec, binary-safe stdin. Its port changes on every RunPod restart.
    public var direct: SSHEndpoint?
    /// Private key for both endpoints; nil = ssh's own choice (agent, ~/.ssh/config).
    public var identity: String?
    /// The stable, PTY-only RunPod proxy (`<podId>-<hex>@ssh.runpod.io`).
    public var proxy: SSHEndpoint?
    /// The RunPod pod id, for the API.
    public var runpodId: String?
    /// A file holding the RunPod API key (`RUNPOD_API_KEY` wins when set).
    public var apiKeyFile: String?
    /// Where things live on the pod.
    public var paths: PodPaths
    /// Extra `ssh` arguments, put before ccpod's own (tests use `-F /dev/null`).
    public var sshOptions: [String]
    /// How Claude Code is installed and run on the pod (`ccpod setup`, `launch`).
    public var runtime: PodRuntime
    /// Seconds without a byte from the pod before an exchange is given up
    /// (`inactivityTimeout`; nil: `CCPOD_TIMEOUT`, else 60).
    public var inactivityTimeout: Double?
    /// `pod_keep = "active"`: after a push, sessions not active here in the last
    /// `pod_keep_days` (default 14) and verified identical at home leave the pod (nil: all stay).
    public var podKeep: PodKeepMode?
    public var podKeepDays: Int?

    /// The window `pod_keep = "active"` keeps on the pod, in seconds; nil when the pod keeps everything.
    public var podKeepWindow: TimeInterval? {
        podKeep == .active ? TimeInterval(podKeepDays ?? 14) * 86400 : nil
    }
    /// Spending limits (`budget_usd_per_day` … in `[pods.NAME]`; see `CostBudget`).
    public var budget = CostBudget()

    public init(
        name: String, direct: SSHEndpoint? = nil, identity: String? = nil, proxy: SSHEndpoint? = nil,
        runpodId: String? = nil, apiKeyFile: String? = nil, paths: PodPaths = PodPaths(), sshOptions: [String] = [],
        runtime: PodRuntime = PodRuntime()
    ) {
        self.runtime = runtime
        self.name = name
        self.direct = direct
        self.identity = identity
        self.proxy = proxy
        self.runpodId = runpodId
        self.apiKeyFile = apiKeyFile
        self.paths = paths
        self.sshOptions = sshOptions
    }

    /// The RunPod API key: `RUNPOD_API_KEY` from the environment, else the first line of
    /// `apiKeyFile`, which only its owner may read or write (0600 or stricter; else exit 77).
    public func apiKey(environment: [String: String]) throws -> String? {
        if let key = environment["RUNPOD_API_KEY"], !key.isEmpty { return key }
        guard let apiKeyFile else { return nil }
        let path = (apiKeyFile as NSString).expandingTildeInPath
        var st = stat()
        if stat(path, &st) == 0, Int(st.st_mode) & 0o077 != 0 {
            throw CCPodError(.notPermitted,
                "the RunPod API key file \(path) of pod \(name) can be read or changed by others (mode \(String(Int(st.st_mode) & 0o777, radix: 8))); "
                + "make it private with `chmod 600 \(path)`")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CCPodError.usage("cannot read the RunPod API key file \(path) of pod \(name); fix apiKeyFile in the config or set RUNPOD_API_KEY")
        }
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return key.isEmpty ? nil : key
    }

    /// Throws a usage error when the identity file is configured but missing.
    public func checkIdentity() throws {
        guard let identity else { return }
        let path = (identity as NSString).expandingTildeInPath
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CCPodError.usage("the identity file \(path) of pod \(name) does not exist or cannot be read; fix it with `ccpod pod add \(name) … --identity FILE`")
        }
    }

    /// Checks a pod name: letters, digits, `.`, `_`, `-`; not starting with `-` or `.`; at most 64 characters.
    public static func validateName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 64,
              let first = name.first, first != "-", first != ".",
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw CCPodError.usage("\"\(name)\" is not a valid pod name: use letters, digits, '.', '_' and '-' (at most 64, not starting with '-' or '.')")
        }
        if name == "local" {
            throw CCPodError.usage("\"local\" is reserved; a folder that stands for a pod is written local:/path")
        }
    }
}

/// ccpod's config file (`config.toml` in the config dir).
///
/// ```toml
/// defaultPod = "gpu1"
///
/// [pods.gpu1]
/// direct = { user = "root", host = "203.0.113.7", port = 41022 }
/// proxy = "abc123-64411e4c@ssh.runpod.io"
/// identity = "/home/me/.ssh/id_ed25519"
/// runpodId = "abc123"
/// claudeDir = "/root/.claude"
/// inactivityTimeout = 120   # seconds without a byte from the pod (default 60)
/// pod_keep = "active"        # after a push, old sessions verified at home leave the pod
/// pod_keep_days = 14         # what "active" means (default 14)
/// ```
/// Sections ccpod does not know about are kept as they are when the file is saved.
public struct CCPodConfig: Sendable, Equatable {
    public var defaultPod: String?
    public var pods: [String: PodSettings]
    /// The team's session repository (`[share]`; kept as written when the config is saved).
    public var share = ShareSettings()
    /// The text the config was loaded from (other sections are carried over on save).
    private var source: String

    public init(defaultPod: String? = nil, pods: [String: PodSettings] = [:]) {
        self.defaultPod = defaultPod
        self.pods = pods
        self.source = ""
    }

    /// Loads `config.toml` from the config dir; a missing file is an empty config.
    public static func load(from locations: CCPodLocations) throws -> CCPodConfig {
        try load(file: locations.configFile)
    }

    /// Loads a config file; a missing file is an empty config.
    public static func load(file: URL) throws -> CCPodConfig {
        guard FileManager.default.fileExists(atPath: file.path) else { return CCPodConfig() }
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw CCPodError.io("cannot read \(file.path): \(error.localizedDescription)")
        }
        return try parse(text, origin: file.path)
    }

    /// Parses config text; `origin` names it in error messages.
    public static func parse(_ text: String, origin: String = "config.toml") throws -> CCPodConfig {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw CCPodError.badData("\(origin) is not valid TOML (line \(error.source.begin.line), column \(error.source.begin.column)): \(error.description)")
        } catch {
            throw CCPodError.badData("\(origin) is not valid TOML: \(error)")
        }
        ConfigNotices.emit(ConfigKeyCheck.configWarnings(table, text: text, origin: origin))
        var config = CCPodConfig()
        config.source = text
        func bad(_ what: String) -> CCPodError { .badData("\(origin): \(what)") }
        if let value = table["defaultPod"] {
            guard let s = value.string else { throw bad("defaultPod must be a string") }
            config.defaultPod = s
        }
        if let podsValue = table["pods"] {
            guard let pods = podsValue.table else { throw bad("pods must be a table ([pods.NAME])") }
            for name in pods.keys {
                guard let t = pods[name]?.table else { throw bad("pods.\(name) must be a table") }
                config.pods[name] = try podSettings(name: name, table: t, bad: { bad("pods.\(name): \($0)") })
            }
        }
        if let value = table["share"] {
            guard let t = value.table else { throw bad("share must be a table ([share])") }
            config.share = try ShareSettings.parse(t, bad: { bad($0) })
        }
        return config
    }

    private static func podSettings(name: String, table t: TOMLTable, bad: (String) -> CCPodError) throws -> PodSettings {
        func string(_ key: String) throws -> String? {
            guard let v = t[key] else { return nil }
            guard let s = v.string else { throw bad("\(key) must be a string") }
            return s
        }
        var pod = PodSettings(name: name)
        if let v = t["direct"] {
            if let s = v.string {
                do { pod.direct = try SSHEndpoint.parse(s, option: "direct") } catch let e as CCPodError { throw bad(e.message) }
            } else if let d = v.table {
                guard let host = d["host"]?.string, !host.isEmpty else { throw bad("direct.host is missing") }
                let user = d["user"]?.string ?? "root"
                let port = d["port"]?.int ?? 22
                guard (1...65535).contains(port) else { throw bad("direct.port \(port) is not from 1 to 65535") }
                pod.direct = SSHEndpoint(user: user, host: host, port: port)
            } else {
                throw bad("direct must be a table { user, host, port } or \"user@host:port\"")
            }
        }
        if let s = try string("proxy") {
            do { pod.proxy = try SSHEndpoint.parse(s, defaultUser: nil, option: "proxy") } catch let e as CCPodError { throw bad(e.message) }
        }
        pod.identity = try string("identity")
        pod.runpodId = try string("runpodId")
        pod.apiKeyFile = try string("apiKeyFile")
        if let s = try string("claudeDir") { pod.paths.claudeDir = s }
        if let s = try string("persistentDir") { pod.paths.persistentDir = s }
        if let s = try string("workspace") { pod.paths.workspace = s }
        if let s = try string("environmentFile") { pod.paths.environmentFile = s }
        if let s = try string("hostKeyFile") { pod.paths.hostKeyFile = s }
        if let s = try string("installCommand") { pod.runtime.installCommand = s }
        if let s = try string("binDir") { pod.runtime.binDir = s }
        if let s = try string("tmux") { pod.runtime.tmux = s }
        if let s = try string("tmuxSocket") { pod.runtime.tmuxSocket = s }
        if let v = t["claudeEnv"] {
            guard let env = v.table else { throw bad("claudeEnv must be a table of strings, e.g. { HF_HOME = \"/workspace/hf\" }") }
            for key in env.keys {
                guard PodRuntime.isVariableName(key) else { throw bad("claudeEnv: \(key.debugDescription) is not a variable name (letters, digits, _)") }
                guard let value = env[key]?.string, !value.utf8.contains(0) else { throw bad("claudeEnv.\(key) must be a string") }
                pod.runtime.claudeEnvironment[key] = value
            }
        }
        if let v = t["inactivityTimeout"] {
            guard let seconds = v.double ?? v.int.map(Double.init), seconds > 0, seconds <= 86400 else {
                throw bad("inactivityTimeout must be a positive number of seconds, at most 86400")
            }
            pod.inactivityTimeout = seconds
        }
        if let v = t["pod_keep"] {
            guard let text = v.string, let mode = PodKeepMode(rawValue: text) else { throw bad("pod_keep must be \"all\" or \"active\"") }
            pod.podKeep = mode
        }
        if let v = t["pod_keep_days"] {
            guard let days = v.int, days >= 1, days <= 36500 else { throw bad("pod_keep_days must be a whole number of days, at least 1") }
            pod.podKeepDays = days
        }
        pod.budget = try CostBudget.parse(t, bad: bad)
        if let v = t["sshOptions"] {
            guard let a = v.array else { throw bad("sshOptions must be a list of strings") }
            pod.sshOptions = try a.map { element in
                guard let s = element.string else { throw bad("sshOptions must be a list of strings") }
                return s
            }
        }
        return pod
    }

    /// The config as TOML text (other sections of the loaded text kept).
    public func serialized() throws -> String {
        let table = (try? TOMLTable(string: source)) ?? TOMLTable()
        table.remove(at: "defaultPod")
        table.remove(at: "pods")
        if let defaultPod { table["defaultPod"] = defaultPod }
        let podsTable = TOMLTable()
        let defaults = PodPaths()
        for name in pods.keys.sorted() {
            let pod = pods[name]!
            let t = TOMLTable()
            if let d = pod.direct {
                let dt = TOMLTable(inline: true)
                dt["user"] = d.user
                dt["host"] = d.host
                dt["port"] = d.port
                t["direct"] = dt
            }
            if let p = pod.proxy { t["proxy"] = p.port == 22 ? p.userAtHost : p.description }
            if let s = pod.identity { t["identity"] = s }
            if let s = pod.runpodId { t["runpodId"] = s }
            if let s = pod.apiKeyFile { t["apiKeyFile"] = s }
            if pod.paths.claudeDir != defaults.claudeDir { t["claudeDir"] = pod.paths.claudeDir }
            if pod.paths.persistentDir != defaults.persistentDir { t["persistentDir"] = pod.paths.persistentDir }
            if pod.paths.workspace != defaults.workspace { t["workspace"] = pod.paths.workspace }
            if pod.paths.environmentFile != defaults.environmentFile { t["environmentFile"] = pod.paths.environmentFile }
            if pod.paths.hostKeyFile != defaults.hostKeyFile { t["hostKeyFile"] = pod.paths.hostKeyFile }
            if !pod.sshOptions.isEmpty { t["sshOptions"] = TOMLArray(pod.sshOptions) }
            let runtime = PodRuntime()
            if pod.runtime.installCommand != runtime.installCommand { t["installCommand"] = pod.runtime.installCommand }
            if pod.runtime.binDir != runtime.binDir { t["binDir"] = pod.runtime.binDir }
            if pod.runtime.tmux != runtime.tmux { t["tmux"] = pod.runtime.tmux }
            if let s = pod.runtime.tmuxSocket { t["tmuxSocket"] = s }
            if !pod.runtime.claudeEnvironment.isEmpty {
                let env = TOMLTable(inline: true)
                for (key, value) in pod.runtime.claudeEnvironment.sorted(by: { $0.key < $1.key }) { env[key] = value }
                t["claudeEnv"] = env
            }
            if let seconds = pod.inactivityTimeout {
                if seconds == seconds.rounded() { t["inactivityTimeout"] = Int(seconds) } else { t["inactivityTimeout"] = seconds }
            }
            if let mode = pod.podKeep { t["pod_keep"] = mode.rawValue }
            if let days = pod.podKeepDays { t["pod_keep_days"] = days }
            pod.budget.write(into: t)
            podsTable[name] = t
        }
        if !pods.isEmpty { table["pods"] = podsTable }
        return table.convert(to: .toml)
    }

    /// Saves atomically to `config.toml` in the config dir (folder 0700, file 0600).
    public func save(to locations: CCPodLocations) throws {
        try save(file: locations.configFile)
    }

    /// Saves atomically to `file` (folder 0700, file 0600).
    public func save(file: URL) throws {
        try CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        var text = try serialized()
        if !text.hasSuffix("\n") { text += "\n" }
        try AtomicFile.write(Data(text.utf8), to: file, mode: 0o600)
    }

    /// The settings of a configured pod, or a usage error naming the pods there are.
    public func pod(named name: String) throws -> PodSettings {
        if let pod = pods[name] { return pod }
        let known = pods.keys.sorted()
        let list = known.isEmpty ? "no pods are configured; add one with `ccpod pod add NAME --direct root@HOST:PORT`"
            : "configured pods: \(known.joined(separator: ", "))"
        throw CCPodError.usage("unknown pod \"\(name)\" (\(list))")
    }

    public static func == (a: CCPodConfig, b: CCPodConfig) -> Bool {
        a.defaultPod == b.defaultPod && a.pods == b.pods && a.share == b.share
    }
}

/// What a pod keeps of the sessions pushed to it (`pod_keep`).
public enum PodKeepMode: String, Sendable, Equatable {
    /// Everything (the default).
    case all
    /// Only sessions active here in the last `pod_keep_days`.
    case active
}
