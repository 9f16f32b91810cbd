@testable import CCPodCLI
import CCPodKit
import Foundation
import Testing

/// `ccpod artifacts pull|push` as a user runs it, against a `local:` pod: in-process for
/// the common paths, the built binary for what a script sees (stdout JSON, exit codes).
@Suite("ccpod artifacts command")
struct ArtifactsCommandTests {
    /// A project folder, a `local:` pod with one run, and ccpod's own dirs, all temporary.
    struct Setup {
        let root: URL
        var project: String { root.appendingPathComponent("proj").path }
        var podRoot: String { root.appendingPathComponent("pod").path }
        let run = "/workspace/runs/stage1_20261125-101500"
        var podRun: String { podRoot + run }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-artcli-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(atPath: root.appendingPathComponent("proj").path, withIntermediateDirectories: true)
            try ArtifactTestBed.write("loss 1\n", to: podRun + "/logs/train.log")
            try ArtifactTestBed.write("{\"acc\":0.9}\n", to: podRun + "/results/eval.json")
            try ArtifactTestBed.write(ArtifactTestBed.random(4096), to: podRun + "/checkpoints/step-1/model.pt")
            try ArtifactTestBed.write("print('hi')\n", to: podRun + "/code/train.py")
        }

        var environment: [String: String] {
            ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
             "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
             "XDG_STATE_HOME": root.appendingPathComponent("state").path]
        }

        func remove() { try? FileManager.default.removeItem(at: root) }

        func inProcess(_ args: [String]) throws {
            try CLIContext.$interactiveOverride.withValue(false) {
                try CLIContext.$environment.withValue(environment) {
                    var command = try CCPodCommand.parseAsRoot(["artifacts"] + args + ["--pod", "local:\(podRoot)", "--project", project])
                    try command.run()
                }
            }
        }

        func binary(_ args: [String]) throws -> ChildProcess.Output {
            try ChildProcess.run(InterruptionTests.binary, ["artifacts"] + args + ["--pod", "local:\(podRoot)", "--project", project],
                                 environment: environment)
        }
    }

    @Test func pullBringsTheDefaultFoldersIntoRunsOfTheProjectAndPushSendsBack() throws {
        let s = try Setup()
        defer { s.remove() }
        try s.inProcess(["pull", "--from", s.run, "--exclude", "*.pt"])
        let local = s.project + "/runs/stage1_20261125-101500"
        #expect(ArtifactTestBed.files(local) == ["logs/train.log", "results/eval.json"])
        try s.inProcess(["pull", "--from", s.run, "checkpoints/**", "--to", s.root.appendingPathComponent("ckpt").path])
        #expect(ArtifactTestBed.files(s.root.appendingPathComponent("ckpt").path) == ["checkpoints/step-1/model.pt"])
        // Inputs out: a config and a dataset, next to what the run wrote.
        try ArtifactTestBed.write("lr: 1\n", to: s.root.appendingPathComponent("inputs/configs/a.yaml").path)
        try ArtifactTestBed.write(ArtifactTestBed.random(1000), to: s.root.appendingPathComponent("inputs/data/d.bin").path)
        try s.inProcess(["push", "--from", s.root.appendingPathComponent("inputs").path, "--to", s.run])
        #expect(ArtifactTestBed.contents(s.podRun + "/configs") == ["a.yaml": Data("lr: 1\n".utf8)])
        #expect(ArtifactTestBed.read(s.podRun + "/data/d.bin") == ArtifactTestBed.read(s.root.appendingPathComponent("inputs/data/d.bin").path))
        #expect(ArtifactTestBed.read(s.podRun + "/code/train.py") == Data("print('hi')\n".utf8))
    }

    @Test func aPatternThatClimbsOutOfTheRunIsAUsageError() throws {
        let s = try Setup()
        defer { s.remove() }
        for pattern in ["../other/**", "results/../../x", ".."] {
            let error = #expect(throws: (any Error).self, "\(pattern)") { try s.inProcess(["pull", "--from", s.run, pattern]) }
            #expect(error.map { CCPodCommand.exitCode(for: $0).rawValue } == 64, "\(pattern): \(String(describing: error))")
        }
        #expect(!FileManager.default.fileExists(atPath: s.project + "/runs"))
        #expect(throws: CCPodError.self) { try s.inProcess(["pull", "--from", "workspace/relative"]) }
        #expect(throws: CCPodError.self) { try s.inProcess(["pull", "--from", "/workspace/../etc"]) }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: InterruptionTests.binary), "the ccpod binary is not built"))
    func theBinaryPrintsJSONAndExitsTwoOnAConflict() throws {
        let s = try Setup()
        defer { s.remove() }
        let dry = try s.binary(["pull", "--from", s.run, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderrText)")
        #expect(dry.stdoutText.contains("would: new"))
        #expect(!FileManager.default.fileExists(atPath: s.project + "/runs"))

        let pull = try s.binary(["pull", "--from", s.run, "--json"])
        #expect(pull.status == 0, "\(pull.stderrText)")
        let report = try JSONDecoder().decode(ArtifactReport.self, from: Data(pull.stdoutText.utf8))
        #expect(report.direction == .pull)
        #expect(report.paths(.new) == ["checkpoints/step-1/model.pt", "logs/train.log", "results/eval.json"])
        #expect(report.bytes == 4096 + 7 + 12)

        // Changed on both sides: left alone, exit 2; --force takes the pod's.
        let local = s.project + "/runs/stage1_20261125-101500/results/eval.json"
        try ArtifactTestBed.write("{\"acc\":0.1, \"mine\":1}\n", to: local)
        try ArtifactTestBed.write("{\"acc\":0.95}\n", to: s.podRun + "/results/eval.json")
        let conflict = try s.binary(["pull", "--from", s.run, "--json"])
        #expect(conflict.status == 2, "\(conflict.stderrText)")
        #expect(try JSONDecoder().decode(ArtifactReport.self, from: Data(conflict.stdoutText.utf8)).paths(.conflict) == ["results/eval.json"])
        #expect(ArtifactTestBed.read(local) == Data("{\"acc\":0.1, \"mine\":1}\n".utf8))
        let forced = try s.binary(["pull", "--from", s.run, "--force"])
        #expect(forced.status == 0, "\(forced.stderrText)")
        #expect(ArtifactTestBed.read(local) == Data("{\"acc\":0.95}\n".utf8))

        let usage = try s.binary(["pull", "--from", s.run, "--compress", "bzip2"])
        #expect(usage.status == 64)
    }

    /// A file name that could steer the terminal (a bidi override, a C1 control) is shown
    /// escaped in the per-file lines.
    @Test func aFileNameThatCouldSteerTheTerminalIsShownEscaped() {
        let line = ArtifactsRendering.line(ArtifactAction(path: "results/\u{202E}gpj.exe\u{9B}2J", kind: .new, bytes: 5,
                                                          note: "from \u{1B}]0;x"), dryRun: false)
        #expect(line.contains("results/\\u202egpj.exe\\u009b2J"), "\(line)")
        #expect(!line.unicodeScalars.contains { [0x1B, 0x9B, 0x202E].contains($0.value) }, "\(line.debugDescription)")
    }
}
