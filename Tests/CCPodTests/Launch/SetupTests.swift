import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `ccpod setup` against the loopback sshd, every pod path a temporary folder.
@Suite(.enabled(if: LoopbackSSHD.isAvailable && launchTestBinary != nil, "needs sshd and the built ccpod"))
struct SetupTests {
    func setup(_ bed: LaunchTestBed, _ mode: PodSetup.Mode = .apply) throws -> SetupReport {
        try PodSetup(connection: bed.pod.connection(), runtime: bed.settings.runtime).run(mode: mode)
    }

    @Test func firstRunMakesEverythingSecondChangesNothingRestartIsRepaired() throws {
        let bed = try LaunchTestBed()
        let before = try setup(bed, .check)
        #expect(!before.ok)
        #expect(before.problems.map(\.name).contains("projects"))

        let first = try setup(bed)
        #expect(first.ok, "\(first.steps)")
        #expect(first.changed)
        let fm = FileManager.default
        #expect(try fm.destinationOfSymbolicLink(atPath: bed.claudeDir + "/projects") == bed.persistentDir + "/projects")
        #expect(try fm.destinationOfSymbolicLink(atPath: bed.claudeDir + "/todos") == bed.persistentDir + "/todos")
        #expect(try fm.destinationOfSymbolicLink(atPath: bed.claudeDir + "/settings.json") == bed.persistentDir + "/settings/settings.json")
        let settings = try String(contentsOfFile: bed.persistentDir + "/settings/settings.json", encoding: .utf8)
        #expect(settings.contains("\"cleanupPeriodDays\": 36500"))
        #expect(fm.isExecutableFile(atPath: bed.binDir + "/claude"))
        #expect(first.steps.first { $0.name == "claude" }?.state == .done)

        let second = try setup(bed)
        #expect(second.ok && !second.changed, "\(second.steps)")
        #expect(try setup(bed, .check).ok)

        // A session written through the link survives a restart and is reachable again afterwards.
        try fm.createDirectory(atPath: bed.claudeDir + "/projects/-x", withIntermediateDirectories: true)
        try Data("{\"a\":1}\n".utf8).write(to: URL(fileURLWithPath: bed.claudeDir + "/projects/-x/s.jsonl"))
        try bed.simulateRestart()
        #expect(try !setup(bed, .check).ok)
        let repaired = try setup(bed)
        #expect(repaired.ok && repaired.changed)
        #expect(fm.contents(atPath: bed.claudeDir + "/projects/-x/s.jsonl") == Data("{\"a\":1}\n".utf8))
        #expect(try setup(bed).changed == false)
    }

    @Test func existingFoldersAreMovedInWithoutLosingAnything() throws {
        let bed = try LaunchTestBed()
        let fm = FileManager.default
        // The pod already has its own Claude dir, and the persistent dir has an older copy of one file.
        try fm.createDirectory(atPath: bed.claudeDir + "/projects/-p", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: bed.persistentDir + "/projects/-p", withIntermediateDirectories: true)
        try Data("pod only\n".utf8).write(to: URL(fileURLWithPath: bed.claudeDir + "/projects/-p/new.jsonl"))
        try Data("same\n".utf8).write(to: URL(fileURLWithPath: bed.claudeDir + "/projects/-p/same.jsonl"))
        try Data("same\n".utf8).write(to: URL(fileURLWithPath: bed.persistentDir + "/projects/-p/same.jsonl"))
        try Data("container\n".utf8).write(to: URL(fileURLWithPath: bed.claudeDir + "/projects/-p/both.jsonl"))
        try Data("persistent\n".utf8).write(to: URL(fileURLWithPath: bed.persistentDir + "/projects/-p/both.jsonl"))
        try Data("{\n  \"model\": \"opus\",\n  \"cleanupPeriodDays\": 7\n}\n".utf8)
            .write(to: URL(fileURLWithPath: bed.claudeDir + "/settings.json"))

        let report = try setup(bed)
        #expect(report.ok, "\(report.steps)")
        let p = bed.persistentDir + "/projects/-p/"
        #expect(fm.contents(atPath: p + "new.jsonl") == Data("pod only\n".utf8))
        #expect(fm.contents(atPath: p + "same.jsonl") == Data("same\n".utf8))
        #expect(fm.contents(atPath: p + "both.jsonl") == Data("persistent\n".utf8))
        #expect(report.keptAside.count == 1)
        #expect(report.keptAside.first.flatMap { fm.contents(atPath: $0) } == Data("container\n".utf8))
        let settings = try String(contentsOfFile: bed.claudeDir + "/settings.json", encoding: .utf8)
        #expect(settings.contains("\"model\": \"opus\""))
        #expect(settings.contains("\"cleanupPeriodDays\": 36500"))
    }

    @Test func aFailingInstallerShowsItsLastLines() throws {
        let bed = try LaunchTestBed(installCommand: "echo 'downloading claude'; echo 'curl: (6) Could not resolve host: claude.ai' >&2; exit 6")
        let out = try bed.ccpod(["setup"])
        #expect(out.status == 1)
        #expect(out.stderrText.contains("curl: (6) Could not resolve host: claude.ai"), "\(out.stderrText)")
        #expect(out.stderrText.contains("installCommand"))
        #expect(!FileManager.default.fileExists(atPath: bed.binDir + "/claude"))
    }

    @Test func noTmuxAndNoPermissionNamesTheFlag() throws {
        let bed = try LaunchTestBed(tmux: "tmux-not-installed-here")
        let out = try bed.ccpod(["setup"])
        #expect(out.status == 69)
        #expect(out.stderrText.contains("--install-tmux"), "\(out.stderrText)")
        #expect(out.stdoutText.contains("MISSING tmux"))
        // launch stops before anything moves or starts.
        try bed.writeLocalSession("11111111-2222-4333-8444-555555555555", lines: 2)
        let launch = try bed.ccpod(["launch", "--pod-path", bed.podProject])
        #expect(launch.status == 69)
        #expect(launch.stderrText.contains("--install-tmux"))
        #expect(!FileManager.default.fileExists(atPath: bed.podProject))
    }

    @Test func checkAndStatusReportTheSetup() throws {
        let bed = try LaunchTestBed()
        let before = try bed.ccpod(["check"])
        #expect(before.stdoutText.contains("setup: missing"), "\(before.stdoutText)")
        #expect(try bed.ccpod(["setup"]).status == 0)
        let again = try bed.ccpod(["setup"])
        #expect(again.stdoutText.contains("setup: ok, nothing to change"), "\(again.stdoutText)")
        let check = try bed.ccpod(["check"])
        #expect(check.stdoutText.contains("setup: ok"), "\(check.stdoutText)")
        let status = try bed.ccpod(["status", "--pod-path", bed.podProject])
        #expect(status.stdoutText.contains("2.1.999 (ccpod stand-in)"), "\(status.stdoutText) \(status.stderrText)")
        #expect(status.stdoutText.contains("setup ok"))
    }
}
