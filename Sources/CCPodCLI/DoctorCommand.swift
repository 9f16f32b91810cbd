import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod doctor`: checks every session file; `--repair` moves bad lines and torn tails to a backup.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check every Claude Code session file for bad lines and torn tails.",
        discussion: """
        Prints each problem as file:line: problem. With --repair, bad lines and \
        incomplete last lines are moved into a dated folder under ccpod's state dir \
        (backups/doctor-YYYYmmdd-HHMMSS/, mirroring the paths under the Claude dir) and \
        the files are rewritten atomically without them; nothing is deleted. Sessions \
        open in a running claude are left alone. Exits 65 when problems remain.
        """
    )

    @Flag(help: "Move bad lines and torn tails into a backup folder and rewrite the files without them.")
    var repair = false

    @Flag(help: "Print a JSON object (sorted keys) instead of text.")
    var json = false

    @OptionGroup var claude: ClaudeDirOption

    /// `--pod NAME`: the pod's Claude dir is checked too (PodDoctorView).
    @OptionGroup var pod: PodOptions

    struct Output: Encodable {
        var filesChecked: Int
        var findings: [DoctorFinding]
        var backupDir: String?
        var repairs: [DoctorRepair]?
        var remaining: [DoctorFinding]
        var clean: Bool
        /// Sessions Claude's cleanup deletes within a week that exist nowhere else.
        var sweepAtRisk: [RetentionWarning] = []
        var pod: PodDoctor.Report?
    }

    func run() throws {
        let root = try claude.resolve()
        let locations = CCPodLocations.resolve(environment: ProcessInfo.processInfo.environment)
        let doctor = SessionDoctor(store: ClaudeStore(root: root), stateDir: locations.stateDir)
        let report = doctor.check()
        var remaining = report.findings
        var output = Output(filesChecked: report.filesChecked, findings: report.findings, remaining: remaining, clean: report.isClean)
        output.pod = try PodDoctorView.check(pod, print: !json)

        if !json {
            for finding in report.findings { Console.out(finding.diagnostic + "\n") }
        }
        if repair && !report.isClean {
            let (backupDir, repairs) = try doctor.repair(report)
            output.backupDir = backupDir?.path
            output.repairs = repairs
            // Check the touched files again: only what is still wrong counts.
            let files = Set(report.findings.map(\.file)).sorted()
            let live = LiveSessions.ids(configDir: root)
            remaining = files.flatMap { SessionDoctor.check(URL(fileURLWithPath: $0), live: live) }
            output.remaining = remaining
            output.clean = remaining.isEmpty
            if !json {
                for r in repairs {
                    if let skipped = r.skipped {
                        Console.out("\(r.file): not repaired: \(skipped)\n")
                    } else {
                        var what = [String]()
                        if r.removedLines > 0 { what.append("\(r.removedLines) bad line(s)") }
                        if r.removedTailBytes > 0 { what.append("an incomplete last line of \(r.removedTailBytes) bytes") }
                        Console.out("\(r.file): repaired: moved \(what.joined(separator: " and ")) to \(r.backup ?? "?")\n")
                    }
                }
            }
        }
        do {
            output.sweepAtRisk = try RetentionWarning.check(claudeDir: root, locations: CLIContext.locations, printing: !json)
        } catch {
            Console.error("the retention check could not run: \(error)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            Console.out(String(decoding: try encoder.encode(output), as: UTF8.self) + "\n")
        } else if report.isClean {
            Console.note("\(report.filesChecked) session file(s) checked: no problems")
        }
        try PodDoctorView.throwIfProblems(output.pod, localClean: remaining.isEmpty)
        if !remaining.isEmpty {
            let files = Set(remaining.map(\.file)).count
            throw CCPodError.badData(
                "\(remaining.count) problem(s) in \(files) of \(report.filesChecked) session file(s)"
                    + (repair ? " remain" : "; run ccpod doctor --repair to move them into a backup"))
        }
        if repair && !report.isClean {
            Console.note("all problems repaired; removed lines are in \(output.backupDir ?? "the backup folder")")
        }
    }
}
