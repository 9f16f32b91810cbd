import CCPodKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod artifacts` against a `local:` pod (a temporary folder): what is selected,
/// what is never overwritten, what is never followed.
@Suite("Artifact transfer semantics")
struct ArtifactSemanticsTests {
    /// A run directory with outputs in every default folder, a deployed `code/` and
    /// files at the top.
    static func makeRun(_ bed: ArtifactTestBed) throws {
        for rel in ArtifactSelectionTests.tree {
            try ArtifactTestBed.write("\(rel) on the pod\n", to: bed.pod(rel))
        }
    }

    @Test(arguments: [
        ([], [], ["artifacts/plot.png", "artifacts/sub/deep/plot 2.png", "checkpoints/latest/model.pt",
                  "checkpoints/step-100/meta.json", "checkpoints/step-100/model.pt", "checkpoints/step-200/model.pt",
                  "checkpoints/step-x.json", "logs/eval/eval.log", "logs/train.log", "results/eval.json", "results/table.csv"]),
        (["checkpoints/step-*/**"], [], ["checkpoints/step-100/meta.json", "checkpoints/step-100/model.pt", "checkpoints/step-200/model.pt"]),
        (["checkpoints/step-*/**"], ["*.json"], ["checkpoints/step-100/model.pt", "checkpoints/step-200/model.pt"]),
        (["*.json"], [], ["checkpoints/step-100/meta.json", "checkpoints/step-x.json", "metrics.json", "other/x.json", "results/eval.json"]),
        (["*.json"], ["checkpoints"], ["metrics.json", "other/x.json", "results/eval.json"]),
        (["*.json", "code/config.json"], [], ["checkpoints/step-100/meta.json", "checkpoints/step-x.json", "code/config.json",
                                              "metrics.json", "other/x.json", "results/eval.json"]),
        (["results", "logs/train.log"], ["results/table.csv"], ["logs/train.log", "results/eval.json"]),
        ([], ["checkpoints/**", "logs"], ["artifacts/plot.png", "artifacts/sub/deep/plot 2.png", "results/eval.json", "results/table.csv"]),
        (["nothing/**"], [], []),
    ] as [([String], [String], [String])])
    func patternsAndExcludesPullExactlyTheSelectedFiles(_ patterns: [String], _ excludes: [String], _ expected: [String]) throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try Self.makeRun(bed)
        let selection = ArtifactSelection(patterns: patterns, excludes: excludes)
        let dry = try bed.pull(selection, dryRun: true)
        #expect(dry.paths(.new) == expected)
        #expect(!FileManager.default.fileExists(atPath: bed.localDirectory), "a dry run wrote something")
        let report = try bed.pull(selection)
        #expect(report.paths(.new) == expected)
        #expect(ArtifactTestBed.files(bed.localDirectory).sorted() == expected)
        for rel in expected {
            #expect(ArtifactTestBed.read(bed.local(rel)) == Data("\(rel) on the pod\n".utf8))
        }
    }

    /// A folder named like an option of `find` (`-delete`) is listed as a name, never run.
    @Test func aFolderNamedLikeAFindOptionIsPulledAndNothingIsDeleted() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try Self.makeRun(bed)
        try ArtifactTestBed.write("a\n", to: bed.pod("-delete/a.txt"))
        try ArtifactTestBed.write("b\n", to: bed.pod("-fls/b.txt"))
        let before = ArtifactTestBed.files(bed.podRun)
        let report = try bed.pull(ArtifactSelection(patterns: ["-delete/**", "-fls/*"]))
        #expect(report.paths(.new) == ["-delete/a.txt", "-fls/b.txt"])
        #expect(ArtifactTestBed.files(bed.podRun) == before)
    }

    // MARK: - Links

    @Test func aLinkOnThePodToEtcIsReportedAndNotFollowed() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write("ok\n", to: bed.pod("results/a.txt"))
        try FileManager.default.createSymbolicLink(atPath: bed.pod("results/etc"), withDestinationPath: "/etc")
        try FileManager.default.createSymbolicLink(atPath: bed.pod("results/passwd"), withDestinationPath: "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: bed.pod("results/alias.txt"), withDestinationPath: "a.txt")
        // A whole default folder that is a link out.
        try FileManager.default.createSymbolicLink(atPath: bed.pod("logs"), withDestinationPath: "/etc")
        let report = try bed.pull()
        #expect(report.paths(.link) == ["logs", "results/alias.txt", "results/etc", "results/passwd"])
        #expect(report.action("results/etc")?.note?.contains("outside") == true)
        #expect(report.action("results/alias.txt")?.note?.contains("outside") == false)
        #expect(report.paths(.new) == ["results/a.txt"])
        #expect(ArtifactTestBed.files(bed.localDirectory) == ["results/a.txt"])
        // Asking for the link's insides by name does not follow it either.
        let named = try bed.elsewhere("named").pull(ArtifactSelection(patterns: ["results/etc/**", "logs/**", "*passwd*"]))
        #expect(named.paths(.new).isEmpty)
        #expect(ArtifactTestBed.files(bed.elsewhere("named").localDirectory).isEmpty)
    }

    @Test func aPushNeverWritesThroughAPodFolderThatLinksOutOfTheRun() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let outside = bed.root.appendingPathComponent("outside").path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try ArtifactTestBed.write("precious\n", to: outside + "/kept.txt")
        try FileManager.default.createSymbolicLink(atPath: bed.pod("data"), withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: bed.pod("kept.txt"), withDestinationPath: outside + "/kept.txt")
        try ArtifactTestBed.write("dataset\n", to: bed.local("data/train.bin"))
        try ArtifactTestBed.write("dataset\n", to: bed.local("data/sub/more.bin"))
        try ArtifactTestBed.write("replacement\n", to: bed.local("kept.txt"))
        try ArtifactTestBed.write("config\n", to: bed.local("config.yaml"))
        let report = try bed.push()
        #expect(report.paths(.failed) == ["data/sub/more.bin", "data/train.bin"])
        #expect(report.actions.filter { $0.kind == .failed }.allSatisfy { $0.note?.contains("refused") == true })
        #expect(report.paths(.new) == ["config.yaml", "kept.txt"])
        // Nothing arrived outside; the file link was replaced, its target untouched.
        #expect(ArtifactTestBed.files(outside) == ["kept.txt"])
        #expect(ArtifactTestBed.read(outside + "/kept.txt") == Data("precious\n".utf8))
        #expect(ArtifactTestBed.read(bed.pod("kept.txt")) == Data("replacement\n".utf8))
        #expect(ArtifactTestBed.read(bed.pod("config.yaml")) == Data("config\n".utf8))
    }

    @Test func aPullNeverWritesThroughALocalFolderThatIsALink() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let outside = bed.root.appendingPathComponent("outside").path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: bed.localDirectory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bed.local("results"), withDestinationPath: outside)
        try ArtifactTestBed.write("pod\n", to: bed.pod("results/a.txt"))
        #expect(throws: CCPodError.self) { try bed.pull() }
        #expect(ArtifactTestBed.files(outside).isEmpty)
    }

    // MARK: - Never overwrite without an agreement

    @Test func aFileChangedHereIsKeptAndAChangeOnBothSidesIsAConflictUntilForce() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write("v1 from the pod\n", to: bed.pod("results/eval.json"))
        try ArtifactTestBed.write("log\n", to: bed.pod("logs/train.log"))
        #expect(try bed.pull().paths(.new) == ["logs/train.log", "results/eval.json"])
        // Edited here, same size (only the mtime and bytes tell).
        try ArtifactTestBed.write("v1 edited here!\n", to: bed.local("results/eval.json"))
        let kept = try bed.pull()
        #expect(kept.paths(.kept) == ["results/eval.json"])
        #expect(kept.unchanged == 1)
        #expect(ArtifactTestBed.read(bed.local("results/eval.json")) == Data("v1 edited here!\n".utf8))
        // And on the pod too.
        try ArtifactTestBed.write("v2 from the pod, longer\n", to: bed.pod("results/eval.json"))
        let conflict = try bed.pull()
        #expect(conflict.paths(.conflict) == ["results/eval.json"])
        #expect(conflict.bytes == 0)
        #expect(ArtifactTestBed.read(bed.local("results/eval.json")) == Data("v1 edited here!\n".utf8))
        // A push would not overwrite the pod's either.
        let push = try bed.push(ArtifactSelection(patterns: ["results"]))
        #expect(push.paths(.conflict) == ["results/eval.json"])
        #expect(ArtifactTestBed.read(bed.pod("results/eval.json")) == Data("v2 from the pod, longer\n".utf8))
        let forced = try bed.pull(force: true)
        #expect(forced.paths(.replaced) == ["results/eval.json"])
        #expect(ArtifactTestBed.read(bed.local("results/eval.json")) == Data("v2 from the pod, longer\n".utf8))
        #expect(try bed.pull().unchanged == 2)
    }

    @Test func aFileHereBeforeAnyAgreementIsAConflictUnlessIdentical() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write("same bytes\n", to: bed.pod("results/same.txt"))
        try ArtifactTestBed.write("pod's bytes\n", to: bed.pod("results/size.txt"))
        try ArtifactTestBed.write("pod's bytes\n", to: bed.pod("results/bytes.txt"))
        try ArtifactTestBed.write("same bytes\n", to: bed.local("results/same.txt"))
        try ArtifactTestBed.write("mine, and longer\n", to: bed.local("results/size.txt"))
        try ArtifactTestBed.write("MINE bytes!\n", to: bed.local("results/bytes.txt"))
        let dry = try bed.pull(dryRun: true)
        #expect(dry.paths(.compare) == ["results/bytes.txt", "results/same.txt"])
        #expect(dry.paths(.conflict) == ["results/size.txt"])
        let report = try bed.pull()
        #expect(report.paths(.same) == ["results/same.txt"])
        #expect(report.paths(.conflict) == ["results/bytes.txt", "results/size.txt"])
        #expect(report.bytes == 0)
        #expect(ArtifactTestBed.read(bed.local("results/bytes.txt")) == Data("MINE bytes!\n".utf8))
        #expect(ArtifactTestBed.read(bed.local("results/size.txt")) == Data("mine, and longer\n".utf8))
        // `same` was recorded as agreed: the next pull does not compare it again.
        let again = try bed.pull()
        #expect(again.unchanged == 1)
        #expect(again.action("results/same.txt") == nil)
        #expect(again.paths(.conflict) == ["results/bytes.txt", "results/size.txt"])
        let forced = try bed.pull(force: true)
        #expect(forced.paths(.replaced) == ["results/bytes.txt", "results/size.txt"])
        #expect(ArtifactTestBed.contents(bed.localDirectory) == ArtifactTestBed.contents(bed.podRun))
    }

    @Test func aPushOverAPodFileChangedThereIsKeptAndAPodFileBeforeAgreementIsAConflict() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write("config v1\n", to: bed.local("config.yaml"))
        try ArtifactTestBed.write("same\n", to: bed.local("same.txt"))
        try ArtifactTestBed.write("same\n", to: bed.pod("same.txt"))
        try ArtifactTestBed.write("theirs\n", to: bed.pod("other.txt"))
        try ArtifactTestBed.write("mine!!\n", to: bed.local("other.txt"))
        let first = try bed.push()
        #expect(first.paths(.new) == ["config.yaml"])
        #expect(first.paths(.same) == ["same.txt"])
        #expect(first.paths(.conflict) == ["other.txt"])
        #expect(ArtifactTestBed.read(bed.pod("other.txt")) == Data("theirs\n".utf8))
        // The run rewrote its config: a push keeps it, the next pull takes it.
        try ArtifactTestBed.write("config v2 by the run\n", to: bed.pod("config.yaml"))
        let second = try bed.push()
        #expect(second.paths(.kept) == ["config.yaml"])
        #expect(ArtifactTestBed.read(bed.pod("config.yaml")) == Data("config v2 by the run\n".utf8))
        // Changed here only: sent again.
        try ArtifactTestBed.write("same, edited\n", to: bed.local("same.txt"))
        #expect(try bed.push().paths(.replaced) == ["same.txt"])
        #expect(ArtifactTestBed.read(bed.pod("same.txt")) == Data("same, edited\n".utf8))
    }

    @Test func aGrownLogMovesOnlyItsNewEndAndAnEditedOneMovesWhole() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let start = Data(repeating: 0x61, count: 100_000)
        try ArtifactTestBed.write(start, to: bed.pod("logs/train.log"))
        try bed.pull()
        let tail = Data("step 1 loss 0.5\n".utf8)
        try ArtifactTestBed.append(tail, to: bed.pod("logs/train.log"))
        let grown = try bed.pull()
        #expect(grown.action("logs/train.log") == ArtifactAction(path: "logs/train.log", kind: .grown, bytes: Int64(tail.count)))
        #expect(grown.bytes == Int64(tail.count))
        #expect(ArtifactTestBed.read(bed.local("logs/train.log")) == start + tail)
        // Rewritten on the pod from the start (and longer): the grown end alone would be wrong.
        var rewritten = start + tail
        rewritten[0] = 0x62
        try ArtifactTestBed.write(rewritten + tail, to: bed.pod("logs/train.log"))
        let replaced = try bed.pull()
        #expect(replaced.action("logs/train.log")?.kind == .new || replaced.action("logs/train.log")?.kind == .replaced)
        #expect(ArtifactTestBed.read(bed.local("logs/train.log")) == rewritten + tail)
        #expect(ArtifactTestBed.files(bed.localDirectory) == ["logs/train.log"])
    }

    /// A log edited here in place with its size and time put back looks agreed by its stat;
    /// the pod's new end is then not appended to it, and the pod's copy does not replace it.
    @Test func aLogEditedHereBehindItsStatIsNeitherGrownNorReplaced() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let start = Data(repeating: 0x61, count: 100_000)
        try ArtifactTestBed.write(start, to: bed.pod("logs/train.log"))
        try bed.pull()
        try ArtifactTestBed.append(Data("step 1 loss 0.5\n".utf8), to: bed.pod("logs/train.log"))
        let path = bed.local("logs/train.log")
        var before = stat()
        #expect(stat(path, &before) == 0)
        let fd = open(path, O_WRONLY)
        #expect(pwrite(fd, "edited", 6, 0) == 6)
        close(fd)
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let report = try bed.pull()
        #expect(report.paths(.failed) == ["logs/train.log"], "\(report.actions)")
        var edited = start
        edited.replaceSubrange(0..<6, with: Data("edited".utf8))
        #expect(ArtifactTestBed.read(path) == edited)
        // No longer agreed: a file here unlike the pod's is a conflict until --force.
        #expect(try bed.pull().paths(.conflict) == ["logs/train.log"])
        #expect(try bed.pull(force: true).paths(.replaced) == ["logs/train.log"])
        #expect(ArtifactTestBed.read(path) == ArtifactTestBed.read(bed.pod("logs/train.log")))
    }

    // MARK: - The pod-side script

    @Test(.enabled(if: ChildProcess.exists("shellcheck"), "shellcheck is not installed"))
    func shellcheckFindsNothingInTheArtifactsScript() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../Sources/CCPodKit/Artifacts/artifacts.sh").standardizedFileURL
        let out = try ChildProcess.run("shellcheck", ["-s", "sh", script.path])
        #expect(out.status == 0, "\(out.stdoutText)")
    }

    @Test(arguments: ["dash", "bash"])
    func pushAndPullUnderShell(_ shell: String) throws {
        guard ChildProcess.exists(shell) else { return }
        var bed = try ArtifactTestBed()
        defer { bed.remove() }
        bed.connection = ShellConnection(shell: shell, root: bed.podRoot)
        let odd = ["a b.txt", "it's.txt", "\"quoted\".txt", "$HOME.txt", "back\\slash.txt", "*.txt", "-n.txt",
                   "ünï/čöde.txt", " lead and trail .txt", "semi;colon&.txt"]
        for name in odd { try ArtifactTestBed.write("input \(name)\n", to: bed.local("data/" + name)) }
        try ArtifactTestBed.write(Data(), to: bed.local("data/empty"))
        let push = try bed.push()
        #expect(push.paths(.new).count == odd.count + 1, "\(push.actions)")
        #expect(push.failures == 0)
        #expect(ArtifactTestBed.contents(bed.podRun) == ArtifactTestBed.contents(bed.localDirectory))
        // The run writes outputs; a log grows; the pull brings them.
        for name in odd { try ArtifactTestBed.write("output \(name)\n", to: bed.pod("results/" + name)) }
        try ArtifactTestBed.write("line 1\n", to: bed.pod("logs/train.log"))
        try bed.pull()
        try ArtifactTestBed.append(Data("line 2\n".utf8), to: bed.pod("logs/train.log"))
        let pull = try bed.pull()
        #expect(pull.paths(.grown) == ["logs/train.log"])
        #expect(pull.warnings.isEmpty, "\(pull.warnings)")
        #expect(ArtifactTestBed.contents(bed.podRun) == ArtifactTestBed.contents(bed.localDirectory))
    }
}
