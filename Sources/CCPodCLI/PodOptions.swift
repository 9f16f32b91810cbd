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
        Console.ask(question)
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
        "The pod to use: a name from `ccpod pod list`, or local:/path. Default: $CCPOD_POD, else the project's pod (.ccpod.toml), else the default pod.",
        valueName: "name"))
    public var pod: String?

    @Flag(name: .customLong("no-wait"), help: "When another ccpod is working with this pod or Claude dir, exit 75 at once instead of waiting for it.")
    public var noWait = false

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

    /// Takes the locks of `subjects` for this command (see `OperationLock`): waits for
    /// another ccpod holding one, saying so after a second, or with `--no-wait` exits 75.
    public func lock(_ subjects: [OperationLock.Subject], purpose: String) throws -> [OperationLock] {
        try OperationLock.acquire(subjects, stateDir: CLIContext.locations.stateDir, purpose: purpose, wait: !noWait) {
            Console.note($0)
        }
    }

    /// The pod for this command, ready (see `PodAccess.open`): `--pod`, else `CCPOD_POD`,
    /// else `projectPod` (`pod` in the project's .ccpod.toml), else the default pod; its
    /// host key learned on first contact.
    public func resolve(projectPod: String? = nil, recorder: ExecRecorder? = nil) throws -> ResolvedPod {
        // --timeout wins over CCPOD_TIMEOUT and the pod's inactivityTimeout for every
        // connection this process makes (also one rebuilt after a restart).
        if let timeout { setenv("CCPOD_TIMEOUT", String(timeout), 1) }
        let resolved = try CLIContext.podAccess(recorder: recorder).open(name: pod, projectPod: projectPod)
        let spec = [pod, CLIContext.environment["CCPOD_POD"], projectPod].compactMap { $0 }.first { !$0.isEmpty }
        if resolved.settings == nil, let spec, spec.hasPrefix("local:"), !spec.hasPrefix("local:/") {
            // A relative folder depends on where ccpod runs; say which one it is now.
            Console.note("\(spec) is taken as \(resolved.name)")
        }
        return resolved
    }

    /// The pod for this command as a session: every step that reaches it goes through
    /// `PodSession.run`, which finds a restarted pod again once for the whole command.
    public func session(projectPod: String? = nil, recorder: ExecRecorder? = nil) throws -> PodSession {
        PodSession(access: CLIContext.podAccess(recorder: recorder), pod: try resolve(projectPod: projectPod, recorder: recorder))
    }
}

extension CLIContext {
    /// How commands reach their pod here: questions on a terminal when there is one,
    /// and what was done told on stderr.
    public static func podAccess(recorder: ExecRecorder? = nil) -> PodAccess {
        var access = PodAccess(locations: locations, environment: environment, recorder: recorder,
                               report: { event in
                                   // A watch says once that its pod is away; each round does not.
                                   if watching, case .lookingAgain = event { return }
                                   PodAccessRendering.note(event)
                               })
        if isInteractive {
            access.confirm = { askYesNo($0) }
            access.ask = { askLine($0) }
        }
        return access
    }

    /// Asks on the terminal for a line; nil at the end of input.
    public static func askLine(_ question: String) -> String? {
        Console.ask(question)
        return readLine()
    }
}

/// What reaching the pod did, as lines on stderr.
enum PodAccessRendering {
    static func text(_ event: PodAccessEvent) -> String {
        switch event {
        case let .pinned(pod, proxy, fingerprints, how):
            return "\(proxy ? "proxy " : "")host key \(fingerprints.joined(separator: ", ")) \(how), pinned for \(pod)\(proxy ? "'s proxy" : "")"
        case let .lookingAgain(pod, reason):
            return "\(reason)\nlooking for pod \(pod) again…"
        case let .recovered(_, summary):
            return summary
        case let .repaired(pod, steps):
            return steps.map { step in
                step.state == .done
                    ? "setup: \(step.name): \(step.detail) (the restart of \(pod) had removed it)"
                    : "setup: \(step.name): \(step.detail); run `ccpod setup --pod \(pod)`"
            }.joined(separator: "\n")
        }
    }

    static func note(_ event: PodAccessEvent) { Console.note(text(event)) }
}
