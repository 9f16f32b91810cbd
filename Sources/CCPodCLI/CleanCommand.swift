import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod clean --pod NAME`: the pod forgets its Claude sessions, once they are home.
struct CleanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Bring the pod's sessions home, verify them by hash, then remove them and the prompt log from the pod.",
        discussion: """
        For a pod you hand over or keep for other work: pulls every session home (one \
        exchange), has the pod hash its session store (projects/, file-history/, todos/, \
        tasks/) and history.jsonl and compares with what came home, and only then removes \
        exactly the verified files from the pod's Claude dir (a file that changed since is \
        kept and named). Nothing outside the Claude dir's session store is touched; the \
        pod keeps running. Asks on a terminal; --yes otherwise.
        """)

    @OptionGroup var podOptions: PodOptions
    @OptionGroup var claude: ClaudeDirOption
    @Flag(help: "Do not ask (required without a terminal).")
    var yes = false
    @Option(name: .customLong("busy-seconds"), parsing: .unconditional, help: ArgumentHelp("A session changed less than this many seconds ago is being written.", valueName: "seconds"))
    var busySeconds = 5

    func validate() throws {
        if podOptions.pod == nil { throw ValidationError("name the pod to clean: --pod NAME") }
        if busySeconds < 0 { throw ValidationError("--busy-seconds cannot be negative") }
    }

    func run() throws {
        try PodLifecycle.requireConsent(yes: yes, what: "removing the sessions from the pod")
        let claudeDir = try claude.resolve()
        let resolved = try podOptions.resolve()
        let locks = try podOptions.lock([.pod(resolved.name), .claudeDir(claudeDir.path)], purpose: "cleaning \(resolved.name)")
        defer { locks.forEach { $0.release() } }
        var home = PodHomecoming(pod: resolved, claudeDir: claudeDir)
        _ = try home.pullSessions(busySeconds: busySeconds)
        let (verification, inventory) = try home.verify(runs: [])
        guard verification.ok else {
            throw CCPodError.failure("\(verification.problems.count) file(s) of \(home.pod.name) are not safely home; nothing was removed:\n"
                                     + PodHomecoming.list(verification.problems))
        }
        let files = verification.verifiedSessionFiles
        guard !files.isEmpty || inventory.history != nil else {
            Console.out("\(home.pod.name) has no sessions to remove\n")
            return
        }
        Console.note("verified by SHA-256: \(verification.verifiedFiles) file(s) on \(home.pod.name) are home")
        if !yes {
            guard CLIContext.askYesNo("Remove \(files.count) session file(s)\(inventory.history != nil ? " and the prompt log" : "") from \(home.pod.name)? [y/N] ") else {
                throw CCPodError.failure("nothing was removed")
            }
        }
        let outcome = try PodSessionWipe(connection: home.pod.connection).run(
            files: files, historySHA256: inventory.history != nil ? inventory.historySHA256 : nil)
        // What the pod no longer has is no longer agreed on: a later push copies it again.
        var store = try AncestorStore(file: home.stateDir.appendingPathComponent("ancestors.tsv"))
        for path in outcome.removed {
            if let pair = store.pair(pod: path) { store.remove(local: pair.localPath) }
        }
        try store.save()
        Console.out("removed \(outcome.removed.count) file(s) from \(home.pod.name)'s Claude dir\n")
        if !outcome.kept.isEmpty {
            Console.note("kept \(outcome.kept.count):\n" + outcome.kept.prefix(20).map { "  \($0.path): \($0.why)" }.joined(separator: "\n"))
            throw CCPodError.failure("\(outcome.kept.count) file(s) were kept on the pod (see above); run `ccpod clean` again")
        }
    }
}
