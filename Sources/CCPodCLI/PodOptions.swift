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

    /// Whether a person can answer questions (stdin and stderr are terminals).
    public static var isInteractive: Bool { isatty(0) == 1 && isatty(2) == 1 }
}

/// `--pod NAME`, shared by every command that works on a pod (`@OptionGroup var pod: PodOptions`).
public struct PodOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The pod to use: a name from `ccpod pod list`, or local:/path. Default: $CCPOD_POD, else the default pod.",
        valueName: "name"))
    public var pod: String?

    public init() {}

    /// The chosen pod and its connection.
    public func resolve(recorder: ExecRecorder? = nil) throws -> ResolvedPod {
        try PodResolver.resolvePod(name: pod, environment: CLIContext.environment,
                                   locations: CLIContext.locations, recorder: recorder)
    }
}
