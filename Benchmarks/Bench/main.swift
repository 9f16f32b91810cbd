import CCPodKit
import CCPodTestSupport
import Foundation

// ccpod against rsync, tar|zstd|ssh and one ssh per file, through a real sshd behind a
// delaying, byte-counting relay. Run it with `Benchmarks/run` (which builds in release mode).
let usage = """
usage: ccpod-bench --ccpod PATH [--quick] [--check] [--sessions N] [--mb M] [--runs R]
                   [--per-file-runs R] [--rtt MS[,MS…]] [--limited UP/DOWN/RTT | --no-limited] [--corpus pool,varied]
                   [--big-mb M] [--output FILE | --no-output] [--keep]
                   [--artifacts-mb M | --no-artifacts | --only-artifacts] [--tools ccpod,rsync,rsync-aes,tar,perfile] [--no-big]
                   [--scenarios cold-push,no-change,grow10,grow1,cold-pull,fork,floor]
"""

if CommandLine.arguments.count > 1, CommandLine.arguments[1] == Processes.measureChildFlag {
    Processes.measureChild(Array(CommandLine.arguments.dropFirst(2)))
}

var settings = Settings()
var ccpodBinary: String?
var explicit: Set<String> = []
var arguments = Array(CommandLine.arguments.dropFirst())
@MainActor func value(_ flag: String) -> String {
    guard !arguments.isEmpty else {
        FileHandle.standardError.write(Data("\(flag) needs a value\n\(usage)\n".utf8))
        exit(64)
    }
    return arguments.removeFirst()
}
@MainActor func number(_ flag: String) -> Int {
    let text = value(flag)
    guard let n = Int(text), n > 0 else {
        FileHandle.standardError.write(Data("\(flag) \(text): give a positive number\n".utf8))
        exit(64)
    }
    return n
}
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    explicit.insert(flag)
    switch flag {
    case "--ccpod": ccpodBinary = value(flag)
    case "--quick": settings.quick = true
    case "--check": settings.check = true
    case "--sessions": settings.sessions = number(flag)
    case "--mb": settings.megabytes = number(flag)
    case "--runs": settings.runs = number(flag)
    case "--per-file-runs": settings.perFileRuns = number(flag)
    case "--big-mb": settings.bigMegabytes = number(flag)
    case "--rtt": settings.rtts = value(flag).split(separator: ",").compactMap { Int($0) }
    case "--limited":
        let text = value(flag)
        guard let link = LinkProfile.parse(text) else {
            FileHandle.standardError.write(Data("--limited \(text): give UP/DOWN/RTT in Mbit/s and ms, e.g. 20/100/80\n".utf8))
            exit(64)
        }
        settings.limited = link
    case "--no-limited": settings.limited = nil
    case "--corpus":
        let names = value(flag).split(separator: ",").map(String.init)
        let kinds = names.compactMap(CorpusKind.init(rawValue:))
        guard !kinds.isEmpty, kinds.count == names.count else {
            FileHandle.standardError.write(Data("--corpus: give pool, varied or both (pool,varied)\n".utf8))
            exit(64)
        }
        settings.corpora = kinds
    case "--output": settings.output = value(flag)
    case "--no-output": settings.output = nil
    case "--keep": settings.keep = true
    case "--artifacts-mb": settings.artifactMegabytes = number(flag)
    case "--no-artifacts": settings.artifactMegabytes = 0
    case "--only-artifacts": settings.onlyArtifacts = true
    case "--tools": settings.tools = Set(value(flag).split(separator: ",").map(String.init))
    case "--no-big": settings.bigMegabytes = 0
    case "--scenarios":
        let names = value(flag).split(separator: ",").map(String.init)
        let picked = Set(Scenario.allCases.filter { names.contains($0.slug) })
        guard !picked.isEmpty, picked.count == Set(names).count else {
            FileHandle.standardError.write(Data("--scenarios: give some of \(Scenario.allCases.map(\.slug).joined(separator: ","))\n".utf8))
            exit(64)
        }
        // The fork needs the corpus on both sides: a cold pull puts it there when no push does.
        settings.scenarios = picked.contains(.fork) && picked.isDisjoint(with: Scenario.pushes) ? picked.union([.coldPull]) : picked
    case "-h", "--help": print(usage); exit(0)
    default:
        FileHandle.standardError.write(Data("unknown argument \(flag)\n\(usage)\n".utf8))
        exit(64)
    }
}
if settings.quick {
    // Small enough for CI once ccpod is built; the per-file script only at 0 ms.
    if !explicit.contains("--sessions") { settings.sessions = 40 }
    if !explicit.contains("--mb") { settings.megabytes = 12 }
    if !explicit.contains("--runs") { settings.runs = 3 }
    if !explicit.contains("--big-mb") && !explicit.contains("--no-big") { settings.bigMegabytes = 100 }
    if !explicit.contains("--artifacts-mb") { settings.artifactMegabytes = 64 }
    // The pool corpus on loopback only, unless asked: the checks do not depend on the link.
    if !explicit.contains("--limited") { settings.limited = nil }
    if !explicit.contains("--corpus") { settings.corpora = [.pool] }
    // A quick run never overwrites the published full table.
    if !explicit.contains("--output") { settings.output = nil }
}
settings.perFileRuns = min(settings.perFileRuns, settings.runs)
guard let ccpodBinary, FileManager.default.isExecutableFile(atPath: ccpodBinary) else {
    FileHandle.standardError.write(Data("--ccpod must name the built ccpod binary\n\(usage)\n".utf8))
    exit(64)
}
guard LoopbackSSHD.isAvailable, ChildProcess.exists("rsync"), ChildProcess.exists("zstd") else {
    FileHandle.standardError.write(Data("needs sshd (openssh-server), rsync and zstd\n".utf8))
    exit(69)
}

let command = (["Benchmarks/run"] + CommandLine.arguments.dropFirst().filter { $0 != "--ccpod" && $0 != ccpodBinary }).joined(separator: " ")
let started = Date()
// A short folder name: ccpod's ControlMaster socket lives under it (unix sockets take ~100 bytes).
let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.count < 40 ? $0 : nil } ?? "/tmp"
let work = URL(fileURLWithPath: tmp).appendingPathComponent("ccb-\(UUID().uuidString.prefix(6).lowercased())").path
try Trees.makeDirectory(work)
var failed = false
var bench: Bench?
do {
    let b = try Bench(settings: settings, work: work, ccpodBinary: ccpodBinary)
    bench = b
    if !settings.onlyArtifacts {
        try b.runAll()
        if settings.bigMegabytes > 0 { try b.runMemoryCheck() }
        b.evaluateChecks()
    }
    if settings.artifactMegabytes > 0 {
        try b.runArtifacts()
        b.evaluateArtifactChecks()
    }
    let markdown = settings.onlyArtifacts
        ? "# ccpod artifacts benchmark\n\nGenerated by `\(command)` on \(ISO8601DateFormatter().string(from: started)).\n\n" + Report.machineTable() + Bench.renderArtifacts(b)
        : Report.render(b, command: command, started: started, elapsed: Date().timeIntervalSince(started))
    print(markdown)
    if let output = settings.output {
        try markdown.write(toFile: output, atomically: true, encoding: .utf8)
        b.log("wrote \(output)")
    }
    if settings.check {
        let bad = b.checks.filter { !$0.passed }
        for c in bad { b.log("CHECK FAILED: \(c.what): \(c.figure)") }
        failed = !bad.isEmpty
        if !failed { b.log("all \(b.checks.count) checks passed") }
    }
} catch {
    FileHandle.standardError.write(Data("benchmark failed: \(error)\n".utf8))
    failed = true
}
bench?.shutdown()
if settings.keep {
    FileHandle.standardError.write(Data("kept \(work)\n".utf8))
} else {
    try? FileManager.default.removeItem(atPath: work)
}
exit(failed ? 1 : 0)
