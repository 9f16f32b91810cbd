@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// Which files the pod compresses: those whose sample shrinks travel after a `Y` record,
/// compressed; the others (random checkpoints) before it, as they are.
@Suite(.enabled(if: ChildProcess.exists("zstd"), "zstd is not installed"))
struct ArtifactCompressionTests {
    static let mebibyte = 1 << 20

    /// Training-log text (compresses several times over).
    static func logText(_ count: Int) -> Data {
        var text = ""
        var step = 0
        while text.utf8.count < count {
            step += 1
            text += "step \(step) loss \(Double(step % 9973) / 1000) lr 3e-5 grad_norm \(step % 997)\n"
        }
        return Data(text.utf8.prefix(count))
    }

    /// The answer of phase 2, as the script sends it, for `records` (without `END`).
    static func answer(_ bed: ArtifactTestBed, _ records: String, response: Compression) throws -> Data {
        let command = ArtifactsScript.remoteCommand(rootPrefix: bed.podRoot, runDir: bed.podDirectory, tops: ["."])
        let request = "CCPOD-ART-REQ \(ArtifactsScript.protocolVersion) none \(response.rawValue)\n\(records)END\n"
        let out = try bed.connection.runCommand(command, input: Data(request.utf8), outputLimit: 256 << 20)
        #expect(out.status == 0, "\(out.stderrText)")
        // Phase 1: a header line, `LIST <compression> <bytes>`, that many bytes.
        var rest = out.stdout[...]
        for _ in 0..<2 {
            guard let newline = rest.firstIndex(of: 0x0A) else { throw CCPodError.badData("no listing") }
            if rest.starts(with: Data("LIST ".utf8)), let count = Int(String(decoding: rest[..<newline], as: UTF8.self).split(separator: " ")[2]) {
                rest = rest[(newline + 1 + count)...]
            } else {
                rest = rest[(newline + 1)...]
            }
        }
        return Data(rest)
    }

    static func dataRecord(_ path: String, _ bytes: Data) -> Data {
        Data("D\t0\t\(bytes.count)\t\(path)\n".utf8) + bytes + Data("Z\t\(SHA256Hex.of(bytes))\t\(path)\n".utf8)
    }

    @Test func aRandomCheckpointTravelsAsItIsAndALogCompressedAfterIt() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let checkpoint = ArtifactTestBed.random(2 * Self.mebibyte)
        let log = Self.logText(2 * Self.mebibyte)
        try ArtifactTestBed.write(checkpoint, to: bed.pod("checkpoints/model.safetensors"))
        try ArtifactTestBed.write(log, to: bed.pod("logs/train.log"))
        try ArtifactTestBed.write("{\"loss\":1}\n", to: bed.pod("results/eval.json"))
        // The log is asked for first: the checkpoint still comes first, before `Y`.
        let records = "S\t11\tresults/eval.json\nG\t0\t\(log.count)\t-\tlogs/train.log\nG\t0\t\(checkpoint.count)\t-\tcheckpoints/model.safetensors\n"
        let answer = try Self.answer(bed, records, response: .zstd)
        let raw = Self.dataRecord("checkpoints/model.safetensors", checkpoint) + Data("Y\n".utf8)
        #expect(answer.starts(with: raw), "the answer does not start with the checkpoint as it is, then Y")
        let compressed = answer.dropFirst(raw.count)
        #expect(compressed.count < log.count / 3, "\(compressed.count) bytes after Y for a \(log.count)-byte log")
        let rest = try ChildProcess.run("zstd", ["-q", "-d", "-c"], input: Data(compressed))
        #expect(rest.status == 0)
        let json = Data("{\"loss\":1}\n".utf8)
        let batch = Data("B\t1\nE\t\(json.count)\t\(SHA256Hex.of(json))\tresults/eval.json\n".utf8) + json
        #expect(rest.stdout == batch + Self.dataRecord("logs/train.log", log) + Data("END\tok\n".utf8))
    }

    /// The compressible files are compressed only when that makes them arrive sooner: the
    /// pod times how fast the link took the plain files before them and how fast it
    /// compresses 8 MiB of the first large one. A stand-in `date` tells it the times:
    /// 32 MiB in 8 s (4 MB/s, a pod across the internet) against 8 MiB compressed in
    /// 40 ms: compressed after `Y`. 32 MiB in 200 ms (168 MB/s, a LAN or loopback)
    /// against 8 MiB in 100 ms: no `Y`, the log as it is.
    @Test(arguments: [(linkNanoseconds: 8_000_000_000, compressNanoseconds: 40_000_000, compressed: true),
                      (linkNanoseconds: 200_000_000, compressNanoseconds: 100_000_000, compressed: false)])
    func theLogIsCompressedOnlyWhenTheLinkIsSlowerThanTheCompressor(linkNanoseconds: Int, compressNanoseconds: Int, compressed: Bool) throws {
        var bed = try ArtifactTestBed()
        defer { bed.remove() }
        let bin = bed.root.appendingPathComponent("bin").path
        let start = 1_764_000_000_000_000_000
        let times = [start, start + linkNanoseconds, start + linkNanoseconds + 1, start + linkNanoseconds + 1 + compressNanoseconds]
        try ArtifactTestBed.write(times.map { "\($0)\n" }.joined(), to: bin + "/times")
        try ArtifactTestBed.write("""
            #!/bin/sh
            [ "$1" = '+%s%N' ] || exec /bin/date "$@"
            n=$(cat '\(bin)/calls' 2>/dev/null || echo 0)
            echo $((n + 1)) > '\(bin)/calls'
            sed -n "$((n + 1))p" '\(bin)/times'

            """, to: bin + "/date")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/date")
        bed.connection = PathConnection(root: bed.podRoot, bin: bin)
        let checkpoint = ArtifactTestBed.random(32 * Self.mebibyte)
        let log = Self.logText(8 * Self.mebibyte)
        try ArtifactTestBed.write(checkpoint, to: bed.pod("checkpoints/model.safetensors"))
        try ArtifactTestBed.write(log, to: bed.pod("logs/train.log"))
        let records = "G\t0\t\(log.count)\t-\tlogs/train.log\nG\t0\t\(checkpoint.count)\t-\tcheckpoints/model.safetensors\n"
        let answer = try Self.answer(bed, records, response: .zstd)
        // (Bools, not Data comparisons: a failing comparison of megabytes would be diffed for ever.)
        let calls = String(decoding: ArtifactTestBed.read(bin + "/calls") ?? Data(), as: UTF8.self)
        #expect(calls == "4\n", "the script timed something else than the plain phase and the probe")
        let plain = Self.dataRecord("checkpoints/model.safetensors", checkpoint)
        #expect(Bool(answer.prefix(plain.count) == plain), "the answer does not start with the checkpoint as it is")
        let rest = Data(answer.dropFirst(plain.count))
        let logRecord = Self.dataRecord("logs/train.log", log) + Data("END\tok\n".utf8)
        let head = String(decoding: rest.prefix(40), as: UTF8.self)
        if compressed {
            #expect(head.hasPrefix("Y\n"), "no Y after the plain file: \(head.debugDescription)")
            let decoded = try ChildProcess.run("zstd", ["-q", "-d", "-c"], input: Data(rest.dropFirst(2)))
            #expect(Bool(decoded.stdout == logRecord), "the log decoded to \(decoded.stdout.count) bytes")
        } else {
            #expect(Bool(rest == logRecord), "the log as it is: \(rest.count) bytes, starting \(head.debugDescription)")
        }
        // Either way ccpod reads it: the pull lands both files whole.
        let report = try bed.pull()
        #expect(report.failures == 0 && report.paths(.new).count == 2, "\(report.actions)")
        #expect(ArtifactTestBed.contents(bed.localDirectory) == ArtifactTestBed.contents(bed.podRun))
    }

    /// One sample decides for the files of one folder with one extension (a hundred
    /// plots cost one sample): a text file named like a random one before it travels
    /// as it is too, while the same text under another extension is sampled itself.
    @Test func filesOfOneFolderAndExtensionShareOneSample() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let image = ArtifactTestBed.random(Self.mebibyte)
        let text = Self.logText(Self.mebibyte)
        try ArtifactTestBed.write(image, to: bed.pod("artifacts/plot-1.png"))
        try ArtifactTestBed.write(text, to: bed.pod("artifacts/plot-2.png"))
        try ArtifactTestBed.write(text, to: bed.pod("artifacts/plot-2.txt"))
        let records = ["plot-1.png", "plot-2.png", "plot-2.txt"].map { "G\t0\t\(Self.mebibyte)\t-\tartifacts/\($0)\n" }.joined()
        let answer = try Self.answer(bed, records, response: .zstd)
        let raw = Self.dataRecord("artifacts/plot-1.png", image) + Self.dataRecord("artifacts/plot-2.png", text) + Data("Y\n".utf8)
        #expect(answer.starts(with: raw))
        let rest = try ChildProcess.run("zstd", ["-q", "-d", "-c"], input: Data(answer.dropFirst(raw.count)))
        #expect(rest.stdout == Self.dataRecord("artifacts/plot-2.txt", text) + Data("END\tok\n".utf8))
    }

    @Test func withoutAResponseCompressionEverythingTravelsInTheOrderAsked() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let checkpoint = ArtifactTestBed.random(Self.mebibyte + 3)
        let log = Self.logText(Self.mebibyte + 5)
        try ArtifactTestBed.write(checkpoint, to: bed.pod("checkpoints/model.safetensors"))
        try ArtifactTestBed.write(log, to: bed.pod("logs/train.log"))
        let records = "G\t0\t\(log.count)\t-\tlogs/train.log\nG\t0\t\(checkpoint.count)\t-\tcheckpoints/model.safetensors\n"
        let answer = try Self.answer(bed, records, response: .none)
        #expect(answer == Self.dataRecord("logs/train.log", log) + Self.dataRecord("checkpoints/model.safetensors", checkpoint)
            + Data("END\tok\n".utf8))
    }

    /// A range of a log that grows while it is sent: the hash is of the bytes sent, not of the file.
    @Test func aRangeIsHashedAsSentEvenWhenTheFileIsLongerNow() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let log = Self.logText(3 * Self.mebibyte)
        try ArtifactTestBed.write(log, to: bed.pod("logs/train.log"))
        let listed = 2 * Self.mebibyte + 7
        let answer = try Self.answer(bed, "G\t0\t\(listed)\t-\tlogs/train.log\n", response: .none)
        #expect(answer == Self.dataRecord("logs/train.log", log.prefix(listed)) + Data("END\tok\n".utf8))
    }

    /// A pod whose dd cannot count bytes (not GNU) reads ranges with head and tail instead.
    @Test func withoutGNUDdRangesAreReadWithHeadAndTail() throws {
        var bed = try ArtifactTestBed()
        defer { bed.remove() }
        let bin = bed.root.appendingPathComponent("bin").path
        try ArtifactTestBed.write("#!/bin/sh\ncase \"$*\" in *iflag=*) echo refused >> \"\(bin)/refusals\"; exit 1 ;; esac\nexec /bin/dd \"$@\"\n",
                                  to: bin + "/dd")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/dd")
        bed.connection = PathConnection(root: bed.podRoot, bin: bin)
        let checkpoint = ArtifactTestBed.random(2 * Self.mebibyte + 3)
        try ArtifactTestBed.write(checkpoint, to: bed.pod("checkpoints/model.safetensors"))
        try ArtifactTestBed.write(Self.logText(Self.mebibyte + 5), to: bed.pod("logs/train.log"))
        let answer = try Self.answer(bed, "G\t0\t\(checkpoint.count)\t-\tcheckpoints/model.safetensors\n", response: .none)
        #expect(answer == Self.dataRecord("checkpoints/model.safetensors", checkpoint) + Data("END\tok\n".utf8))
        try bed.pull()
        try ArtifactTestBed.append(Self.logText(Self.mebibyte), to: bed.pod("logs/train.log"))
        let grown = try bed.pull()
        #expect(grown.paths(.grown) == ["logs/train.log"])
        #expect(ArtifactTestBed.contents(bed.localDirectory) == ArtifactTestBed.contents(bed.podRun))
        // The script did ask this dd (and was refused), so every range above came from head and tail.
        #expect(ArtifactTestBed.read(bin + "/refusals") != nil)
    }

    /// Over ssh, end to end: every file arrives whole and verified; the log's bytes are
    /// compressed on the wire, the checkpoint's cannot be.
    @Test(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
    func aMixedPullRoundTripsWithOnlyTheTextCompressed() throws {
        let pod = try ArtifactSSHPod()
        let bed = try pod.bed()
        let checkpoint = ArtifactTestBed.random(8 * Self.mebibyte)
        let log = Self.logText(8 * Self.mebibyte)
        try ArtifactTestBed.write(checkpoint, to: bed.pod("checkpoints/step-1/model.safetensors"))
        try ArtifactTestBed.write(log, to: bed.pod("logs/train.log"))
        for i in 0..<20 { try ArtifactTestBed.write("{\"step\":\(i)}\n", to: bed.pod("results/eval-\(i).json")) }
        let (report, _, down) = try pod.measured { try bed.pull() }
        #expect(report.failures == 0 && report.paths(.new).count == 22, "\(report.actions)")
        #expect(ArtifactTestBed.contents(bed.localDirectory) == ArtifactTestBed.contents(bed.podRun))
        print("artifacts: a pull of an 8 MiB random checkpoint and an 8 MiB log moved \(down) bytes down")
        #expect(down > checkpoint.count)
        #expect(down < checkpoint.count + log.count / 3)
        // The log grows: only its end travels, and what is recorded as agreed is the
        // whole file's hash, before and after.
        try ArtifactTestBed.append(Self.logText(Self.mebibyte), to: bed.pod("logs/train.log"))
        let grown = try bed.pull()
        #expect(grown.paths(.grown) == ["logs/train.log"])
        #expect(ArtifactTestBed.contents(bed.localDirectory) == ArtifactTestBed.contents(bed.podRun))
        let state = ArtifactStateStore(podStateDir: bed.stateDir, podDirectory: bed.podDirectory,
                                       localDirectory: bed.localDirectory).load()
        #expect(state.files.count == 22)
        for (path, agreed) in state.files {
            #expect(agreed.sha256 == (try SHA256Hex.ofFile(bed.local(path))), "\(path)")
        }
    }
}

/// A `local:` pod whose shell finds the programs in `bin` first.
struct PathConnection: PodConnection {
    let root: String
    let bin: String
    var paths = PodPaths()
    var displayName: String { "path:\(root)" }
    var rootPrefix: String { root }

    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        return (["/bin/sh", "-c", remoteCommand], environment)
    }

    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}
