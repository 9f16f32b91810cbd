@testable import CCPodKit
import Foundation
import Testing

/// The fuzz targets' seeds: real answers of the honest pod scripts, recorded against
/// `local:` pods. Every recorded answer must be accepted by its AnswerParsers entry
/// (else the fuzz target would start from answers its parser refuses, or the entry
/// point no longer reaches the parser). `CCPOD_RECORD_SEEDS=1 swift test --filter
/// FuzzSeedTests` writes them to Fuzz/Seeds/<target>/ for Benchmarks/fuzz.
@Suite struct FuzzSeedTests {
    static let seedsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Fuzz/Seeds").standardizedFileURL
    static let parsers = AnswerParsers.targets

    /// A pod connection that copies everything the pod prints into a file, and counts
    /// the exchanges begun and those whose tee has written all of it (`<file>.started`,
    /// `<file>.done`, a byte each): ccpod may be done with an exchange (it reaps the
    /// pod's process in the background once the answer is read) while tee, which writes
    /// to ccpod before the file, still writes.
    struct Recording: PodConnection {
        let inner: any PodConnection
        let file: String
        var displayName: String { inner.displayName }
        var paths: PodPaths { inner.paths }
        var rootPrefix: String { inner.rootPrefix }
        func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
            let (args, env) = try inner.invocation(remoteCommand: remoteCommand)
            let script = "printf x >> \"$0.started\"; \"$@\" | tee -a \"$0\"; status=$?; printf x >> \"$0.done\"; exit $status"
            return (["/bin/sh", "-c", script, file] + args, env)
        }
        func explainFailure(status: Int32, stderr: String) -> CCPodError? { inner.explainFailure(status: status, stderr: stderr) }
    }

    /// Records every scenario; returns target → (seed name → bytes).
    static func record() throws -> [String: [String: Data]] {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-seeds-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        var seeds: [String: [String: Data]] = [:]
        var n = 0
        func recordingFile() -> String {
            n += 1
            return root.appendingPathComponent("rec-\(n)").path
        }
        // What was recorded, once every exchange's copy is whole (see Recording; at most 60 s).
        func read(_ file: String) -> Data {
            func count(_ suffix: String) -> Int { FileManager.default.contents(atPath: file + suffix)?.count ?? 0 }
            for _ in 0..<6000 where count(".done") < count(".started") { usleep(10_000) }
            return FileManager.default.contents(atPath: file) ?? Data()
        }

        // The sync agent: push, pull (single files and a batch), status, sync with a fork.
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let local = bed.connection
        func exchange(_ name: String, _ direction: SyncOptions.Direction, overview: Bool = false) throws {
            let file = recordingFile()
            bed.connection = Recording(inner: local, file: file)
            let engine = SyncEngine(claudeDir: bed.localClaude, connection: bed.connection, stateDir: bed.state, compress: false)
            var options = SyncOptions(direction: direction, dryRun: false, delete: false, busySeconds: 0)
            options.overview = overview
            _ = try engine.run(scope: bed.scope, options: options)
            // Answers back to back when a run needed a second exchange: each after its header line.
            var data = read(file)
            var part = 0
            while let header = data.firstIndex(of: 0x0A) {
                let body = data[(header + 1)...]
                let next = body.range(of: Data("\nCCPOD-AGENT ".utf8))
                let end = next.map { $0.lowerBound + 1 } ?? data.endIndex
                seeds["agent-answer", default: [:]]["\(name)-\(part)"] = Data(data[(header + 1)..<end])
                data = Data(data[end...])
                part += 1
            }
        }
        let ids = (0..<4).map { String(format: "5eed%04d-2222-4333-8444-555555555555", $0) }
        for id in ids.prefix(2) { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 6), to: bed.localTranscript(id)) }
        try exchange("push", .push)
        for id in ids.prefix(2) { try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 6), to: bed.podTranscript(id)) }
        try exchange("pull-grown", .pull)
        for id in ids.suffix(2) { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.podTranscript(id)) }
        try exchange("pull-new", .pull)
        try exchange("status", .status)
        // The overview's session notes: a session grown on the pod, another a claude holds there.
        try SyncTestBed.append(SyncTestBed.lines(session: ids[2], count: 2, start: 3, text: "on the pod"), to: bed.podTranscript(ids[2]))
        let registry = bed.podClaude + "/sessions/\(getpid()).json"
        try SyncTestBed.write(Data("{\"pid\":\(getpid()),\"sessionId\":\"\(ids[3])\"}".utf8), to: registry)
        try exchange("status-overview", .status, overview: true)
        try FileManager.default.removeItem(atPath: registry)
        try SyncTestBed.append(SyncTestBed.lines(session: ids[0], count: 1, start: 20, text: "laptop"), to: bed.localTranscript(ids[0]))
        try SyncTestBed.append(SyncTestBed.lines(session: ids[0], count: 1, start: 20, text: "pod"), to: bed.podTranscript(ids[0]))
        try SyncTestBed.append(SyncTestBed.lines(session: ids[1], count: 2, start: 8), to: bed.localTranscript(ids[1]))
        try exchange("sync-fork", .sync)

        // The artifacts agent: a first pull of the files AnswerParsers.artifactsTransfer lists, then a grown file.
        var art = try ArtifactTestBed()
        defer { art.remove() }
        try FileManager.default.createDirectory(atPath: art.pod("results"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: art.pod("checkpoints"), withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: art.pod("results/a.txt")))
        try Data("hello world".utf8).write(to: URL(fileURLWithPath: art.pod("results/b.txt")))
        try Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }).write(to: URL(fileURLWithPath: art.pod("checkpoints/c.bin")))
        let artLocal = art.connection
        func pull(_ name: String) throws {
            let file = recordingFile()
            art.connection = Recording(inner: artLocal, file: file)
            _ = try art.pull(compression: Compression.none)
            var data = read(file)
            // Phase 1: header, LIST line, the listing; phase 2: the rest.
            for _ in 0..<2 {
                guard let nl = data.firstIndex(of: 0x0A) else { return }
                if data.starts(with: Data("LIST ".utf8)) {
                    let words = String(decoding: data[data.startIndex..<nl], as: UTF8.self).split(separator: " ").map(String.init)
                    let count = Int(words.last ?? "") ?? 0
                    var listing = Data(data[(nl + 1)..<(nl + 1 + count)])
                    // The script compresses the listing when the pod has zstd or gzip; the parser reads it plain.
                    if words.count == 3, words[1] != "none" {
                        listing = try ChildProcess.run(words[1], ["-d", "-c"], input: listing).stdout
                    }
                    seeds["artifacts-listing", default: [:]][name] = listing
                    data = Data(data[(nl + 1 + count)...])
                    break
                }
                data = Data(data[(nl + 1)...])
            }
            // AnswerParsers.artifactsTransfer answers the first pull's listing: only that answer fits it.
            if !data.isEmpty && name == "first-pull" { seeds["artifacts-transfer", default: [:]][name] = data }
        }
        try pull("first-pull")
        let grow = try FileHandle(forWritingTo: URL(fileURLWithPath: art.pod("checkpoints/c.bin")))
        try grow.seekToEnd()
        try grow.write(contentsOf: Data(repeating: 7, count: 1000))
        try grow.close()
        try Data("HELLO".utf8).write(to: URL(fileURLWithPath: art.pod("results/a.txt")))
        try pull("grown")

        // Setup's check, the probe of `ccpod check`, the runs registry after a deploy.
        let podRoot = root.appendingPathComponent("pod").path
        try FileManager.default.createDirectory(atPath: podRoot + "/workspace", withIntermediateDirectories: true)
        let pod = LocalConnection(root: podRoot)
        let setup = try pod.runCommand(PodSetup(connection: pod, runtime: PodRuntime()).remoteCommand(mode: .check))
        seeds["setup-output", default: [:]]["check"] = setup.stdout
        let probe = try pod.runCommand(PodProbe.script(paths: pod.paths, rootPrefix: pod.rootPrefix))
        seeds["probe-output", default: [:]]["check-probe"] = probe.stdout
        seeds["probe-output", default: [:]]["check-probe-and-setup"] = probe.stdout + setup.stdout
        let key = try ChildProcess.run("/bin/sh", ["-c", "ssh-keygen -q -t ed25519 -N '' -C pod -f \"$0/k\" && cat \"$0/k.pub\"", root.path]).stdoutText
        seeds["probe-output", default: [:]]["proxy-reply"] = Data(("\u{1B}[?2004hroot@pod:~# CCPOD-B\r\nE RUNPOD_PUBLIC_IP=203.0.113.7\r\n"
            + "E RUNPOD_TCP_PORT_22=22022\r\nE RUNPOD_POD_ID=abc123xyz\r\n\r\nK \(key.trimmingCharacters(in: .whitespacesAndNewlines))\r\n\r\nCCPOD-E 0\r\n").utf8)
        seeds["probe-output", default: [:]]["environment"] = Data(("E RUNPOD_PUBLIC_IP=203.0.113.7\nE RUNPOD_TCP_PORT_22=22022\n"
            + "K \(key.trimmingCharacters(in: .whitespacesAndNewlines))\n").utf8)

        // The lifecycle's inventory: a session store, a prompt log, a run's outputs, a run that is gone.
        try SyncTestBed.write(SyncTestBed.lines(session: "11111111-2222-4333-8444-555555555555", count: 2),
                              to: podRoot + "/root/.claude/projects/-w/11111111-2222-4333-8444-555555555555.jsonl")
        try SyncTestBed.write(Data("{\"display\":\"train\",\"project\":\"/w\",\"timestamp\":1}\n".utf8), to: podRoot + "/root/.claude/history.jsonl")
        try SyncTestBed.write(Data("step 1 loss 2.3\n".utf8), to: podRoot + "/workspace/runs/r1/logs/train.log")
        let inventory = try pod.runCommand(PodInventory.command(rootPrefix: pod.rootPrefix, claudeDir: pod.paths.claudeDir, history: true,
                                                                runDirectories: ["/workspace/runs/r1", "/workspace/runs/r2"]))
        seeds["inventory-output", default: [:]]["store-and-runs"] = inventory.stdout
        // `doctor --pod`: that store, with a bad line and a torn one added.
        try SyncTestBed.write(SyncTestBed.lines(session: "21111111-2222-4333-8444-555555555555", count: 2) + Data("not json\n{\"torn".utf8),
                              to: podRoot + "/root/.claude/projects/-w/21111111-2222-4333-8444-555555555555.jsonl")
        let doctor = try pod.runCommand(InlineScript.command(Array(PodDoctor.script.utf8), name: "ccpod-doctor",
                                                             arguments: [pod.rootPrefix + pod.paths.claudeDir]))
        seeds["doctor-output", default: [:]]["bad-and-torn"] = doctor.stdout

        let git = try GitFixture()
        defer { git.remove() }
        let deployer = Deployer(connection: pod, podStateDir: root.appendingPathComponent("deploy-state"), gitEnvironment: git.env)
        _ = try deployer.deploy(DeployRequest(directory: git.root.path, runName: "seed"))
        let paths = pod.paths
        let list = try pod.runCommand(DeployScript.remoteCommand("list", [pod.rootPrefix, paths.workspace, paths.persistentDir, paths.claudeDir]))
        seeds["deploy-output", default: [:]]["list"] = list.stdout
        let records = try pod.runCommand(DeployScript.remoteCommand("records", [pod.rootPrefix, paths.workspace, paths.persistentDir]))
        seeds["deploy-output", default: [:]]["records"] = records.stdout
        // Autostop: the status of a watchdog that stopped its pod, and its note passed on.
        let autostop = PodAutostop(connection: pod, runtime: PodRuntime())
        try FileManager.default.createDirectory(atPath: autostop.directory, withIntermediateDirectories: true)
        for (file, text) in [("config", "pod_name=gpu1\nidle=1800\ninterval=60\ngpu_threshold=5\npod_id=abc123xyz\ncost=0.4400\n"),
                             ("state", "1796529324 31 stopped asked the RunPod API to stop pod abc123xyz after 1803 s idle\n"),
                             ("note", "gpu1 1796529324 1803 2 0.4400\n")] {
            try text.write(toFile: autostop.directory + "/" + file, atomically: true, encoding: .utf8)
        }
        seeds["autostop-output", default: [:]]["status"] = try pod.runCommand(autostop.command("status")).stdout
        seeds["autostop-output", default: [:]]["note"] = try pod.runCommand(autostop.command("deliver")).stdout

        // Text answers name this machine's temporary folders: written as a pod's paths instead.
        for target in ["setup-output", "probe-output", "deploy-output", "autostop-output"] {
            for (name, data) in seeds[target] ?? [:] {
                let text = String(decoding: data, as: UTF8.self)
                    .replacingOccurrences(of: podRoot, with: "")
                    .replacingOccurrences(of: git.root.deletingLastPathComponent().path, with: "/home/me")
                seeds[target]?[name] = Data(text.utf8)
            }
        }
        return seeds
    }

    @Test func honestAnswersAreAcceptedByEveryEntryPoint() throws {
        let seeds = try Self.record()
        #expect(Set(seeds.keys) == Set(Self.parsers.keys), "no seeds for \(Set(Self.parsers.keys).subtracting(seeds.keys))")
        for (target, files) in seeds.sorted(by: { $0.key < $1.key }) {
            for (name, data) in files.sorted(by: { $0.key < $1.key }) {
                #expect(!data.isEmpty, "\(target)/\(name) is empty")
                #expect(Self.parsers[target]?(data) == true, "\(target)/\(name) (\(data.count) bytes) was refused")
            }
        }
        if ProcessInfo.processInfo.environment["CCPOD_RECORD_SEEDS"] == "1" {
            for (target, files) in seeds {
                let dir = Self.seedsDir.appendingPathComponent(target)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for (name, data) in files { try data.write(to: dir.appendingPathComponent(name)) }
            }
        }
    }

    /// The committed seeds still parse (the fuzz targets start from accepted answers).
    @Test func committedSeedsAreAccepted() throws {
        for (target, parse) in Self.parsers.sorted(by: { $0.key < $1.key }) {
            let dir = Self.seedsDir.appendingPathComponent(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            #expect(!names.isEmpty, "no seeds in \(dir.path)")
            for name in names.sorted() {
                let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) ?? Data()
                #expect(parse(data), "\(target)/\(name) was refused")
            }
        }
    }

    /// Crafted bytes go through without a crash and are refused (the entry points can say no).
    @Test func craftedAnswersAreRefused() {
        #expect(!AnswerParsers.agentAnswer(Data("S\tnew\t-5\t1.0\t0\t-\t../x\nEND\tok\n".utf8)))
        #expect(!AnswerParsers.agentAnswer(Data("W\tno end\n".utf8)))
        #expect(!AnswerParsers.artifactsListing(Data("F\t-1\t1.0\tresults/a\n".utf8)))
        #expect(!AnswerParsers.artifactsTransfer(Data("D\t0\t5\t../../x\nhelloZ\t-\t../../x\nEND\tok\n".utf8)))
        #expect(!AnswerParsers.deployOutput(Data("J\t{not json\n".utf8)))
        #expect(!AnswerParsers.setupOutput(Data()))
        #expect(!AnswerParsers.probeOutput(Data("nothing\n".utf8)))
        #expect(!AnswerParsers.doctorOutput(Data("C\tyes\tyes\nB\tprojects/../../etc/passwd\t1\nEND\n".utf8)))
        #expect(!AnswerParsers.doctorOutput(Data("C\tyes\tyes\nF\t2\n".utf8)))
        #expect(!AnswerParsers.autostopOutput(Data("state 12 x busy tmux\nautostop-note gpu1 -5 60 1 - -\n".utf8)))
    }
}
