@testable import CCPodCLI
@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// The hash verification before `terminate` and `clean`, and `clean` itself on a
/// `local:` pod: what is not safely home is named and nothing is removed; what is
/// removed is only the verified session store, never anything outside it.
@Suite struct PodHomeVerificationTests {
    let id = "11111111-2222-4333-8444-555555555555"

    func run(_ args: [String], _ env: [String: String]) throws { try runCCPod(args, env) }

    @Test(.enabled(if: ChildProcess.exists("shellcheck"), "shellcheck is not installed"))
    func theLifecycleScriptsAreShellcheckClean() throws {
        for (name, source) in [("inventory", PodInventory.script), ("clean", PodSessionWipe.script)] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).sh")
            try ("#!/bin/sh\n" + source + "\n").write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let out = try ChildProcess.run("shellcheck", ["-s", "sh", file.path])
            #expect(out.status == 0, "\(name): \(out.stdoutText)")
        }
    }

    // MARK: - The pod's answer

    @Test func anInventoryIsParsedAndItsLiesRefused() throws {
        let sha = String(repeating: "a", count: 64)
        let history = Data("{\"display\":\"hi\",\"timestamp\":1}\n".utf8)
        var answer = Data("M /w/runs/r2\nR /w/runs/r1\nF \(sha)  logs/train.log\nC\nF \(sha)  projects/-p/\(id).jsonl\nF \\\(sha)  projects/-p/odd\\nname\n".utf8)
        answer += Data("Z \(history.count) \(SHA256Hex.of(history))\n".utf8) + history
        let inventory = try PodInventory.parse(answer, runDirectories: ["/w/runs/r1", "/w/runs/r2"])
        #expect(inventory.claudeDirExists)
        #expect(inventory.sessionFiles == [.init(path: "projects/-p/\(id).jsonl", sha256: sha)])
        #expect(inventory.runs["/w/runs/r1"] == [.init(path: "logs/train.log", sha256: sha)])
        #expect(inventory.runs["/w/runs/r2"] == nil)
        #expect(inventory.unreadable.count == 1)
        #expect(inventory.history == history)

        let lies: [Data] = [
            Data("C\nF \(sha)  settings.json\n".utf8),
            Data("R /etc\n".utf8),
            Data("C\nQ what\n".utf8),
            Data("C\nZ 99 \(sha)\nshort".utf8),
            Data("C\nZ 5 \(sha)\nhello".utf8),
            Data("C\nF \(sha)  projects/x".utf8),
        ]
        for lie in lies {
            #expect(throws: CCPodError.self, "\(String(decoding: lie, as: UTF8.self))") {
                try PodInventory.parse(lie, runDirectories: ["/w/runs/r1"])
            }
        }
        // A path that leaves the store is not taken as a file to check (nor to remove).
        let escaping = try PodInventory.parse(Data("C\nF \(sha)  projects/../../etc/passwd\n".utf8), runDirectories: [])
        #expect(escaping.sessionFiles.isEmpty && escaping.unreadable.count == 1)
    }

    @Test func verificationNamesWhatIsNotHomeByHash() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-verify-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let claude = dir.appendingPathComponent("claude").path
        let content = Data("line one\nline two\n".utf8)
        try SyncTestBed.write(content, to: claude + "/projects/-l/a.jsonl")
        try SyncTestBed.write(content, to: claude + "/projects/-l/b.jsonl")
        var store = try AncestorStore(file: dir.appendingPathComponent("ancestors.tsv"))
        let version = FileVersion(size: Int64(content.count), sha256: SHA256Hex.of(content))
        for name in ["a", "b", "c"] {
            store.set(AncestorPair(localPath: "projects/-l/\(name).jsonl", podPath: "projects/-p/\(name).jsonl",
                                   local: version, pod: version, localSeen: nil, podSeen: nil))
        }
        var inventory = PodInventory()
        inventory.sessionFiles = [
            .init(path: "projects/-p/a.jsonl", sha256: version.sha256),                       // home
            .init(path: "projects/-p/b.jsonl", sha256: String(repeating: "0", count: 64)),    // changed on the pod after the pull
            .init(path: "projects/-p/c.jsonl", sha256: version.sha256),                       // its copy here is gone
            .init(path: "projects/-p/d.jsonl", sha256: version.sha256),                       // never came home
        ]
        inventory.history = Data("{\"display\":\"only on the pod\",\"project\":\"/w\",\"timestamp\":5}\n".utf8)
        var v = PodHomeVerification()
        v.checkSessions(inventory, store: store, localClaudeDir: claude, localHistory: Data())
        #expect(!v.ok)
        #expect(v.verifiedSessionFiles.map(\.path) == ["projects/-p/a.jsonl"])
        #expect(v.problems.map(\.path) == ["projects/-p/b.jsonl", "projects/-p/c.jsonl", "projects/-p/d.jsonl", "history.jsonl"])
        #expect(v.problems[0].why.contains("changed on the pod"))
        #expect(v.problems[1].why.contains("missing"))
        #expect(v.problems[2].why.contains("not brought home"))

        // A local copy that only grew still holds the agreed bytes.
        try SyncTestBed.append(Data("line three\n".utf8), to: claude + "/projects/-l/a.jsonl")
        var again = PodHomeVerification()
        var first = PodInventory()
        first.sessionFiles = [inventory.sessionFiles[0]]
        again.checkSessions(first, store: store, localClaudeDir: claude, localHistory: nil)
        #expect(again.ok && again.verifiedFiles == 1)
    }

    @Test func aRunsOutputsAreCheckedAgainstItsLastPull() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-verify-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let local = dir.path + "/runs/r1"
        let bytes = Data(repeating: 7, count: 1000)
        try SyncTestBed.write(bytes, to: local + "/checkpoints/step-1.bin")
        var state = ArtifactState()
        let stat = try #require(LocalStat.of(local + "/checkpoints/step-1.bin"))
        state.files["checkpoints/step-1.bin"] = .init(pod: PodStat(size: 1000, mtime: "1"), local: stat, sha256: SHA256Hex.of(bytes))
        var v = PodHomeVerification()
        v.checkRun(podDirectory: "/w/runs/r1", files: [.init(path: "checkpoints/step-1.bin", sha256: SHA256Hex.of(bytes)),
                                                       .init(path: "logs/new.log", sha256: SHA256Hex.of(bytes))],
                   state: state, localDirectory: local)
        #expect(v.verifiedFiles == 1 && v.problems.map(\.path) == ["/w/runs/r1/logs/new.log"])
        var gone = PodHomeVerification()
        gone.checkRun(podDirectory: "/w/runs/r2", files: nil, state: state, localDirectory: local)
        #expect(gone.problems.first?.why.contains("not on the pod") == true)
    }

    // MARK: - clean on a local: pod

    @Test func cleanRemovesOnlyTheVerifiedStoreAndNothingOutsideIt() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let env = ["HOME": bed.root.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                   "XDG_CONFIG_HOME": bed.root.path + "/config", "XDG_STATE_HOME": bed.root.path + "/state"]
        let pod = "local:\(bed.podRoot)"
        let project = bed.root.appendingPathComponent("project").path
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let slug = ProjectSlug.forDirectory(URL(fileURLWithPath: project))
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: "\(bed.localClaude)/projects/\(slug)/\(id).jsonl")
        try SyncTestBed.write(Data("{\"display\":\"train it\",\"project\":\"\(project)\",\"timestamp\":1}\n".utf8), to: bed.localClaude + "/history.jsonl")
        try SyncTestBed.write(Data("{}".utf8), to: bed.localClaude + "/settings.json")
        try run(["push", "--pod", pod, "--claude-dir", bed.localClaude, "--project", project, "--busy-seconds", "0", "--json"], env)
        #expect(FileManager.default.fileExists(atPath: "\(bed.podClaude)/projects/\(slug)/\(id).jsonl"))
        // Things clean must never touch: the pod's settings, its credentials, a store folder's link to elsewhere.
        try SyncTestBed.write(Data("secret".utf8), to: bed.podClaude + "/.credentials.json")
        let outside = bed.root.appendingPathComponent("outside").path
        try SyncTestBed.write(Data("keep me\n".utf8), to: outside + "/keep.jsonl")
        try FileManager.default.createSymbolicLink(atPath: bed.podClaude + "/projects/-elsewhere", withDestinationPath: outside)

        // A session only on the pod that cannot come home (changed on both sides) stops clean.
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 4, text: "pod"), to: "\(bed.podClaude)/projects/\(slug)/\(id).jsonl")
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 1, start: 4, text: "laptop"), to: "\(bed.localClaude)/projects/\(slug)/\(id).jsonl")
        let refused = try #require(throws: CCPodError.self) {
            try run(["clean", "--pod", pod, "--claude-dir", bed.localClaude, "--busy-seconds", "0", "--yes"], env)
        }
        #expect(refused.message.contains("nothing was removed") && refused.message.contains("\(id).jsonl"), "\(refused.message)")
        #expect(FileManager.default.fileExists(atPath: "\(bed.podClaude)/projects/\(slug)/\(id).jsonl"))

        // Once both sides agree again (the pod's continuation kept as a sibling here), clean goes through;
        // a killed sync's stage folder (a copy of what came from here) neither stops it nor is touched.
        try run(["sync", "--pod", pod, "--claude-dir", bed.localClaude, "--all", "--busy-seconds", "0", "--json"], env)
        let stale = "\(bed.podClaude)/projects/.ccpod-0123abcd.ccpod-stage/\(slug)/\(id).jsonl"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 2), to: stale)
        try run(["clean", "--pod", pod, "--claude-dir", bed.localClaude, "--busy-seconds", "0", "--yes"], env)
        #expect(FileManager.default.fileExists(atPath: stale))
        let left = (try? FileManager.default.subpathsOfDirectory(atPath: bed.podClaude + "/projects/\(slug)")) ?? []
        #expect(left.isEmpty, "\(left)")
        #expect(!FileManager.default.fileExists(atPath: bed.podClaude + "/history.jsonl"))
        #expect(FileManager.default.fileExists(atPath: bed.podClaude + "/settings.json"))
        #expect(FileManager.default.fileExists(atPath: bed.podClaude + "/.credentials.json"))
        #expect(SyncTestBed.read(outside + "/keep.jsonl") == Data("keep me\n".utf8))
        // Home is untouched.
        #expect(FileManager.default.fileExists(atPath: "\(bed.localClaude)/projects/\(slug)/\(id).jsonl"))
        #expect(SyncTestBed.read(bed.localClaude + "/history.jsonl").count > 0)

        // The wipe itself refuses what leads out of the store, even when asked to.
        let sha = SHA256Hex.of(Data("keep me\n".utf8))
        let outcome = try PodSessionWipe(connection: LocalConnection(root: bed.podRoot))
            .run(files: [.init(path: "projects/-elsewhere/keep.jsonl", sha256: sha)], historySHA256: nil)
        #expect(outcome.removed.isEmpty && outcome.kept.first?.why.contains("outside the store") == true)
        #expect(throws: CCPodError.self) {
            try PodSessionWipe(connection: LocalConnection(root: bed.podRoot)).run(files: [.init(path: ".credentials.json", sha256: sha)], historySHA256: nil)
        }
        #expect(SyncTestBed.read(outside + "/keep.jsonl") == Data("keep me\n".utf8))
    }
}
