import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod artifacts pull` against `ssh pod cat` (the transport's own limit) and
/// `rsync -az`, on a generated run directory of mixed artifacts.
struct ArtifactRow {
    var rttMs: Int
    var scenario: String
    var tool: String
    var samples: [Sample]

    var median: Double {
        let s = samples.map(\.seconds).sorted()
        return s.isEmpty ? 0 : s[s.count / 2]
    }
    var medianDown: Int { samples.map(\.down).sorted()[samples.count / 2] }
    var medianUp: Int { samples.map(\.up).sorted()[samples.count / 2] }
    var peakRSS: Int? { samples.compactMap(\.maxRSSBytes).max() }
}

extension Bench {
    /// The run directory on the pod: checkpoints (random, incompressible, 80 %), a
    /// training log (text, 10 %), plots, evaluation logs and many small JSON results.
    func generateArtifacts(root: String, totalBytes: Int) throws -> (files: Int, bytes: Int) {
        var rng = SplitMix64(seed: 42)
        var files = 0, bytes = 0
        func write(_ rel: String, size: Int, text: Bool) throws {
            let path = root + "/" + rel
            try Trees.makeDirectory((path as NSString).deletingLastPathComponent)
            guard let out = FileHandle(forWritingAtPath: path) ?? {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                return FileHandle(forWritingAtPath: path)
            }() else { throw BenchError("cannot create \(path)") }
            defer { try? out.close() }
            var left = size
            var line = 0
            while left > 0 {
                let n = min(left, 1 << 20)
                var chunk = Data(count: n)
                if text {
                    var s = ""
                    while s.utf8.count < n {
                        line += 1
                        s += "step \(line) loss \(Double(rng.next() % 100000) / 10000) lr 3e-5 grad_norm \(rng.next() % 1000) tokens/s \(rng.next() % 90000)\n"
                    }
                    chunk = Data(s.utf8.prefix(n))
                } else {
                    chunk.withUnsafeMutableBytes { raw in
                        let words = raw.bindMemory(to: UInt64.self)
                        for i in 0..<words.count { words[i] = rng.next() }
                    }
                }
                out.write(chunk)
                left -= n
            }
            files += 1
            bytes += size
        }
        let checkpoints = totalBytes * 8 / 10
        for step in 1...4 { try write("checkpoints/step-\(step * 1000)/model.safetensors", size: checkpoints / 4, text: false) }
        try write("logs/train.log", size: totalBytes / 10, text: true)
        for i in 1...20 { try write("logs/eval-\(i).log", size: 64 << 10, text: true) }
        for i in 1...200 { try write("results/eval-\(i).json", size: 2 << 10, text: true) }
        let plots = max(0, totalBytes - bytes) / 100
        for i in 1...100 { try write("artifacts/plots/plot-\(i).png", size: plots, text: false) }
        return (files, bytes)
    }

    static let catWithCCPodCiphers = "ssh pod cat, ccpod's ciphers"

    func runArtifacts() throws {
        let total = settings.artifactMegabytes << 20
        let podName = "artifacts"
        try addPod(podName)
        let runDir = podRoot(podName) + "/workspace/runs/bench_20261125-000000"
        log("== artifacts: generating \(Report.bytes(total)) of mixed artifacts in \(runDir) ...")
        let generated = try generateArtifacts(root: runDir, totalBytes: total)
        artifactFiles = generated.files
        artifactBytes = generated.bytes
        let local = work + "/artifacts-local"
        let tool = ccpod(podName)
        let runs = settings.runs
        let folders = ArtifactSelection.defaultFolders
        for rtt in settings.rtts {
            play(LinkProfile(rttMs: rtt))
            log("   RTT \(rtt) ms")
            func ccpodPull() throws -> Outcome { try tool.artifactsPull(from: runDir, to: local) }
            // Cold pull: the laptop is emptied and ccpod forgets before every run.
            var samples: [Sample] = []
            for _ in 0..<runs {
                try Trees.remove(local)
                try tool.forgetState()
                samples.append(try measure(ccpodPull))
                try Trees.verifyIdentical(runDir, local, hashing: [], folders: folders)
            }
            try Trees.verifyIdentical(runDir, local, folders: folders)
            recordArtifacts(rtt, "cold pull", "ccpod artifacts pull", samples)
            samples = []
            for _ in 0..<runs {
                try Trees.remove(local)
                try tool.forgetState()
                samples.append(try measure { try tool.artifactsPull(from: runDir, to: local, extra: ["--compress", "none"]) })
                try Trees.verifyIdentical(runDir, local, hashing: [], folders: folders)
            }
            recordArtifacts(rtt, "cold pull", "ccpod artifacts pull --compress none", samples)
            samples = []
            for _ in 0..<runs { samples.append(try measure(ccpodPull)) }
            recordArtifacts(rtt, "no change", "ccpod artifacts pull", samples)
            samples = []
            for run in 0..<runs {
                let log = runDir + "/logs/train.log"
                let handle = FileHandle(forWritingAtPath: log)!
                handle.seekToEndOfFile()
                var growth = ""
                var rng = SplitMix64(seed: UInt64(run + 1000))
                while growth.utf8.count < 1 << 20 {
                    growth += "step \(rng.next() % 1_000_000) loss \(Double(rng.next() % 100000) / 10000) grad_norm \(rng.next() % 1000) tokens/s \(rng.next() % 90000)\n"
                }
                handle.write(Data(growth.utf8))
                try handle.close()
                samples.append(try measure(ccpodPull))
                try Trees.verifyIdentical(runDir, local, hashing: ["logs/train.log"], folders: folders)
            }
            recordArtifacts(rtt, "training log grown by 1 MB", "ccpod artifacts pull", samples)

            // The transport's own limit: every byte through one `ssh pod cat …` into one file,
            // with ssh's default cipher and with the ones ccpod asks for.
            let files = Trees.listing(runDir, folders: folders).keys.sorted()
            for (access, tool) in [(ssh, "ssh pod cat (all bytes, one stream)"), (ssh.withCCPodCiphers, Self.catWithCCPodCiphers)] {
                samples = []
                for _ in 0..<runs {
                    samples.append(try measure {
                        let script = "cd \(Processes.quote(runDir)) && cat " + files.map(Processes.quote).joined(separator: " ")
                        let r = try Processes.run("ssh", access.options + [access.destination, script], stdoutPath: work + "/cat-all.bin")
                        guard r.status == 0 else { throw BenchError("ssh cat exited \(r.status)") }
                        return Outcome(seconds: r.seconds, execs: 1)
                    })
                    try Trees.remove(work + "/cat-all.bin")
                }
                recordArtifacts(rtt, "cold pull", tool, samples)
            }
            let rsyncLocal = work + "/artifacts-rsync"
            func rsyncPull() throws -> Outcome {
                let r = try Processes.run("rsync", ["-az", "-e", ssh.commandLine, "\(ssh.destination):\(runDir)/", rsyncLocal + "/"],
                                          stderrPath: work + "/rsync-err.txt")
                guard r.status == 0 else { throw BenchError("rsync exited \(r.status)") }
                return Outcome(seconds: r.seconds, execs: 1)
            }
            samples = []
            for _ in 0..<runs {
                try Trees.remove(rsyncLocal)
                samples.append(try measure(rsyncPull))
            }
            try Trees.verifyIdentical(runDir, rsyncLocal, folders: folders)
            recordArtifacts(rtt, "cold pull", "rsync -az", samples)
            samples = []
            for _ in 0..<runs { samples.append(try measure(rsyncPull)) }
            recordArtifacts(rtt, "no change", "rsync -az", samples)
            try Trees.remove(rsyncLocal)
        }
        try Trees.remove(local)
        try Trees.remove(runDir)
    }

    func recordArtifacts(_ rtt: Int, _ scenario: String, _ tool: String, _ samples: [Sample]) {
        artifactRows.append(ArtifactRow(rttMs: rtt, scenario: scenario, tool: tool, samples: samples))
        let r = artifactRows.last!
        log(String(format: "  %-28@ %-36@ median %.3f s  up %@ down %@  execs %@", scenario as NSString, tool as NSString, r.median,
                   Report.bytes(r.medianUp) as NSString, Report.bytes(r.medianDown) as NSString,
                   samples.map { String($0.execs) }.joined(separator: "/") as NSString))
    }

    func artifactRow(_ rtt: Int, _ scenario: String, _ tool: String) -> ArtifactRow? {
        artifactRows.first { $0.rttMs == rtt && $0.scenario == scenario && $0.tool == tool }
    }

    func evaluateArtifactChecks() {
        for rtt in settings.rtts {
            if let row = artifactRow(rtt, "no change", "ccpod artifacts pull") {
                checks.append(Check(what: "artifacts: one exec when nothing changed, \(rtt) ms", passed: row.samples.allSatisfy { $0.execs == 1 },
                                    figure: row.samples.map { String($0.execs) }.joined(separator: "/")))
            }
            if let row = artifactRow(rtt, "training log grown by 1 MB", "ccpod artifacts pull") {
                let down = row.medianDown
                checks.append(Check(what: "artifacts: a 1 MB log growth moves about 1 MB or less, \(rtt) ms", passed: down < 2 << 20,
                                    figure: Report.bytes(down) + " down"))
            }
        }
    }

    static func renderArtifacts(_ bench: Bench) -> String {
        guard !bench.artifactRows.isEmpty else { return "" }
        var md = "\n## Artifacts: `ccpod artifacts pull`\n\n"
        md += "A generated run directory: \(bench.artifactFiles) files, \(Report.bytes(bench.artifactBytes)) "
        md += "(four checkpoints of random bytes, 80 %; a training log, 10 %; 100 plots, 20 evaluation logs, 200 small JSON results). "
        md += "Tools: `ccpod artifacts pull --from RUN --to DIR --json` (release build, warm ControlMaster; cold pull forgets its state and empties the folder first); "
        md += "`ssh pod 'cat f1 f2 …' > one-file` (every byte through one plain ssh stream: the transport's own limit), with ssh's default cipher "
        md += "(chacha20-poly1305) and with the ciphers ccpod's connections ask for (`Ciphers=\(SSHConnection.preferredCiphers)`); `rsync -az`. "
        md += "“training log grown by 1 MB”: 1 MB appended to `logs/train.log` on the pod before each run. Every run starts after a `sync` (nothing left to write back from the generation or an earlier tool); ccpod flushes what it writes within its own time, `ssh cat` and rsync do not. \(bench.settings.runs) runs per cell, median.\n\n"
        for rtt in bench.settings.rtts {
            md += "### Round trip \(rtt) ms\n\n| scenario | tool | median s | MB/s | up | down | ssh execs | peak RSS |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
            for row in bench.artifactRows where row.rttMs == rtt {
                let rate = row.scenario == "cold pull" && row.median > 0 ? String(format: "%.0f", Double(bench.artifactBytes) / row.median / 1_048_576) : ""
                md += "| \(row.scenario) | \(row.tool) | \(Report.seconds(row.median)) | \(rate) | \(Report.bytes(row.medianUp)) | \(Report.bytes(row.medianDown)) | "
                md += "\(row.samples.map { String($0.execs) }.joined(separator: "/")) | \(row.peakRSS.map(Report.bytes) ?? "") |\n"
            }
            if let c = bench.artifactRow(rtt, "cold pull", "ccpod artifacts pull"),
               let cat = bench.artifactRow(rtt, "cold pull", "ssh pod cat (all bytes, one stream)"),
               let rsync = bench.artifactRow(rtt, "cold pull", "rsync -az") {
                md += "\nThroughput of a cold pull: \(String(format: "%.2fx", cat.median / c.median)) of `ssh cat` (target ≥ 0.9x), "
                md += "\(String(format: "%.2fx", rsync.median / c.median)) of rsync -az (target ≥ 1x)."
                if let same = bench.artifactRow(rtt, "cold pull", Self.catWithCCPodCiphers) {
                    md += " Against `ssh cat` with ccpod's ciphers (AES-GCM first, as ccpod's own connections): \(String(format: "%.2fx", same.median / c.median))."
                }
            }
            if let c = bench.artifactRow(rtt, "no change", "ccpod artifacts pull"), let r = bench.artifactRow(rtt, "no change", "rsync -az") {
                md += " Nothing changed: \(String(format: "%.2fx", c.median / r.median)) of rsync's time (target ≤ 0.5x)."
            }
            md += "\n\n"
        }
        return md
    }
}

extension CCPodTool {
    /// `ccpod artifacts pull --from RUN --to DIR --json`; execs as ccpod counted them.
    func artifactsPull(from podDirectory: String, to local: String, extra: [String] = []) throws -> Outcome {
        let out = directory + "/ccpod-art.json", err = directory + "/ccpod-art-err.txt"
        let arguments = ["artifacts", "pull", "--pod", podName, "--from", podDirectory, "--to", local, "--json"] + extra
        let finished = try Processes.runMeasured(binary, arguments, environment: environment, directory: directory, stdoutPath: out, stderrPath: err)
        let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        guard finished.status == 0 else { throw BenchError("ccpod \(arguments.joined(separator: " ")) exited \(finished.status): \(stderr)") }
        let report = try JSONDecoder().decode(ArtifactReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        return Outcome(seconds: finished.seconds, execs: report.execs ?? -1, maxRSSBytes: finished.maxRSSBytes)
    }
}
