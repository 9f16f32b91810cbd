import CCPodKit
import CCPodTestSupport
import Crypto
import Foundation
import Testing

/// `ccpod artifacts` against a real OpenSSH server on loopback, through a relay that
/// counts the bytes on the wire and can cut the connection.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct ArtifactsOverSSHTests {
    @Test func aLogGrownByOneMegabyteMovesAboutOneMegabyte() throws {
        let pod = try ArtifactSSHPod()
        let bed = try pod.bed()
        let log = bed.pod("logs/train.log")
        try ArtifactTestBed.write(ArtifactTestBed.random(8 << 20), to: log)
        try bed.pull(compression: Compression.none)
        try ArtifactTestBed.append(ArtifactTestBed.random(1 << 20), to: log)
        let (report, up, down) = try pod.measured { try bed.pull(compression: Compression.none) }
        print("artifacts: a log grown by 1 MiB moved \(down) bytes down, \(up) up (file data \(report.bytes))")
        #expect(report.action("logs/train.log")?.kind == .grown)
        #expect(report.bytes == 1 << 20)
        #expect(down >= 1 << 20)
        #expect(down < (1 << 20) + (64 << 10), "\(down) bytes on the wire for 1 MiB")
        #expect(up < 32 << 10)
        #expect(ArtifactTestBed.read(bed.local("logs/train.log")) == ArtifactTestBed.read(log))
    }

    @Test func pushThenPullRoundTripsATreeByteForByte() throws {
        let pod = try ArtifactSSHPod()
        let bed = try pod.bed()
        var tree: [String: Data] = [
            "configs/base.yaml": Data("lr: 0.001\n".utf8),
            "data/empty.bin": Data(),
            "data/a b/c d/deep file.txt": Data("spaces\n".utf8),
            "data/it's \"quoted\".txt": Data("quotes\n".utf8),
            "data/ünïcödé/日本語.txt": Data("non-ascii\n".utf8),
            "data/$HOME `x` \\ *.txt": Data("shell\n".utf8),
            "data/-n": Data("dash\n".utf8),
            "data/.hidden": Data("hidden\n".utf8),
            "data/shards/shard-0.bin": ArtifactTestBed.random(3 << 20),
        ]
        for i in 0..<40 { tree["data/shards/small-\(i).bin"] = ArtifactTestBed.random(i * 97) }
        for (rel, data) in tree { try ArtifactTestBed.write(data, to: bed.local(rel)) }
        try FileManager.default.createDirectory(atPath: bed.local("data/empty folder"), withIntermediateDirectories: true)
        let push = try bed.push()
        #expect(push.paths(.new) == tree.keys.sorted())
        #expect(push.failures == 0 && push.conflicts == 0)
        #expect(ArtifactTestBed.contents(bed.podRun) == tree)
        let home = bed.elsewhere("laptop2/runs/stage1")
        let pull = try home.pull(ArtifactSelection(everythingByDefault: true))
        #expect(pull.paths(.new) == tree.keys.sorted())
        #expect(ArtifactTestBed.contents(home.localDirectory) == tree)
        // And both directions now agree: nothing moves either way.
        #expect(try home.push().actions.isEmpty)
        #expect(try bed.pull(ArtifactSelection(everythingByDefault: true)).actions.isEmpty)
    }

    @Test func nothingChangedIsOneExecAndMovesNothing() throws {
        let pod = try ArtifactSSHPod()
        let bed = try pod.bed()
        for i in 0..<30 {
            try ArtifactTestBed.write(ArtifactTestBed.random(1000 + i), to: bed.pod("checkpoints/step-\(i)/model.pt"))
            try ArtifactTestBed.write("{\"step\":\(i)}\n", to: bed.pod("results/eval-\(i).json"))
        }
        try bed.pull()
        pod.pod.recorder.reset()
        let (report, up, down) = try pod.measured { try bed.pull() }
        #expect(pod.pod.recorder.count == 1)
        #expect(report.actions.isEmpty)
        #expect(report.unchanged == 60)
        #expect(report.bytes == 0)
        print("artifacts: a pull with nothing changed moved \(down) bytes down, \(up) up")
        #expect(down < 16 << 10)
        pod.pod.recorder.reset()
        let push = try bed.push(ArtifactSelection(patterns: ["checkpoints", "results"]))
        #expect(pod.pod.recorder.count == 1)
        #expect(push.actions.isEmpty && push.unchanged == 60)
    }

    @Test func aLinkOnThePodToEtcIsNotFollowed() throws {
        let pod = try ArtifactSSHPod()
        let bed = try pod.bed()
        try ArtifactTestBed.write("ok\n", to: bed.pod("artifacts/plot.svg"))
        try FileManager.default.createSymbolicLink(atPath: bed.pod("artifacts/etc"), withDestinationPath: "/etc")
        try FileManager.default.createSymbolicLink(atPath: bed.pod("artifacts/shadow"), withDestinationPath: "/etc/shadow")
        let report = try bed.pull(ArtifactSelection(patterns: ["artifacts/**"]))
        #expect(report.paths(.link) == ["artifacts/etc", "artifacts/shadow"])
        #expect(report.paths(.new) == ["artifacts/plot.svg"])
        #expect(ArtifactTestBed.files(bed.localDirectory) == ["artifacts/plot.svg"])
    }

    /// A push cut at about 40 %: the pod keeps what arrived, and the rerun sends only the rest.
    @Test func anInterruptedPushResumesFromThePodsPart() throws {
        let pod = try ArtifactSSHPod()
        let bed = try pod.bed()
        let size = 48 << 20
        try ArtifactTestBed.write(ArtifactTestBed.random(size), to: bed.local("data/train.bin"))
        try ArtifactTestBed.write("small\n", to: bed.local("data/config.yaml"))
        pod.connection.closeMaster()
        pod.relay.cut = .afterUpstreamBytes(size * 4 / 10)
        #expect(throws: (any Error).self) { try bed.push(compression: Compression.none) }
        pod.relay.cut = nil
        pod.connection.closeMaster()
        // Let the pod side see the end of its input and finish what it does then.
        Thread.sleep(forTimeInterval: 1)
        let part = bed.pod("data/.train.bin.ccpod-part")
        let kept = Int((try? FileManager.default.attributesOfItem(atPath: part)[.size] as? Int) ?? 0)
        #expect(kept > size / 4, "the pod kept \(kept) bytes of the interrupted push")
        #expect(!FileManager.default.fileExists(atPath: bed.pod("data/train.bin")))
        let (report, up, _) = try pod.measured { try bed.push(compression: Compression.none) }
        print("artifacts: a push cut at 40% of \(size) bytes kept \(kept); the rerun sent \(up) bytes up")
        #expect(report.action("data/train.bin")?.kind == .resumed)
        #expect(report.action("data/train.bin")?.bytes == Int64(size - kept))
        #expect(abs(up - (size - kept)) < size / 50, "\(up) bytes up for the \(size - kept) missing")
        #expect(try SHA256Hex.ofFile(bed.pod("data/train.bin")) == SHA256Hex.ofFile(bed.local("data/train.bin")))
        #expect(!FileManager.default.fileExists(atPath: part))
        #expect(ArtifactTestBed.read(bed.pod("data/config.yaml")) == Data("small\n".utf8))
    }

    /// A pull cut at about 40 % (a smaller cousin of the 3 GB checkpoint test, run every time).
    @Test func anInterruptedPullResumesFromTheLocalPart() throws {
        let pod = try ArtifactSSHPod()
        let bed = try pod.bed()
        try CheckpointCut.run(pod, bed, size: 48 << 20)
    }
}

/// The pull of one big checkpoint, cut at about 40 % by the relay, then rerun.
enum CheckpointCut {
    struct Result { var kept: Int64; var rerunDown: Int }

    @discardableResult
    static func run(_ pod: ArtifactSSHPod, _ bed: ArtifactTestBed, size: Int64) throws -> Result {
        let rel = "checkpoints/step-3000/model.safetensors"
        let source = bed.pod(rel)
        let sourceSha = try writeCheckpoint(source, size: size)
        defer { try? FileManager.default.removeItem(atPath: source) }
        let part = bed.local("checkpoints/step-3000/.model.safetensors.ccpod-part")
        defer {
            try? FileManager.default.removeItem(atPath: bed.local(rel))
            try? FileManager.default.removeItem(atPath: part)
        }
        pod.connection.closeMaster()
        pod.relay.cut = .afterDownstreamBytes(Int(size * 4 / 10))
        #expect(throws: (any Error).self) { try bed.pull(compression: Compression.none) }
        pod.relay.cut = nil
        pod.connection.closeMaster()
        let kept = Int64((try? FileManager.default.attributesOfItem(atPath: part)[.size] as? Int) ?? 0)
        #expect(kept > size * 3 / 10 && kept <= size * 4 / 10, "the part holds \(kept) of \(size) bytes")
        #expect(!FileManager.default.fileExists(atPath: bed.local(rel)))
        let (report, _, down) = try pod.measured { try bed.pull(compression: Compression.none) }
        print("artifacts: a pull of \(size) bytes cut at 40% kept \(kept); the rerun moved \(down) bytes down (\(String(format: "%.1f", Double(down) * 100 / Double(size)))% of the file)")
        #expect(report.action(rel)?.kind == .resumed)
        #expect(report.bytes == size - kept)
        // What ssh and the pipes held when the cut came (a few MiB) is sent again: a large
        // share of a small file, nothing of a large one.
        if size >= 1 << 30 {
            #expect(abs(Double(down) / Double(size) - 0.6) < 0.03, "the rerun moved \(down) of \(size) bytes")
        }
        #expect(abs(Int64(down) - (size - kept)) < max(size / 100, 1 << 20), "the rerun moved \(down), \(size - kept) were missing")
        #expect(try SHA256Hex.ofFile(bed.local(rel)) == sourceSha)
        #expect(!FileManager.default.fileExists(atPath: part))
        #expect(ArtifactTestBed.files(bed.localDirectory) == [rel])
        return Result(kept: kept, rerunDown: down)
    }

    /// Writes `size` bytes fast: a 1 MiB random block, each copy stamped with its index
    /// (so no two MiB are equal and a misplaced range shows), hashed as it goes.
    static func writeCheckpoint(_ path: String, size: Int64) throws -> String {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var block = ArtifactTestBed.random(1 << 20)
        var hasher = SHA256()
        var written: Int64 = 0
        var index: UInt64 = 0
        while written < size {
            withUnsafeBytes(of: index.littleEndian) { block.replaceSubrange(0..<8, with: $0) }
            let chunk = Int(min(Int64(block.count), size - written))
            let piece = chunk == block.count ? block : block.prefix(chunk)
            try handle.write(contentsOf: piece)
            hasher.update(data: piece)
            written += Int64(chunk)
            index += 1
        }
        return SHA256Hex.hex(hasher.finalize())
    }
}
