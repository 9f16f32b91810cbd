import ArgumentParser
import CCPodKit
import Foundation

extension ConflictResolver.Side: ExpressibleByArgument {}

/// `ccpod resolve`: the conflicts a sync left, and choosing a side for each.
struct ResolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "List the conflicts a sync left, and settle them: take the local or the pod's version.",
        discussion: """
        A conflict is a file both sides have, with different contents and no common history. \
        Without --take, ccpod lists them (and asks for each one on a terminal). The version \
        that is replaced is backed up first; ccpod prints where. To keep both versions of a \
        session, leave the conflict as it is: nothing is overwritten until you choose.
        """)

    @OptionGroup var sync: SyncArguments

    @Option(help: ArgumentHelp("Whose version wins: local or pod.", valueName: "side"))
    var take: ConflictResolver.Side?

    @Argument(help: ArgumentHelp("Conflicting files (paths as `ccpod resolve` lists them); default: all.", valueName: "path"))
    var paths: [String] = []

    func run() throws {
        let prepared = try sync.prepare(verb: "resolve", rememberMapping: false)
        let resolver = ConflictResolver(engine: prepared.engine())
        let known = resolver.conflicts()
        let chosen = paths.isEmpty ? known : paths
        for path in paths where !known.contains(path) {
            throw CCPodError.usage("\(path) is not a conflict; `ccpod resolve` lists them")
        }
        if chosen.isEmpty {
            Console.note("no conflicts")
            return
        }
        var left: [String] = []
        for path in chosen {
            var side = take
            if side == nil && CLIContext.isInteractive {
                FileHandle.standardError.write(Data("\(path): take [l]ocal, [p]od, or [s]kip? ".utf8))
                switch readLine()?.lowercased().first {
                case "l": side = .local
                case "p": side = .pod
                default: side = nil
                }
            }
            guard let side else {
                Console.out("conflict  \(path)\n")
                left.append(path)
                continue
            }
            let outcome = try resolver.take(side, path: path, scope: prepared.scope)
            Console.out("took-\(side.rawValue)  \(path)\n")
            Console.note("the replaced version is in \(outcome.backup)")
        }
        if !left.isEmpty {
            Console.note("\(left.count) conflict(s) left: `ccpod resolve --take local|pod PATH`")
            throw ExitCode(ExitStatus.conflicts.rawValue)
        }
    }
}
