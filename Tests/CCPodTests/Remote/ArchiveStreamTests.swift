@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// GNU tar on the pod reads the archive of new files straight from the request when
/// its record divides the archive (`take_archive`): it must stop exactly where the
/// archive ends, or the digests after it are lost. Other tars get it through dd.
@Suite("The archive read straight from the request")
struct ArchiveStreamTests {
    static var gnuTar: Bool {
        ChildProcess.exists("tar") && ((try? ChildProcess.run("tar", ["--version"]))?.stdoutText.hasPrefix("tar (GNU tar) ") ?? false)
    }

    @Test func aLargeArchiveIsPaddedToTheBigRecordASmallOneToTheRecord() {
        let small = TarArchive.length(of: [.init(name: "projects/a/s.jsonl", size: 1_000_000)])
        #expect(small % Int64(TarArchive.record) == 0)
        #expect(small < 1_000_000 + 3 * 512 + Int64(TarArchive.record))
        for size: Int64 in [TarArchive.bigFrom, TarArchive.bigFrom + 1, 3 * TarArchive.bigFrom + 77] {
            let big = TarArchive.length(of: [.init(name: "projects/a/b.jsonl", size: size)])
            #expect(big % Int64(TarArchive.bigRecord) == 0, "\(size)")
            #expect(big < size + 3 * 512 + Int64(TarArchive.bigRecord), "\(size)")
        }
    }

    /// An archive of either record, then more bytes, dribbled into tar through a pipe
    /// a few thousand bytes at a time: tar unpacks it and the bytes after it are intact.
    @Test(.enabled(if: gnuTar, "GNU tar is not installed"), arguments: [1_000_000, 17 << 20])
    func gnuTarStopsAtTheRecordThatEndsTheArchive(_ size: Int) throws {
        let dir = try AgentArchiveTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let member = TarArchive.Member(name: "a/b.bin", size: Int64(size))
        let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
        let length = TarArchive.length(of: [member])
        var archive = TarArchive.header(for: member) + data
        archive.append(Data(count: Int(length) - archive.count))
        let trailer = Data("H\t65\nafter the archive\n".utf8)
        let blocks = length % Int64(TarArchive.bigRecord) == 0 ? 400 : 20
        let script = "perl -e 'binmode STDIN; binmode STDOUT; $| = 1; while (read(STDIN, $b, 3000)) { print $b }' | "
            + "{ tar -x -m -o -b \(blocks) -f - -C '\(dir)' || exit 9; cat; }"
        let out = try ChildProcess.run("/bin/sh", ["-c", script], input: archive + trailer)
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stdout == trailer)
        #expect(FileManager.default.contents(atPath: dir + "/a/b.bin") == data)
    }

    /// New files of more than `bigFrom` bytes pushed through a pod whose tar is GNU tar
    /// (no dd started) and through one whose tar says it is another (dd bounds it):
    /// both arrive byte for byte, and a second push sends nothing.
    @Test(.enabled(if: gnuTar, "GNU tar is not installed"), arguments: [true, false])
    func aLargeFirstPushArrivesWithEitherTar(_ gnu: Bool) throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path,
                                              hiding: gnu ? [] : ["tar"])
        if !gnu {
            let script = "#!/bin/sh\ncase \"$1\" in --version) echo 'bsdtar 3.7.2 - libarchive 3.7.2'; exit 0 ;; esac\nexec tar \"$@\"\n"
            let real = try #require(["/usr/bin/tar", "/bin/tar"].first { FileManager.default.isExecutableFile(atPath: $0) })
            _ = FileManager.default.createFile(atPath: counting.bin + "/tar", contents: Data(script.replacingOccurrences(of: "exec tar", with: "exec \(real)").utf8),
                                               attributes: [.posixPermissions: 0o755])
        }
        bed.connection = counting
        let ids = (0..<3).map { "0c0c0c0\($0)-1111-4222-8333-444444444444" }
        for (i, id) in ids.enumerated() {
            try SyncTestBed.write(SyncTestBed.lines(session: id, count: 2000 + i, text: String(repeating: "t\(i)", count: 3000)), to: bed.localTranscript(id))
        }
        let total = ids.reduce(0) { $0 + SyncTestBed.read(bed.localTranscript($1)).count }
        #expect(Int64(total) > TarArchive.bigFrom)
        _ = try counting.processes()
        let push = try bed.run(.push)
        #expect(push.count(.copiedToPod) == ids.count, "\(push.items)")
        let started = try counting.processes()
        #expect(started.contains("dd") == !gnu, "\(started)")
        for id in ids { #expect(SyncTestBed.read(bed.podTranscript(id)) == SyncTestBed.read(bed.localTranscript(id)), "\(id)") }
        let left = FileManager.default.enumerator(atPath: bed.podClaude)?.allObjects as? [String] ?? []
        #expect(!left.contains { $0.contains(".ccpod-") }, "\(left)")
        #expect(try bed.run(.push).count(.copiedToPod) == 0)
    }

    /// GNU tar giving up part way through a large archive (a full disk, say), while
    /// ccpod still sends the rest: the push stops with the agent's sentence, and
    /// nothing is placed or left staged.
    @Test(.enabled(if: gnuTar, "GNU tar is not installed"))
    func aTarThatFailsPartWayStopsThePushWithNothingPlaced() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path, hiding: ["tar"])
        let real = try #require(["/usr/bin/tar", "/bin/tar"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let script = "#!/bin/sh\ncase \"$1\" in --version) exec \(real) --version ;; esac\nhead -c 300000 > /dev/null\necho 'tar: write error: No space left on device' >&2\nexit 2\n"
        _ = FileManager.default.createFile(atPath: counting.bin + "/tar", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
        bed.connection = counting
        let id = "0d0d0d0d-1111-4222-8333-444444444444"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 6000, text: String(repeating: "u", count: 6000)), to: bed.localTranscript(id))
        #expect(throws: (any Error).self) { try bed.run(.push) }
        do { try bed.run(.push) } catch {
            #expect("\(error)".contains("cannot unpack the new files"), "\(error)")
        }
        // ccpod returns once the pod's shell is gone; the agent's cleanup may end a moment later.
        var left: [String] = []
        for _ in 0..<100 {
            left = FileManager.default.enumerator(atPath: bed.podClaude)?.allObjects as? [String] ?? []
            #expect(!left.contains { $0.hasSuffix(".jsonl") }, "\(left)")
            if !left.contains(where: { $0.contains(".ccpod-") }) { break }
            usleep(100_000)
        }
        #expect(!left.contains { $0.contains(".ccpod-") }, "\(left)")
    }

    /// A compressed request is checked whole by the pod's decompressor (its checksum),
    /// so the pod does not hash the new files or the appends again (ccpod hashed them as
    /// it sent them); a plain one is hashed there.
    @Test(arguments: [true, false])
    func payloadsAreHashedOnThePodOnlyWhenTheRequestIsPlain(_ compress: Bool) throws {
        if compress && !ChildProcess.exists("zstd") { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path)
        bed.connection = counting
        let ids = (0..<4).map { "0e0e0e0\($0)-1111-4222-8333-444444444444" }
        for id in ids { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 30), to: bed.localTranscript(id)) }
        _ = try counting.processes()
        let engine = SyncEngine(claudeDir: bed.localClaude, connection: counting, stateDir: bed.state, compress: compress)
        let push = try engine.run(scope: bed.scope, options: SyncOptions(direction: .push, dryRun: false, delete: false, busySeconds: 0))
        #expect(push.count(.copiedToPod) == ids.count, "\(push.items)")
        let started = try counting.processes()
        #expect(started.contains("zstd") == compress, "\(started)")
        #expect(started.contains { $0 == "openssl" || $0 == "sha256sum" } == !compress, "\(started)")
        for id in ids { #expect(SyncTestBed.read(bed.podTranscript(id)) == SyncTestBed.read(bed.localTranscript(id)), "\(id)") }

        for id in ids { try SyncTestBed.append(SyncTestBed.lines(session: id, count: 20, start: 30), to: bed.localTranscript(id)) }
        let again = try engine.run(scope: bed.scope, options: SyncOptions(direction: .push, dryRun: false, delete: false, busySeconds: 0))
        #expect(again.count(.pushed) == ids.count, "\(again.items)")
        let appending = try counting.processes()
        #expect(appending.contains { $0 == "openssl" || $0 == "sha256sum" } == !compress, "\(appending)")
        for id in ids { #expect(SyncTestBed.read(bed.podTranscript(id)) == SyncTestBed.read(bed.localTranscript(id)), "\(id)") }
    }

    /// A compressed request whose bytes changed on the way where the decompressor
    /// cannot tell until its checksum at the end (a byte of a stored, incompressible
    /// stretch). gzip passes on every byte, END too, before it checks: the agent waits
    /// for the decompressor's word after END, does not get it, and places nothing.
    /// zstd holds its last bytes back until it checked them: the request ends early.
    @Test(arguments: ["gzip", "zstd"])
    func aCompressedRequestDamagedOnTheWayIsRefusedWithNothingPlaced(_ tool: String) throws {
        if !ChildProcess.exists(tool) { return }
        let bed = try SyncTestBed()
        defer { bed.remove() }
        var random = SystemRandomNumberGenerator()
        let noise = Data((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &random) })
        let files = ["projects/x/a.jsonl", "projects/x/b.bin"].enumerated().map { i, path in
            AgentFileRequest(path: path, seen: nil, ancestor: nil, operation: .put,
                             payload: .init(data: i == 0 ? SyncTestBed.lines(session: "s", count: 400) : noise))
        }
        let request = AgentRequest(mode: .push, rootPrefix: bed.podRoot, paths: PodPaths(), scope: ["projects/x"], sessionIds: [],
                                   files: files, busySeconds: 0, accept: [])
        let plain = try AgentArchiveTests.requestBytes(request, in: bed)
        let packed = try ChildProcess.run(tool, tool == "zstd" ? ["-q", "-3", "-c"] : ["-1", "-c"], input: plain)
        try #require(packed.status == 0)
        func agent(_ input: Data) throws -> ChildProcess.Output {
            try ChildProcess.run("/bin/sh", ["-c", AgentScript.source, "ccpod-agent", String(AgentScript.protocolVersion), tool], input: input)
        }
        // Untouched, the same bytes are accepted.
        let intact = try agent(packed.stdout)
        #expect(intact.status == 0, "\(intact.stdoutText) \(intact.stderrText)")
        #expect(SyncTestBed.read(bed.podClaude + "/projects/x/b.bin") == noise)
        try FileManager.default.removeItem(atPath: bed.podClaude + "/projects")

        var damaged = packed.stdout
        let at = try #require(damaged.range(of: noise[100_000..<100_064]), "the noise is stored as it is")
        damaged[at.lowerBound + 10] ^= 0x01
        let out = try agent(damaged)
        #expect(out.status != 0)
        #expect(out.stdoutText.contains(tool == "gzip" ? "reached the pod damaged (its gzip checksum does not match)" : "END\tfailed"),
                "\(out.stdoutText)")
        let left = FileManager.default.enumerator(atPath: bed.podClaude)?.allObjects as? [String] ?? []
        #expect(!left.contains { $0.hasSuffix(".jsonl") || $0.hasSuffix(".bin") || $0.contains(".ccpod-") }, "\(left)")
    }
}
