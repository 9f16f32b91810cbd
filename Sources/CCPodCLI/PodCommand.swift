import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod pod …`: the pods ccpod knows.
struct PodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod",
        abstract: "Add, list, remove and choose pods; see, start, stop and terminate them through the RunPod API; stop them when idle.",
        subcommands: [Add.self, List.self, Remove.self, Default.self, Trust.self,
                      PodStatusCommand.self, PodStartCommand.self, PodStopCommand.self, PodTerminateCommand.self, AutostopCommand.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a pod (or replace one of the same name) after checking that ssh to it works.",
            discussion: """
            With --proxy, the pod's direct address (when --direct is left out) and its host key \
            are read through the proxy's shell (/etc/rp_environment and the sshd's key) and \
            checked against what the direct endpoint shows; the proxy's own key is shown and \
            asked about the first time, as ssh does (--accept-new for scripts). Without a proxy \
            the pod's fingerprint is shown and asked about. Nothing is saved unless a test \
            login with that key succeeds.
            """)

        @Argument(help: "A name for the pod (letters, digits, '.', '_', '-').")
        var name: String
        @Option(help: ArgumentHelp("The direct SSH endpoint, as RunPod shows it (learned through --proxy when left out).", valueName: "root@HOST:PORT"))
        var direct: String?
        @Option(help: ArgumentHelp("The user on the direct endpoint when --direct is left out (default root).", valueName: "USER"))
        var user: String?
        @Option(help: ArgumentHelp("RunPod's stable SSH proxy.", valueName: "USER@HOST"))
        var proxy: String?
        @Option(name: .customLong("runpod-id"), help: ArgumentHelp("The RunPod pod id (for the API).", valueName: "ID"))
        var runpodID: String?
        @Option(help: ArgumentHelp("The private key to log in with.", valueName: "FILE"))
        var identity: String?
        @Option(name: .customLong("api-key-file"), help: ArgumentHelp("A file holding the RunPod API key (RUNPOD_API_KEY wins).", valueName: "FILE"))
        var apiKeyFile: String?
        @Flag(name: .customLong("accept-new"), help: "Trust a host key seen for the first time (the pod's, or the proxy's) without asking.")
        var acceptNew = false
        @Option(name: .customLong("claude-dir"), help: ArgumentHelp("Claude Code's config dir on the pod.", valueName: "PATH"))
        var claudeDir: String?
        @Option(help: ArgumentHelp("The pod's persistent workspace.", valueName: "PATH"))
        var workspace: String?
        @Option(name: .customLong("persistent-dir"), help: ArgumentHelp("Where ccpod keeps sessions on the pod.", valueName: "PATH"))
        var persistentDir: String?
        @Option(name: .customLong("environment-file"), help: ArgumentHelp("The pod's RunPod environment file.", valueName: "PATH"))
        var environmentFile: String?
        @Option(name: .customLong("host-key-file"), help: ArgumentHelp("The pod's sshd public host key.", valueName: "PATH"))
        var hostKeyFile: String?
        @Option(name: .customLong("ssh-option"), help: ArgumentHelp("An extra ssh argument (repeatable), e.g. --ssh-option=-F --ssh-option=/dev/null.", valueName: "ARG"))
        var sshOptions: [String] = []
        @Flag(name: .customLong("default"), help: "Make this the default pod.")
        var makeDefault = false

        func validate() throws {
            do { try PodSettings.validateName(name) } catch let e as CCPodError { throw ValidationError(e.message) }
            if direct == nil && proxy == nil {
                throw ValidationError("give the pod's --direct root@HOST:PORT, or its --proxy USER@HOST to learn the direct endpoint through it")
            }
            if direct != nil && user != nil {
                throw ValidationError("--user is for a direct endpoint learned through --proxy; with --direct, write the user there (USER@HOST:PORT)")
            }
        }

        func run() throws {
            var pod = try settings()
            let trust = HostKeyTrust(acceptNew: acceptNew, interactive: CLIContext.isInteractive, ask: CLIContext.askYesNo)
            // With a proxy, the pod's key (and, without --direct, its address) come from the pod
            // itself through the proxy; nil falls back to ssh-keyscan and a confirmed fingerprint.
            var source: ProxyHostKeySource?
            defer { source?.discard() }
            if pod.proxy != nil {
                let learned = try ProxyHostKeySource.probe(
                    PodProxy(settings: pod, locations: CLIContext.locations, environment: CLIContext.environment), trust: trust)
                source = learned
                Console.note("learned through the proxy: \(learned.summary)")
                if pod.runpodId == nil, let id = learned.reported.podId, RunPodAPI.isValidPodId(id) { pod.runpodId = id }
                if let direct = pod.direct {
                    if direct.host != learned.reported.host || direct.port != learned.reported.port {
                        Console.note("note: the pod reports its direct address as \(learned.reportedAddress); using \(direct.description) as given")
                    }
                } else {
                    let login = try SSHEndpoint.parse("\(user ?? "root")@\(learned.reportedAddress)", option: "--user")
                    pod.direct = login
                }
            }
            let outcome = try PodRegistry(locations: CLIContext.locations)
                .add(pod, makeDefault: makeDefault, trust: trust, trustedSource: source)
            if let proxyKeys = source?.proxy.learned {
                let fingerprints = proxyKeys.keys.map(\.fingerprint).joined(separator: ", ")
                Console.note("proxy host key \(fingerprints) \(proxyKeys.how), pinned for \(pod.name)'s proxy")
            }
            let fingerprints = outcome.learned.keys.map(\.fingerprint).joined(separator: ", ")
            Console.note("host key \(fingerprints) \(outcome.learned.how), pinned for \(pod.name)")
            Console.note("\(outcome.replaced ? "updated" : "added") pod \(pod.name) (\(pod.direct!.description))\(outcome.isDefault ? ", the default pod" : "")")
        }

        /// The settings the flags describe; usage errors for anything malformed.
        func settings() throws -> PodSettings {
            var pod = PodSettings(name: name)
            if let direct { pod.direct = try SSHEndpoint.parse(direct, option: "--direct") }
            if let proxy { pod.proxy = try SSHEndpoint.parse(proxy, defaultUser: nil, option: "--proxy") }
            pod.runpodId = runpodID
            if let identity {
                let path = Add.absolute(identity)
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw CCPodError.usage("--identity \(identity): no readable file at \(path)")
                }
                pod.identity = path
            }
            pod.apiKeyFile = apiKeyFile.map(Add.absolute)
            if let claudeDir { pod.paths.claudeDir = try Add.podPath(claudeDir, "--claude-dir") }
            if let workspace { pod.paths.workspace = try Add.podPath(workspace, "--workspace") }
            if let persistentDir { pod.paths.persistentDir = try Add.podPath(persistentDir, "--persistent-dir") }
            if let environmentFile { pod.paths.environmentFile = try Add.podPath(environmentFile, "--environment-file") }
            if let hostKeyFile { pod.paths.hostKeyFile = try Add.podPath(hostKeyFile, "--host-key-file") }
            pod.sshOptions = sshOptions
            return pod
        }

        static func absolute(_ path: String) -> String {
            let expanded = (path as NSString).expandingTildeInPath
            if expanded.hasPrefix("/") { return expanded }
            return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
                .appendingPathComponent(expanded).standardizedFileURL.path
        }

        static func podPath(_ path: String, _ option: String) throws -> String {
            guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw CCPodError.usage("\(option) \(path): give an absolute path on the pod, without '..'")
            }
            return path
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the configured pods.")

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let config = try CCPodConfig.load(from: CLIContext.locations)
            Console.out(json ? try PodListing.json(config) : PodListing.text(config))
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Forget a pod (its config entry and pinned host key).")

        @Argument(help: "The pod's name.")
        var name: String

        func run() throws {
            try PodRegistry(locations: CLIContext.locations).remove(name: name)
            Console.note("removed pod \(name)")
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "default", abstract: "Make a pod the default.")

        @Argument(help: "The pod's name.")
        var name: String

        func run() throws {
            try PodRegistry(locations: CLIContext.locations).setDefault(name: name)
            Console.note("\(name) is now the default pod")
        }
    }

    struct Trust: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trust",
            abstract: "Learn and pin a pod's host key again (after a restart made a new one).",
            discussion: """
            With a proxy, the pod's current address and key are read through it (and the pod \
            moved there unless RUNPOD_PORT is set); the proxy's own key is asked about the first \
            time. Without one, the new fingerprint is shown and asked about, as ssh does. \
            --accept-new for scripts.
            """)

        @Argument(help: "The pod's name.")
        var name: String
        @Flag(name: .customLong("accept-new"), help: "Trust a host key seen for the first time (the pod's, or the proxy's) without asking.")
        var acceptNew = false

        func run() throws {
            let trust = HostKeyTrust(acceptNew: acceptNew, interactive: CLIContext.isInteractive, ask: CLIContext.askYesNo)
            let config = try CCPodConfig.load(from: CLIContext.locations)
            var source: ProxyHostKeySource?
            defer { source?.discard() }
            if let pod = try PodResolver.settings(name: name, environment: CLIContext.environment, config: config), pod.proxy != nil {
                let learned = try ProxyHostKeySource.probe(
                    PodProxy(settings: pod, locations: CLIContext.locations, environment: CLIContext.environment), trust: trust)
                source = learned
                Console.note("learned through the proxy: \(learned.summary)")
            }
            let outcome = try PodRegistry(locations: CLIContext.locations)
                .trustAgain(name: name, environment: CLIContext.environment, trust: trust, trustedSource: source)
            if let proxyKeys = source?.proxy.learned {
                let fingerprints = proxyKeys.keys.map(\.fingerprint).joined(separator: ", ")
                Console.note("proxy host key \(fingerprints) \(proxyKeys.how), pinned for \(name)'s proxy")
            }
            if let id = source?.reported.podId, RunPodAPI.isValidPodId(id) {
                var saved = try CCPodConfig.load(from: CLIContext.locations)
                if saved.pods[name] != nil, saved.pods[name]?.runpodId == nil {
                    saved.pods[name]?.runpodId = id
                    try saved.save(to: CLIContext.locations)
                    Console.note("\(name) is RunPod pod \(id) (read through the proxy), saved for `ccpod pod status`")
                }
            }
            if let from = outcome.movedFrom, let to = outcome.pod.direct {
                Console.note("\(name): \(from.description) → \(to.description) (through the proxy), saved")
            }
            let fingerprints = outcome.learned.keys.map(\.fingerprint).joined(separator: ", ")
            Console.note("host key \(fingerprints) \(outcome.learned.how), pinned for \(name)")
        }
    }
}

/// Renders the pod list.
enum PodListing {
    struct Entry: Codable {
        var name: String
        var isDefault: Bool
        var direct: String?
        var proxy: String?
        var runpodId: String?
        var identity: String?
        var paths: PodPaths
    }

    static func entries(_ config: CCPodConfig) -> [Entry] {
        config.pods.keys.sorted().map { name in
            let p = config.pods[name]!
            return Entry(name: name, isDefault: config.defaultPod == name, direct: p.direct?.description,
                         proxy: p.proxy?.userAtHost, runpodId: p.runpodId, identity: p.identity, paths: p.paths)
        }
    }

    static func json(_ config: CCPodConfig) throws -> String {
        if config.pods.isEmpty { return "[]\n" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(entries(config)), as: UTF8.self) + "\n"
    }

    static func text(_ config: CCPodConfig) -> String {
        let list = entries(config)
        if list.isEmpty { return "no pods; add one with `ccpod pod add NAME --direct root@HOST:PORT`\n" }
        return list.map { e in
            var line = "\(e.isDefault ? "*" : " ") \(e.name)  \(e.direct ?? "-")"
            if let proxy = e.proxy { line += "  proxy \(proxy)" }
            if let id = e.runpodId { line += "  runpod \(id)" }
            return line
        }.joined(separator: "\n") + "\n"
    }
}
