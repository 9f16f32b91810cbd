import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod sessions --everywhere` / `--pod NAME`: this machine and every configured pod
/// (or the one named), each pod asked with one status exchange, all at once.
struct SessionsEverywhereRun {
    var podNames: [String]
    /// nil: every project.
    var projectPath: String?
    var claudeDir: URL
    var pod: PodOptions

    /// The pods `--everywhere` asks: every configured one, by name.
    static func configuredPods() throws -> [String] {
        try CCPodConfig.load(from: CLIContext.locations).pods.keys.sorted()
    }

    struct Result {
        var sessions: [OverviewSession]
        var pods: [OverviewPodAnswer]
    }

    /// Asks every pod (one status exchange each, in parallel) and joins their answers
    /// with this machine's sessions.
    func gather() throws -> Result {
        let locations = CLIContext.locations
        // One ccpod at a time with these pods and this Claude dir (the status recovers a journal).
        let locks = try pod.lock([.claudeDir(claudeDir.path)] + podNames.map { .pod($0) },
                                 purpose: "listing sessions with \(podNames.joined(separator: ", "))")
        defer { locks.forEach { $0.release() } }
        let arguments = ["--json", "--config", "none", "--claude-dir", claudeDir.path]
            + (projectPath.map { ["--project", $0] } ?? ["--all"])
            + (pod.timeout.map { ["--timeout", String($0)] } ?? [])
        let environment = CLIContext.environment
        let interactive = CLIContext.isInteractive
        let (claudeDir, slug, names) = (claudeDir, projectPath.map(ProjectSlug.of), podNames)
        // This machine's sessions are listed while the pods answer.
        let (listed, answers) = ParallelPods.alongside({
            Swift.Result { () throws -> (SessionCatalog.Listing, SessionsEverywhere.Local) in
                var catalog = SessionCatalog(store: ClaudeStore(root: claudeDir),
                                             cache: SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: locations.stateDir)))
                let listing = try catalog.list(slug: slug)
                return (listing, SessionsEverywhere.local(listing.sessions, claudeDir: claudeDir))
            }
        }, {
            ParallelPods.map(names) { name in
                CLIContext.$environment.withValue(environment) {
                    CLIContext.$interactiveOverride.withValue(interactive) { Self.ask(name, arguments: arguments) }
                }
            }
        })
        let (listing, local) = try listed.get()
        for failure in listing.unreadable { Console.error(failure.reason) }
        return Result(sessions: SessionsEverywhere.combine(local: local, pods: answers), pods: answers)
    }

    /// One pod's status exchange with the overview's notes; its failure as a sentence.
    static func ask(_ name: String, arguments: [String]) -> OverviewPodAnswer {
        var mappings: [ProjectMapping] = []
        do {
            let args = try SyncArguments.parse(["--pod", name] + arguments)
            let prepared = try args.prepare(verb: "sessions", rememberMapping: false)
            mappings = prepared.scope.projects
            // Nothing moves: a file written a second ago is compared like any other (a
            // session a claude holds stays "busy", and is marked live).
            var options = SyncOptions(direction: .status, busySeconds: 0)
            options.overview = true
            let report = try prepared.session.run { try prepared.engine($0.connection).run(scope: prepared.scope, options: options) }
            return OverviewPodAnswer(name: prepared.pod.name, mappings: mappings, report: report, error: nil)
        } catch let error as CCPodError {
            return OverviewPodAnswer(name: name, mappings: mappings, report: nil, error: error.message)
        } catch {
            return OverviewPodAnswer(name: name, mappings: mappings, report: nil, error: "\(error)")
        }
    }

    /// Prints the result: JSON or a table on stdout, a line per pod not reached on stderr.
    static func render(_ result: Result, json: Bool) throws {
        for answer in result.pods {
            if let error = answer.error {
                Console.error("\(answer.name): left out of this listing: \(error)")
            }
            PodWarnings.show(answer.report?.warnings ?? [], notesOnly: true)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            let output = EverywhereJSON(sessions: result.sessions, pods: result.pods.map(EverywhereJSON.Pod.init))
            Console.out(String(decoding: try encoder.encode(output), as: UTF8.self) + "\n")
        } else if result.sessions.isEmpty {
            Console.note("no sessions here or on \(result.pods.map(\.name).joined(separator: ", "))")
        } else {
            Console.out(table(result.sessions, pods: result.pods.filter { $0.report != nil }.map(\.name)))
            if result.sessions.contains(where: { !$0.live.isEmpty }) { Console.note("* a claude runs it there now") }
        }
    }

    static func stateText(_ state: OverviewState?) -> String {
        switch state {
        case nil: "-"
        case .inSync: "in sync"
        case .aheadHere: "ahead here"
        case .aheadThere: "ahead there"
        case .diverged: "diverged"
        case .onlyHere: "only here"
        case .onlyThere: "only there"
        case .busy: "busy"
        case .other: "other"
        }
    }

    /// One row per session, one column per pod with its sync state (`*` where a claude runs it now).
    static func table(_ sessions: [OverviewSession], pods: [String]) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        var rows = [["SESSION", "TITLE", "PROJECT", "HERE"] + pods.map { $0.uppercased() } + ["LAST ACTIVITY", "SIZE", "LAST PROMPT"]]
        for s in sessions {
            let here = s.here ? (s.live.contains("here") ? "yes*" : "yes") : "-"
            let perPod = pods.map { name -> String in
                let copy = s.pods.first { $0.pod == name }
                return stateText(copy?.state) + (copy?.live == true ? "*" : "")
            }
            rows.append([String(s.id.prefix(8)), SessionsCommand.truncate(s.title ?? "(untitled)", 60), s.project, here] + perPod + [
                s.lastActivity.map { formatter.string(from: $0) } ?? "-",
                s.size.map(SessionsCommand.byteCount) ?? "-",
                SessionsCommand.truncate(s.lastPrompt ?? "", 40),
            ])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        let text = rows.map { row in
            row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
        return text
    }
}

/// `ccpod sessions --everywhere --json`.
struct EverywhereJSON: Encodable {
    var sessions: [OverviewSession]
    var pods: [Pod]

    struct Pod: Encodable {
        var name: String
        var reachable: Bool
        var error: String?
        var mappings: [ProjectMapping]
        var exchanges: Int?

        init(_ answer: OverviewPodAnswer) {
            name = answer.name
            reachable = answer.report != nil
            error = answer.error
            mappings = answer.mappings
            exchanges = answer.report?.exchanges
        }
    }
}
