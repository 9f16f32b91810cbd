import ArgumentParser
import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What commands read from the world: the environment (and through it, the config
/// and state dirs). Tests replace it with `CLIContext.$environment.withValue`.
public enum CLIContext {
    @TaskLocal public static var environment: [String: String] = ProcessInfo.processInfo.environment

    /// ccpod's config and state dirs for the current environment.
    public static var locations: CCPodLocations { CCPodLocations.resolve(environment: environment) }

    /// Asks on the terminal whether to go on; true only for y/yes.
    public static func askYesNo(_ question: String) -> Bool {
        FileHandle.standardError.write(Data(question.utf8))
        guard let answer = readLine() else { return false }
        let a = answer.trimmingCharacters(in: .whitespaces).lowercased()
        return a == "y" || a == "yes"
    }

    /// Set to false in tests so nothing ever waits for an answer on a terminal.
    @TaskLocal public static var interactiveOverride: Bool? = nil

    /// Whether a person can answer questions (stdin and stderr are terminals).
    public static var isInteractive: Bool { interactiveOverride ?? (isatty(0) == 1 && isatty(2) == 1) }
}

/// `--pod NAME`, shared by every command that works on a pod (`@OptionGroup var pod: PodOptions`).
public struct PodOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The pod to use: a name from `ccpod pod list`, or local:/path. Default: $CCPOD_POD, else the default pod.",
        valueName: "name"))
    public var pod: String?

    @Option(name: .long, help: ArgumentHelp(
        "Give up on the pod after this many seconds without a byte from it. Default: $CCPOD_TIMEOUT, else the pod's inactivityTimeout, else 60.",
        valueName: "seconds"))
    public var timeout: Double?

    public init() {}

    public mutating func validate() throws {
        if let timeout, PodProcess.parseTimeout(String(timeout)) == nil {
            throw ValidationError("--timeout must be a positive number of seconds, at most 86400")
        }
    }

    /// These options with the project's pod (`pod` in its .ccpod.toml) as the choice
    /// when neither --pod nor CCPOD_POD names one.
    public func preferring(projectPod: String?) -> PodOptions {
        var options = self
        if options.pod == nil, CLIContext.environment["CCPOD_POD"] == nil, let projectPod { options.pod = projectPod }
        return options
    }

    /// The chosen pod and its connection. On first contact with a pod whose host key
    /// is not pinned yet (a pod written into config.toml by hand), learns it as
    /// `ccpod pod trust` does: through the pod's proxy when it has one, else by
    /// fingerprint and question on a terminal; otherwise an error.
    public func resolve(recorder: ExecRecorder? = nil) throws -> ResolvedPod {
        let locations = CLIContext.locations
        var resolved = try PodResolver.resolvePod(name: pod, environment: CLIContext.environment,
                                                  locations: locations, recorder: recorder)
        // --timeout, else CCPOD_TIMEOUT as the command sees it, else what the connection has.
        if let seconds = timeout ?? CLIContext.environment["CCPOD_TIMEOUT"].flatMap(PodProcess.parseTimeout) {
            resolved.connection = resolved.connection.withInactivityTimeout(seconds)
        }
        if let settings = resolved.settings, PodKnownHosts(pod: settings.name, locations: locations).keys().isEmpty {
            let trust = HostKeyTrust(
                acceptNew: false, interactive: CLIContext.isInteractive,
                scriptHint: "run `ccpod pod trust \(settings.name) --accept-new` to trust it",
                ask: CLIContext.askYesNo)
            var source: ProxyHostKeySource?
            defer { source?.discard() }
            let learned: HostKeyTrust.Learned
            do {
                if settings.proxy != nil {
                    source = try ProxyHostKeySource.probe(
                        PodProxy(settings: settings, locations: locations, environment: CLIContext.environment), trust: trust)
                }
                learned = try trust.learn(pod: settings, trusted: source)
            } catch let error as CCPodError where error.status == .unavailable && error.sshFailure != .hostKeyChanged {
                // Nothing answers: leave it to the command to report what ssh says.
                return resolved
            }
            try PodRegistry(locations: locations, recorder: recorder).verifyAndPin(settings, keys: learned.keys)
            try source?.verified()
            if let proxyKeys = source?.proxy.learned {
                Console.note("proxy host key \(proxyKeys.keys.map(\.fingerprint).joined(separator: ", ")) \(proxyKeys.how), pinned for \(settings.name)'s proxy")
            }
            Console.note("host key \(learned.keys.map(\.fingerprint).joined(separator: ", ")) \(learned.how), pinned for \(settings.name)")
        }
        return resolved
    }
}
