import ArgumentParser
import CCPodKit
import Foundation

extension ConflictResolver.Side: ExpressibleByArgument {}

/// `ccpod resolve`: the conflicts a sync left, and choosing a side (or both) for each.
struct ResolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "List the conflicts a sync left, and settle them: take the local or the pod's version, or keep both.",
        discussion: """
        A conflict is a file both sides have, with different contents and no common history. \
        Without --take or --keep-both, ccpod lists them (and asks for each one on a terminal). \
        --take replaces the other side's version, backed up first; ccpod prints where. \
        --keep-both (sessions only) replaces nothing: the pod's version arrives here as a new \
        session titled "… (from pod)", and this side's goes to the pod as one titled \
        "… (from laptop)", so both are resumable with `claude --resume` on both sides.
        """)

    @OptionGroup var sync: SyncArguments

    @Option(help: ArgumentHelp("Whose version wins: local or pod.", valueName: "side"))
    var take: ConflictResolver.Side?

    @Flag(name: .customLong("keep-both"), help: "Keep both versions of a session as sibling sessions on both sides.")
    var keepBoth = false

    @Argument(help: ArgumentHelp("Conflicts to settle: paths as `ccpod resolve` lists them, or session ids; default: all.", valueName: "path-or-session"))
    var paths: [String] = []

    func validate() throws {
        if keepBoth && take != nil { throw ValidationError("--take and --keep-both are two different choices; give one") }
    }

    enum Choice { case take(ConflictResolver.Side), keepBoth }

    func run() throws {
        let prepared = try sync.prepare(verb: "resolve", rememberMapping: false)
        let locks = try sync.pod.lock([.pod(prepared.pod.name), .claudeDir(prepared.claudeDir.path)],
                                      purpose: "resolving conflicts with \(prepared.pod.name)")
        defer { locks.forEach { $0.release() } }
        // The list is local; taking a side or keeping both reaches the pod, through the
        // session (a pod that restarted is found again once, then used for the rest).
        let session = prepared.session
        let resolver = ConflictResolver(engine: prepared.engine())
        func onPod<T>(_ body: (ConflictResolver) throws -> T) throws -> T {
            try session.run { try body(ConflictResolver(engine: prepared.engine($0.connection))) }
        }
        let known = resolver.conflicts()
        var chosen = known
        if !paths.isEmpty {
            chosen = try paths.map { argument in
                guard let path = resolver.conflictPath(for: argument) else {
                    throw CCPodError.usage("\(argument) is not a conflict; `ccpod resolve` lists them")
                }
                return path
            }
        }
        if chosen.isEmpty {
            Console.note("no conflicts")
            return
        }
        var left: [String] = []
        for path in chosen {
            var choice: Choice? = keepBoth ? .keepBoth : take.map { .take($0) }
            if choice == nil && CLIContext.isInteractive {
                let session = path.hasSuffix(".jsonl") && path.hasPrefix("projects/")
                let both = session ? ", keep [b]oth" : ""
                Console.ask("\(path): take [l]ocal, [p]od\(both), or [s]kip? ")
                switch readLine()?.lowercased().first {
                case "l": choice = .take(.local)
                case "p": choice = .take(.pod)
                case "b" where session: choice = .keepBoth
                default: choice = nil
                }
            }
            switch choice {
            case nil:
                Console.out("conflict  \(path)\n")
                left.append(path)
            case .take(let side):
                let outcome = try onPod { try $0.take(side, path: path, scope: prepared.scope) }
                Console.out("took-\(side.rawValue)  \(path)\n")
                Console.note("the replaced version is in \(outcome.backup)")
            case .keepBoth:
                let kept = try onPod { try $0.keepBoth(path: path, scope: prepared.scope) }
                Console.out("kept-both  \(path)\n")
                Console.note("the pod's version is now session \(kept.localSiblingId) here (\(kept.localSibling)); "
                             + "this version is session \(kept.podSiblingId) on the pod (\(kept.podSibling)); nothing was replaced")
            }
        }
        if !left.isEmpty {
            Console.note("\(left.count) conflict(s) left: `ccpod resolve --take local|pod PATH` or `ccpod resolve --keep-both SESSION`")
            throw ExitCode(ExitStatus.conflicts.rawValue)
        }
    }
}
