import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One entry point per parser of what a pod answers, for the fuzz targets (Fuzz/) and
/// tests: each feeds the bytes to the real parser, catches what it throws, and writes
/// only under a temporary folder of its own. When a parser moves or changes its
/// signature, this file is the one place the fuzz targets follow it.
///
/// Each returns whether the parser accepted the bytes.
public enum AnswerParsers {
    /// The sync agent's answer after its header line (`S`, `D`, `E`, `W` records, `END`):
    /// the reader the exchange uses, data records copied under a scratch folder.
    @discardableResult
    public static func agentAnswer(_ data: Data) -> Bool {
        scratch.withLock { folder in
            guard let folder else { return false }
            clear(folder)
            guard let fd = openInput(data, in: folder) else { return false }
            defer { close(fd) }
            do {
                let records = try AgentExchange.readRecords(FDReader(fd: fd), scratch: URL(fileURLWithPath: folder), pod: "fuzz")
                _ = AgentExchange.Answer(records: records, responseCompression: .none).index
                return true
            } catch {
                return false
            }
        }
    }

    /// The artifacts agent's listing (phase 1 after its `LIST` line: `R`, `X`, `F`, `L`, `W` records).
    @discardableResult
    public static func artifactsListing(_ data: Data) -> Bool {
        (try? RunListing.parse(data, tools: [.zstd, .gzip], pod: "fuzz")) != nil
    }

    /// The artifacts agent's whole exchange for a pull: `data` is what the pod prints
    /// after ccpod's request (`D`, `B`, `H`, `W`, `Y` records, `END`), after a fixed
    /// honest listing of three files. Runs the real pull (planner, transfer reader,
    /// finisher) into a scratch folder through `/bin/sh` playing the pod.
    @discardableResult
    public static func artifactsTransfer(_ data: Data, dryRun: Bool = false) -> Bool {
        scratch.withLock { folder in
            guard let folder else { return false }
            clear(folder)
            let listing = "R\tok\nV\t1000000000\nF\t5\t1764000000.0\tresults/a.txt\nF\t11\t1764000000.0\tresults/b.txt\n"
                + "F\t300000\t1764000000.0\tcheckpoints/c.bin\n"
            let phase1 = "CCPOD-ART \(ArtifactsScript.protocolVersion) none\nLIST none \(listing.utf8.count)\n" + listing
            do {
                try Data(phase1.utf8).write(to: URL(fileURLWithPath: folder + "/listing"))
                try data.write(to: URL(fileURLWithPath: folder + "/answer"))
                let request = ArtifactRequest(direction: .pull, podDirectory: "/work/runs/r1", localDirectory: folder + "/to",
                                              selection: ArtifactSelection(everythingByDefault: true), dryRun: dryRun,
                                              force: false, compression: Compression.none)
                let connection = PlayedPod(folder: folder)
                _ = try ArtifactTransfer(connection: connection, request: request,
                                         podStateDir: URL(fileURLWithPath: folder + "/state")).run()
                return true
            } catch {
                return false
            }
        }
    }

    /// The deploy script's output: the runs registry (`records`, `list`: `J`, `E`, `K`,
    /// `T`, `P` records) and the reason read from a failure's stderr.
    @discardableResult
    public static func deployOutput(_ data: Data) -> Bool {
        let text = String(decoding: data, as: UTF8.self)
        let parsed = PodRuns.parse(text)
        _ = DeployScript.reason(text)
        _ = DeployScript.saysDiskFull(text)
        for record in parsed.records {
            _ = parsed.sizes[record.folder]
            _ = parsed.projects[ProjectSlug.of(record.codePath)]
            _ = parsed.panes.filter { $0.path.hasPrefix(record.directory) }
        }
        return !parsed.records.isEmpty
    }

    /// The setup script's output (`step`, `tmux`, … lines), as `ccpod setup` and `check` read it.
    @discardableResult
    public static func setupOutput(_ data: Data) -> Bool {
        let text = String(decoding: data, as: UTF8.self)
        return (try? PodSetup.parse(text, pod: "fuzz", stderr: text, status: 0)) != nil
    }

    /// The probes: `ccpod check`'s probe output (`tool`, `df`, `env` lines) and the address
    /// probe through RunPod's proxy (raw terminal bytes between markers, the pod's
    /// environment file and host key).
    @discardableResult
    public static func probeOutput(_ data: Data) -> Bool {
        let text = String(decoding: data, as: UTF8.self)
        let probe = try? PodProbe.parse(text, paths: PodPaths())
        var endpoint: DiscoveredEndpoint?
        if let reply = ProxyControlChannel.extract(Array(data), begin: Array("CCPOD-B".utf8), end: Array("CCPOD-E".utf8)) {
            endpoint = try? PodAddressProbe().parse(reply.output)
        }
        let direct = try? PodAddressProbe().parse(text)
        return probe != nil || endpoint != nil || direct != nil
    }

    /// The lifecycle's inventory of what a pod keeps (`C`, `F`, `R`, `M`, `W`, then `Z` and
    /// the prompt log's bytes), as `pod terminate` and `clean` read it; runs
    /// `/workspace/runs/r1` and `r2` asked for.
    @discardableResult
    public static func inventoryOutput(_ data: Data) -> Bool {
        (try? PodInventory.parse(data, runDirectories: ["/workspace/runs/r1", "/workspace/runs/r2"])) != nil
    }

    /// `ccpod pod autostop`'s answers (`config`, `watchdog`, `state`, `key`, `note` lines) and
    /// the watchdog's note as the sync agent and setup pass it on (`autostop-note …`).
    @discardableResult
    public static func autostopOutput(_ data: Data) -> Bool {
        let text = String(decoding: data, as: UTF8.self)
        let status = AutostopStatus.parse(text, pod: "fuzz")
        let notes = text.split(separator: "\n").prefix(1000).compactMap { AutostopNote.parse(String($0)) }
        for note in notes { _ = note.sentence(now: Date(timeIntervalSince1970: 1_800_000_000)) }
        return status.on || status.state != nil || !notes.isEmpty
    }

    /// `ccpod doctor --pod`'s check of the pod's Claude dir (`C`, `F`, `B`, `T`, `END`).
    @discardableResult
    public static func doctorOutput(_ data: Data) -> Bool {
        (try? PodDoctor.parse(String(decoding: data, as: UTF8.self), pod: "fuzz", claudeDir: "/root/.claude", status: 0)) != nil
    }

    /// The fuzz targets by name (Fuzz/Seeds/<name>, `Benchmarks/fuzz`), each the real parser.
    public static let targets: [String: @Sendable (Data) -> Bool] = [
        "agent-answer": { agentAnswer($0) },
        "artifacts-listing": { artifactsListing($0) },
        "artifacts-transfer": { artifactsTransfer($0) },
        "deploy-output": { deployOutput($0) },
        "setup-output": { setupOutput($0) },
        "probe-output": { probeOutput($0) },
        "inventory-output": { inventoryOutput($0) },
        "autostop-output": { autostopOutput($0) },
        "doctor-output": { doctorOutput($0) },
    ]

    /// Runs `body` on every file named in `paths` (folders: every file in them) and prints
    /// how many were accepted: a fuzz target built without the fuzzer replays its corpus.
    /// Returns the exit status (1 when a path could not be read).
    public static func replay(_ paths: [String], _ body: (Data) -> Bool) -> Int32 {
        var files: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                FileHandle.standardError.write(Data("no such file: \(path)\n".utf8))
                return 1
            }
            if isDir.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var accepted = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                return 1
            }
            if body(data) { accepted += 1 }
        }
        print("\(files.count) inputs replayed, \(accepted) accepted, none crashed")
        return 0
    }

    // MARK: - Scratch

    /// One scratch folder per process, used by one call at a time.
    private static let scratch = Locked<String?>({
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-parsers-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }())

    private static func clear(_ folder: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
    }

    /// `data` as a readable descriptor (a file: a pipe would need a writer thread past 64 KB).
    private static func openInput(_ data: Data, in folder: String) -> Int32? {
        let path = folder + "/input"
        guard (try? data.write(to: URL(fileURLWithPath: path))) != nil else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// A pod played by `/bin/sh`: the listing at once, then, once ccpod's request ended
    /// (`END`), the answer.
    struct PlayedPod: PodConnection {
        let folder: String
        var displayName: String { "fuzz" }
        var paths: PodPaths { PodPaths() }
        var rootPrefix: String { "" }

        func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
            (["/bin/sh", "-c", "cat \"$1/listing\"; while IFS= read -r l; do [ \"$l\" = END ] && break; done; cat \"$1/answer\"",
              "fuzz-pod", folder], nil)
        }

        func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
    }
}
