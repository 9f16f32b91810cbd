import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod runs`: the runs deployed to a pod.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List the runs on the pod: size, tmux sessions, Claude sessions (one exec).")

    @OptionGroup var podOptions: PodOptions

    @Flag(help: "Print the runs as JSON on stdout.")
    var json = false

    func run() throws {
        // A pod that restarted is found again once.
        let resolved = try podOptions.session()
        let runs = try resolved.run { try PodRuns.list(connection: $0.connection) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(runs), as: UTF8.self) + "\n")
            return
        }
        if runs.isEmpty {
            Console.note("no runs on \(resolved.name); create one with `ccpod deploy --run NAME`")
            return
        }
        var rows = [["RUN", "DEPLOYED", "COMMIT", "SIZE", "TMUX", "SESSIONS", "FOLDER"]]
        for run in runs {
            let size = run.kilobytes.map { SyncRendering.byteCount($0 * 1024) } ?? (run.exists ? "?" : "gone")
            rows.append([
                run.record.name, run.record.deployed, String(run.record.commit.prefix(10)) + (run.record.snapshot ? "+" : ""),
                size, run.tmuxSessions.isEmpty ? "-" : run.tmuxSessions.joined(separator: ","),
                String(run.claudeSessions), run.record.directory,
            ])
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        var text = ""
        for row in rows {
            text += row.indices.map { i in i == row.count - 1 ? row[i] : SyncRendering.pad(row[i], widths[i]) }
                .joined(separator: "  ") + "\n"
        }
        Console.out(text)
    }
}
