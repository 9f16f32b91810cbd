@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// A `local:` pod whose shell finds every tool of this machine but those left out
/// (`tar`, unless told otherwise) or replaced by a script of the test's.
struct ShimmedPathConnection: PodConnection {
    let root: String
    let bin: String
    var paths = PodPaths()
    var displayName: String { "shimmed:\(root)" }
    var rootPrefix: String { root }

    /// Links every program of /usr/bin and /bin but `omitted` and those in `scripts`
    /// into `bin`; writes each script (a `sh` script's body) under its tool's name.
    init(root: String, bin: String, omitted: Set<String> = ["tar"], scripts: [String: String] = [:]) throws {
        self.root = root
        self.bin = bin
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for (name, body) in scripts {
            let path = bin + "/" + name
            try Data(("#!/bin/sh\n" + body).utf8).write(to: URL(fileURLWithPath: path))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
        for dir in ["/usr/bin", "/bin"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            where !omitted.contains(name) && scripts[name] == nil {
                let link = bin + "/" + name
                if FileManager.default.fileExists(atPath: link) { continue }
                try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dir + "/" + name)
            }
        }
    }

    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = bin
        return (["/bin/sh", "-c", remoteCommand], env)
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

/// New files travel to the pod as one tar archive (`TarArchive`), unpacked by one
/// `tar -x` there, or read with head alone where the pod has no tar.
@Suite("New files as one archive")
struct AgentArchiveTests {
    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-tar-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Names of every length class: ustar name, ustar prefix + name, pax (too long, or
    /// a last component over 100 bytes), non-ASCII, spaces and quotes.
    static let names: [String] = [
        "projects/a/short.jsonl",
        "projects/" + String(repeating: "d", count: 120) + "/s.jsonl",
        "projects/" + String(repeating: "e", count: 150) + "/" + String(repeating: "f", count: 90) + ".jsonl",
        "projects/" + String(repeating: "g", count: 210) + "-x1y2z3/" + String(repeating: "h", count: 60) + ".jsonl",
        "projects/p/" + String(repeating: "n", count: 120) + ".md",
        "projects/ünï/it's a \"name\".md",
        "settings.json",
    ]
    static let sizes = [0, 1, 511, 512, 513, 10240, 70_000]

    @Test(.enabled(if: ChildProcess.exists("tar"), "tar is not installed"))
    func tarUnpacksTheArchiveByteForByte() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var members: [TarArchive.Member] = []
        var archive = Data()
        var contents: [String: Data] = [:]
        for (i, name) in Self.names.enumerated() {
            let size = Self.sizes[i % Self.sizes.count]
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
            let member = TarArchive.Member(name: name, size: Int64(size))
            members.append(member)
            archive.append(TarArchive.header(for: member))
            archive.append(data)
            archive.append(Data(count: TarArchive.padding(after: member.size)))
            contents[name] = data
        }
        let length = TarArchive.length(of: members)
        #expect(length % Int64(TarArchive.record) == 0)
        #expect(length >= Int64(archive.count + 2 * TarArchive.block))
        archive.append(Data(count: Int(length) - archive.count))
        let out = try ChildProcess.run("tar", ["-x", "-m", "-o", "-f", "-", "-C", dir], input: archive)
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stderrText.isEmpty, "\(out.stderrText)")
        for (name, data) in contents {
            #expect(FileManager.default.contents(atPath: dir + "/" + name) == data, "\(name)")
            let mode = (try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.posixPermissions] as? Int) ?? 0
            #expect(mode == 0o600, "\(name): \(String(mode, radix: 8))")
        }
        let listed = try ChildProcess.run("tar", ["-t", "-f", "-"], input: archive)
        #expect(listed.stdoutText.split(separator: "\n").map(String.init) == Self.names)
    }

    @Test func aPaxRecordCountsItsOwnLength() {
        for value in ["a", String(repeating: "x", count: 93), String(repeating: "y", count: 94), String(repeating: "z", count: 995)] {
            let record = TarArchive.paxRecord(key: "path", value: value)
            let text = String(decoding: record, as: UTF8.self)
            let declared = Int(text.prefix { $0 != " " })
            #expect(declared == record.count, "\(text.prefix(12))…")
        }
    }

    @Test func aFileOfEightGigabytesOrMoreGetsItsSizeInAPaxHeader() {
        let big = TarArchive.header(for: .init(name: "projects/a/big.jsonl", size: 9 << 30))
        #expect(big.count == 3 * TarArchive.block)
        #expect(String(decoding: big.prefix(TarArchive.block), as: UTF8.self).contains("PaxHeader"))
        #expect(String(decoding: big[TarArchive.block..<(2 * TarArchive.block)], as: UTF8.self).contains("size=\(9 << 30)\n"))
        let small = TarArchive.header(for: .init(name: "projects/a/small.jsonl", size: TarArchive.maxOctal11))
        #expect(small.count == TarArchive.block)
    }

    /// Pushes new files of every name class (and a folder that exists on the pod, one
    /// that does not) and checks what arrived, then that nothing stayed staged.
    func pushNewFiles(_ bed: SyncTestBed) throws {
        let id = "0a0a0a0a-1111-4222-8333-444444444444"
        let folder = "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 6), to: bed.localTranscript(id))
        let odd = [String(repeating: "m", count: 120) + ".md", "it's a \"note\".md", "ünï.md"]
        for name in odd { try SyncTestBed.write(Data("note \(name)\n".utf8), to: "\(folder)/memory/\(name)") }
        let deep = "\(folder)/\(id)/subagents/agent-" + String(repeating: "q", count: 110) + ".jsonl"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: deep)
        // The pod already has the project folder with a session of its own: merged, not replaced.
        let podOwn = "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)/ffffffff-1111-4222-8333-444444444444.jsonl"
        try SyncTestBed.write(SyncTestBed.lines(session: "ffffffff-1111-4222-8333-444444444444", count: 2), to: podOwn)

        let push = try bed.run(.push)
        #expect(push.count(.copiedToPod) == 2 + odd.count, "\(push.items)")
        let podFolder = "\(bed.podClaude)/projects/\(SyncTestBed.podSlug)"
        #expect(SyncTestBed.read(bed.podTranscript(id)) == SyncTestBed.read(bed.localTranscript(id)))
        for name in odd { #expect(SyncTestBed.read("\(podFolder)/memory/\(name)") == Data("note \(name)\n".utf8), "\(name)") }
        #expect(SyncTestBed.read(deep.replacingOccurrences(of: folder, with: podFolder)) == SyncTestBed.read(deep))
        #expect(SyncTestBed.read(podOwn) == SyncTestBed.lines(session: "ffffffff-1111-4222-8333-444444444444", count: 2))
        // Nothing left in a stage folder; what arrived is private: folders 0700, files 0600.
        let all = FileManager.default.enumerator(atPath: bed.podClaude)?.allObjects as? [String] ?? []
        #expect(!all.contains { $0.contains(".ccpod-") }, "\(all)")
        let arrived = ["\(id).jsonl", "memory", "\(id)", "\(id)/subagents", String(deep.dropFirst(folder.count + 1))]
            + odd.map { "memory/\($0)" }
        for rel in arrived {
            let attributes = try FileManager.default.attributesOfItem(atPath: podFolder + "/" + rel)
            let isDir = attributes[.type] as? FileAttributeType == .typeDirectory
            #expect(attributes[.posixPermissions] as? Int == (isDir ? 0o700 : 0o600), "\(rel)")
        }
        // A second push: nothing new travels.
        let again = try bed.run(.push)
        #expect(again.count(.copiedToPod) == 0, "\(again.items)")
    }

    @Test(.enabled(if: ChildProcess.exists("tar"), "tar is not installed"))
    func newFilesArriveThroughTar() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try pushNewFiles(bed)
    }

    @Test func newFilesArriveOnAPodWithoutTar() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        bed.connection = try ShimmedPathConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path)
        try pushNewFiles(bed)
    }

    /// The layout `ccpod setup` makes: the pod's projects folder is a link to the
    /// persistent volume. New files land there, staged and renamed on that side.
    @Test(arguments: [false, true])
    func newFilesLandWhereTheProjectsLinkPoints(_ withoutTar: Bool) throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        if withoutTar { bed.connection = try ShimmedPathConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path) }
        let persistent = bed.podRoot + "/workspace/claude-sessions/projects"
        try FileManager.default.createDirectory(atPath: persistent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bed.podClaude + "/projects", withDestinationPath: persistent)
        let ids = (0..<3).map { "0b0b0b0\($0)-1111-4222-8333-444444444444" }
        for id in ids { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: bed.localTranscript(id)) }
        let push = try bed.run(.push)
        #expect(push.count(.copiedToPod) == ids.count, "\(push.items)")
        let link = try FileManager.default.attributesOfItem(atPath: bed.podClaude + "/projects")
        #expect(link[.type] as? FileAttributeType == .typeSymbolicLink)
        for id in ids {
            #expect(SyncTestBed.read("\(persistent)/\(SyncTestBed.podSlug)/\(id).jsonl") == SyncTestBed.read(bed.localTranscript(id)))
        }
        let left = FileManager.default.enumerator(atPath: persistent)?.allObjects as? [String] ?? []
        #expect(!left.contains { $0.contains(".ccpod-") }, "\(left)")
    }

    /// The bytes ccpod would send for `request` (written through a file, as to a pipe).
    static func requestBytes(_ request: AgentRequest, in bed: SyncTestBed) throws -> Data {
        let requestFile = bed.root.appendingPathComponent("request").path
        let fd = open(requestFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try RequestWriter.write(request, to: fd)
        close(fd)
        return try Data(contentsOf: URL(fileURLWithPath: requestFile))
    }

    /// A new file whose bytes changed on the way (one flipped byte inside the archive)
    /// is refused by the pod: the agent stops, nothing is placed, nothing stays staged.
    @Test(arguments: [false, true])
    func aDamagedNewFileInTheArchiveIsRefusedWithNothingPlaced(_ withoutTar: Bool) throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let content = Data(String(repeating: "{\"type\":\"user\",\"n\":1}\n", count: 40).utf8)
        let files = ["projects/x/a.jsonl", "projects/x/b.jsonl"].map {
            AgentFileRequest(path: $0, seen: nil, ancestor: nil, operation: .put, payload: .init(data: content + Data($0.utf8) + Data("\n".utf8)))
        }
        let request = AgentRequest(mode: .push, rootPrefix: bed.podRoot, paths: PodPaths(), scope: ["projects/x"], sessionIds: [],
                                   files: files, busySeconds: 0, accept: [])
        var bytes = try Self.requestBytes(request, in: bed)
        // The second file's bytes: flip one in the middle.
        let at = try #require(bytes.range(of: content + Data("projects/x/b.jsonl".utf8)))
        bytes[at.lowerBound + 100] ^= 0x20
        var env = ProcessInfo.processInfo.environment
        if withoutTar {
            let connection = try ShimmedPathConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path)
            env["PATH"] = connection.bin
        }
        let out = try ChildProcess.run("/bin/sh", ["-c", AgentScript.source, "ccpod-agent", String(AgentScript.protocolVersion), "none"],
                                       input: bytes, environment: env)
        #expect(out.status != 0)
        #expect(out.stdoutText.contains("payload for projects/x/b.jsonl is damaged"), "\(out.stdoutText)")
        let left = FileManager.default.enumerator(atPath: bed.podClaude)?.allObjects as? [String] ?? []
        #expect(!left.contains { $0.hasSuffix(".jsonl") || $0.contains(".ccpod-") }, "\(left)")
    }

    /// A request cut right after its archive (the digests never came): the agent stops
    /// while the new files' hashers run (a stand-in openssl that takes its time); it
    /// waits for them, so none outlives it, places nothing, and leaves neither a staged
    /// file nor its work folder behind.
    @Test(.enabled(if: ChildProcess.exists("openssl"), "openssl is not installed"))
    func aRequestCutAfterItsArchiveLeavesNothingBehind() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let content = Data(String(repeating: "{\"type\":\"user\",\"n\":1}\n", count: 4000).utf8)
        let files = (0..<40).map {
            AgentFileRequest(path: "projects/x/\($0).jsonl", seen: nil, ancestor: nil, operation: .put, payload: .init(data: content))
        }
        let request = AgentRequest(mode: .push, rootPrefix: bed.podRoot, paths: PodPaths(), scope: ["projects/x"], sessionIds: [],
                                   files: files, busySeconds: 0, accept: [])
        let bytes = try Self.requestBytes(request, in: bed)
        let digests = try #require(bytes.range(of: Data([0]) + Data("H\t".utf8), options: .backwards))
        let tmp = bed.root.appendingPathComponent("tmp")
        let bin = bed.root.appendingPathComponent("slow-bin")
        let finished = bed.root.appendingPathComponent("hashers-finished")
        for dir in [tmp, bin] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        let openssl = try ChildProcess.resolve("openssl", environment: ProcessInfo.processInfo.environment)
        try "#!/bin/sh\nsleep 1\n'\(openssl)' \"$@\"\ns=$?\necho x >> '\(finished.path)'\nexit $s\n"
            .write(to: bin.appendingPathComponent("openssl"), atomically: true, encoding: .utf8)
        chmod(bin.appendingPathComponent("openssl").path, 0o755)
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = tmp.path
        env["PATH"] = bin.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        let out = try Self.runAgent(input: bytes.prefix(digests.lowerBound + 1), environment: env)
        #expect(FileManager.default.fileExists(atPath: finished.path), "the agent ended before its hashers")
        #expect(out.status != 0)
        #expect(out.stdoutText.contains("the request ended early"), "\(out.stdoutText)")
        let left = FileManager.default.enumerator(atPath: bed.podClaude)?.allObjects as? [String] ?? []
        #expect(!left.contains { $0.hasSuffix(".jsonl") || $0.contains(".ccpod-") }, "\(left)")
        SyncTestBed.waitForPodAgent(podRoot: bed.podRoot)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
    }

    /// The digests that follow the archive (one a new file, 64 hex digits each) are
    /// checked before they are used: one too few, or one that is not hex, and the agent
    /// stops with nothing placed and nothing staged.
    @Test(arguments: ["one too few", "not hex"])
    func digestsThatDoNotFitTheArchiveAreRefused(_ damage: String) throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let content = Data(String(repeating: "{\"type\":\"user\",\"n\":1}\n", count: 40).utf8)
        let files = ["projects/x/a.jsonl", "projects/x/b.jsonl"].map {
            AgentFileRequest(path: $0, seen: nil, ancestor: nil, operation: .put, payload: .init(data: content))
        }
        let request = AgentRequest(mode: .push, rootPrefix: bed.podRoot, paths: PodPaths(), scope: ["projects/x"], sessionIds: [],
                                   files: files, busySeconds: 0, accept: [])
        let bytes = try Self.requestBytes(request, in: bed)
        let record = try #require(bytes.range(of: Data([0]) + Data("H\t".utf8), options: .backwards))
        let lineEnd = try #require(bytes[record.upperBound...].firstIndex(of: 0x0A))
        let length = try #require(Int(String(decoding: bytes[record.upperBound..<lineEnd], as: UTF8.self)))
        let digests = bytes[(lineEnd + 1)..<(lineEnd + 1 + length)]
        #expect(digests.count == 2 * 65)
        var changed = Data(digests)
        if damage == "not hex" { changed[10] = UInt8(ascii: "g") } else { changed = changed.prefix(65) }
        let damaged = bytes.prefix(record.lowerBound + 1) + Data("H\t\(changed.count)\n".utf8) + changed
            + bytes.suffix(from: lineEnd + 1 + length)
        let out = try Self.runAgent(input: damaged, environment: ProcessInfo.processInfo.environment)
        #expect(out.status != 0)
        #expect(out.stdoutText.contains("the digests of the new files do not match the archive"), "\(out.stdoutText)")
        let left = FileManager.default.enumerator(atPath: bed.podClaude)?.allObjects as? [String] ?? []
        #expect(!left.contains { $0.hasSuffix(".jsonl") || $0.contains(".ccpod-") }, "\(left)")
        // Untouched, the same request places both files.
        let good = try Self.runAgent(input: bytes, environment: ProcessInfo.processInfo.environment)
        #expect(good.status == 0, "\(good.stdoutText)")
        #expect(SyncTestBed.read(bed.podClaude + "/projects/x/b.jsonl") == content)
    }

    /// The agent run as its bootstrap runs it (`sh -c SCRIPT ccpod-agent VERSION none`),
    /// fed `input`; stderr to /dev/null: only its answer stream is waited for.
    static func runAgent(input: Data, environment: [String: String]) throws -> ChildProcess.Output {
        try ChildProcess.run("/bin/sh", ["-c", "exec 2>/dev/null; exec /bin/sh -c \"$1\" ccpod-agent \"$2\" none",
                                         "wrapper", AgentScript.source, String(AgentScript.protocolVersion)],
                             input: input, environment: environment)
    }

    /// The agent makes its work folder while it waits for the request's first line (the
    /// bytes come a round trip after it starts). A request that never comes (ccpod
    /// cancelled: nothing was sent) or that is not ccpod's leaves no folder behind.
    @Test(arguments: ["", "GET / HTTP/1.0\n"])
    func anAgentWithoutARequestLeavesNoWorkFolder(input: String) throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let tmp = bed.root.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = tmp.path
        let out = try Self.runAgent(input: Data(input.utf8), environment: env)
        #expect(out.status != 0)
        #expect(out.stdoutText.contains(input.isEmpty ? "empty request" : "unexpected request header"), "\(out.stdoutText)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
    }

    /// A new transcript planned without a hash (hashed as it is sent) that no longer ends
    /// with a newline where the plan said its complete lines end was rewritten meanwhile:
    /// the request stops before its archive is complete, so the pod places nothing.
    @Test func aTranscriptRewrittenWhileItIsSentStopsTheRequest() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let local = bed.root.appendingPathComponent("a.jsonl").path
        try SyncTestBed.write(Data("{\"n\":1}\n{\"n\":2}\n".utf8), to: local)
        // Planned: 16 bytes of complete lines. Rewritten since: the 16th byte is no newline.
        try SyncTestBed.write(Data("{\"n\":1}\n{\"n\":22}\n".utf8), to: local)
        let file = AgentFileRequest(path: "projects/x/a.jsonl", seen: nil, ancestor: nil, operation: .put,
                                    payload: .init(file: local, offset: 0, length: 16, sha256: ""))
        let request = AgentRequest(mode: .push, rootPrefix: bed.podRoot, paths: PodPaths(), scope: ["projects/x"], sessionIds: [],
                                   files: [file], busySeconds: 0, accept: [])
        let fd = open(bed.root.appendingPathComponent("request").path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        let error = try #require(throws: CCPodError.self) { try RequestWriter.write(request, to: fd) }
        #expect(error.message.contains("changed while it was sent"))
        // Unchanged, the same request goes through and reports what was sent.
        try SyncTestBed.write(Data("{\"n\":1}\n{\"n\":2}\n".utf8), to: local)
        let sent = try RequestWriter.write(request, to: fd)
        #expect(sent["projects/x/a.jsonl"] == .init(sha256: SHA256Hex.of(Data("{\"n\":1}\n{\"n\":2}\n".utf8)), lines: 2))
    }
    /// An append planned with its digest whose bytes changed before they were sent (the
    /// file rewritten under ccpod): the writer hashes them again as they go and stops
    /// before END, since a compressed request's appends are not hashed on the pod.
    @Test func anAppendWhoseBytesChangedBeforeTheyWereSentStopsTheRequest() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let local = bed.root.appendingPathComponent("a.jsonl").path
        let planned = Data("{\"n\":1}\n{\"n\":2}\n".utf8)
        try SyncTestBed.write(planned, to: local)
        let file = AgentFileRequest(path: "projects/x/a.jsonl", seen: PodStat(size: 8, mtime: "1"), ancestor: .init(size: 8, sha256: SHA256Hex.of(planned.prefix(8))),
                                    operation: .append, payload: .init(file: local, offset: 8, length: 8, sha256: SHA256Hex.of(planned.suffix(8))))
        let request = AgentRequest(mode: .push, rootPrefix: bed.podRoot, paths: PodPaths(), scope: ["projects/x"], sessionIds: [],
                                   files: [file], busySeconds: 0, accept: [])
        try SyncTestBed.write(Data("{\"n\":1}\n{\"n\":3}\n".utf8), to: local)
        let path = bed.root.appendingPathComponent("request").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let error = try #require(throws: CCPodError.self) { try RequestWriter.write(request, to: fd) }
        close(fd)
        #expect(error.message.contains("projects/x/a.jsonl changed while it was sent"), "\(error.message)")
        #expect(!String(decoding: SyncTestBed.read(path), as: UTF8.self).contains("END"))
        // As planned, the same request goes through whole.
        try SyncTestBed.write(planned, to: local)
        #expect(String(decoding: try Self.requestBytes(request, in: bed), as: UTF8.self).hasSuffix("{\"n\":2}\nEND\n"))
    }

    /// A plain request is not checked by a decompressor: the pod hashes the appends itself
    /// and refuses one whose bytes are not those its record names, appending nothing.
    @Test func aPlainRequestsDamagedAppendIsRefusedOnThePod() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let base = Data("{\"n\":1}\n".utf8), more = Data("{\"n\":2}\n".utf8)
        let podFile = bed.podClaude + "/projects/x/a.jsonl"
        try FileManager.default.createDirectory(atPath: bed.podClaude + "/projects/x", withIntermediateDirectories: true)
        try SyncTestBed.write(base, to: podFile)
        let file = AgentFileRequest(path: "projects/x/a.jsonl", seen: nil, ancestor: .init(size: 8, sha256: SHA256Hex.of(base)),
                                    operation: .append, payload: .init(data: more))
        let request = AgentRequest(mode: .push, rootPrefix: bed.podRoot, paths: PodPaths(), scope: ["projects/x"], sessionIds: [],
                                   files: [file], busySeconds: 0, accept: [])
        var bytes = try Self.requestBytes(request, in: bed)
        let at = try #require(bytes.range(of: more, options: .backwards))
        bytes[at.lowerBound + 6] = UInt8(ascii: "3")
        let out = try ChildProcess.run("/bin/sh", ["-c", AgentScript.source, "ccpod-agent", String(AgentScript.protocolVersion), "none"],
                                       input: bytes)
        #expect(out.status != 0)
        #expect(out.stdoutText.contains("payload for projects/x/a.jsonl is damaged"), "\(out.stdoutText)")
        #expect(SyncTestBed.read(podFile) == base)
    }
}
