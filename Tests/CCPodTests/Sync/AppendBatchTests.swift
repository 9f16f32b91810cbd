import CCPodKit
import Foundation
import Testing

/// A `local:` pod whose every program (of /usr/bin and /bin) is a wrapper in `bin`
/// that writes its name to `log`, then runs the real one: the log counts the pod's
/// processes. `hiding` leaves programs out; `perl`, when given, is the wrapper's
/// body for perl (a shell script; REAL names the real perl).
struct CountingConnection: PodConnection {
    let root: String
    let bin: String
    let log: String
    var paths = PodPaths()
    var displayName: String { "counting:\(root)" }
    var rootPrefix: String { root }

    init(root: String, bin: String, hiding: Set<String> = [], perl: String? = nil) throws {
        self.root = root
        self.bin = bin
        log = bin + ".log"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: log, contents: Data())
        let plain = try NSRegularExpression(pattern: "^[A-Za-z0-9._+-]+$")
        for dir in ["/usr/bin", "/bin"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !hiding.contains(name) {
                let path = bin + "/" + name
                if FileManager.default.fileExists(atPath: path) { continue }
                let real = dir + "/" + name
                guard plain.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil else {
                    try? FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: real)
                    continue
                }
                var body = "exec '\(real)' \"$@\"\n"
                if name == "perl", let perl { body = "REAL='\(real)'\n" + perl }
                let script = "#!/bin/sh\nprintf '%s\\n' '\(name)' >> '\(log)'\n" + body
                _ = FileManager.default.createFile(atPath: path, contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
            }
        }
    }

    /// The processes started since the last call, once the last agent is done: its
    /// work folder is removed after it answered, holding the pod's lock (agent.sh,
    /// cleanup), and ccpod does not wait for that.
    func processes() throws -> [String] {
        SyncTestBed.waitForPodAgent(podRoot: root, paths: paths)
        let names = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        _ = FileManager.default.createFile(atPath: log, contents: Data())
        return names
    }

    /// The address sshd would say ccpod came from (SSH_CONNECTION's first field); nil: no ssh.
    var sshClient: String?

    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = bin
        env["SSH_CONNECTION"] = sshClient.map { "\($0) 50022 198.51.100.7 22" }
        return (["/bin/sh", "-c", remoteCommand], env)
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

/// Many sessions grown at once: their payloads are read, journaled, appended and
/// checked by a fixed number of pod processes (perl, where the pod has it), not by a
/// few per file; without perl, one head, cat and cmp each.
@Suite("Appends in one batch")
struct AppendBatchTests {
    static func session(_ i: Int) -> String { String(format: "22222222-3333-4444-8555-%012d", i) }

    /// `count` sessions pushed, each then grown on the laptop by lines of other
    /// lengths, one of them with bytes no text tool keeps (NUL, 0xff, CR).
    static func grow(_ bed: SyncTestBed, _ sessions: Range<Int>, round: Int) throws {
        for i in sessions {
            var more = SyncTestBed.lines(session: session(i), count: 1 + (i * 7 + round) % 13, start: 100 * round,
                                         text: String(repeating: "w", count: i * 31 % 200))
            if i % 3 == 0 { more += Data([0x7b, 0x00, 0xff, 0x0d, 0x22, 0x7d, 0x0a]) }
            try SyncTestBed.append(more, to: bed.localTranscript(session(i)))
        }
    }

    static func pushed(_ bed: SyncTestBed, count: Int) throws {
        for i in 0..<count {
            try SyncTestBed.write(SyncTestBed.lines(session: session(i), count: 5 + i), to: bed.localTranscript(session(i)))
        }
        try bed.run(.push)
    }

    static func assertSame(_ bed: SyncTestBed, count: Int) {
        for i in 0..<count {
            #expect(SyncTestBed.read(bed.podTranscript(session(i))) == SyncTestBed.read(bed.localTranscript(session(i))), "session \(i)")
        }
    }

    @Test(arguments: [true, false])
    func manyAppendsArriveByteForByte(_ withPerl: Bool) throws {
        if withPerl && !ChildProcess.exists("perl") { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        bed.connection = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path,
                                                hiding: withPerl ? [] : ["perl"])
        try Self.pushed(bed, count: 12)
        for round in 1...2 {
            try Self.grow(bed, 0..<12, round: round)
            let report = try bed.run(.push)
            #expect(report.count(.pushed) == 12, "\(report.items)")
            Self.assertSame(bed, count: 12)
        }
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })
    }

    /// The pod's processes for a push of 2 grown sessions and for one of 10: with perl
    /// the same, without it at most three more per file (head, cat, cmp).
    @Test(arguments: [true, false])
    func podProcessesDoNotGrowWithTheNumberOfAppends(_ withPerl: Bool) throws {
        if withPerl && !ChildProcess.exists("perl") { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path,
                                              hiding: withPerl ? [] : ["perl"])
        bed.connection = counting
        try Self.pushed(bed, count: 10)
        try Self.grow(bed, 0..<2, round: 1)
        _ = try counting.processes()
        #expect(try bed.run(.push).count(.pushed) == 2)
        let two = try counting.processes()
        try Self.grow(bed, 0..<10, round: 2)
        #expect(try bed.run(.push).count(.pushed) == 10)
        let ten = try counting.processes()
        Self.assertSame(bed, count: 10)
        let perFile = withPerl ? 0 : 3
        #expect(ten.count <= two.count + 8 * perFile + 1, "2 appends: \(two.count) processes \(two); 10: \(ten.count) \(ten)")
        #expect(ten.contains("perl") == withPerl)
    }

    /// perl fails in the append step: after it did everything (its answer counts; never
    /// appended twice), after it armed the journal and before it appended (each is
    /// reported failed, stays in the journal, and the next call finishes it), or at
    /// once (the appends are made without it); or a broken perl fails at once
    /// everywhere (head and cat take over).
    @Test(arguments: ["after", "armed", "before", "broken"])
    func aFailedPerlNeverAppendsTwiceAndLeavesTheRestToTheJournal(_ when: String) throws {
        guard ChildProcess.exists("perl") else { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        // The append step's perl is the one given the list of appends ($3: .../appends).
        let run: String
        switch when {
        case "after": run = "\"$REAL\" \"$@\"; exit 9"
        // Its script stopped right after it armed the journal.
        case "armed": run = "s=$(printf '%s' \"$2\" | sed 's/print \"armed\\\\n\" or exit 5;/&exit 9;/'); "
            + "case \"$s\" in *'or exit 5;exit 9;'*) ;; *) exit 7 ;; esac; shift 2; exec \"$REAL\" -e \"$s\" \"$@\""
        default: run = "exit 9"
        }
        let perl = when == "broken" ? "exit 2\n" : "case \"$3\" in */appends) \(run) ;; esac\nexec \"$REAL\" \"$@\"\n"
        bed.connection = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path, perl: perl)
        try Self.pushed(bed, count: 4)
        try Self.grow(bed, 0..<4, round: 1)
        let report = try bed.run(.push)
        if when != "armed" {
            #expect(report.count(.pushed) == 4, "\(report.items)")
            Self.assertSame(bed, count: 4)
        } else {
            #expect(report.count(.failed) == 4, "\(report.items)")
            #expect(report.count(.pushed) == 0)
        }
        // The next call (perl as it is) finishes what the journal holds; nothing doubles.
        bed.connection = LocalConnection(root: bed.podRoot)
        let again = try bed.run(.push)
        #expect(!again.items.contains { $0.action == .failed }, "\(again.items)")
        Self.assertSame(bed, count: 4)
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })
    }

    /// A journal that cannot be made (its folder is a file): with or without perl,
    /// nothing is appended, each append is reported failed with the reason, and once
    /// the journal can be made the next call carries them.
    @Test(arguments: [true, false])
    func appendsWaitWhenTheJournalCannotBeMade(_ withPerl: Bool) throws {
        if withPerl && !ChildProcess.exists("perl") { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        bed.connection = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path,
                                                hiding: withPerl ? [] : ["perl"])
        try Self.pushed(bed, count: 3)
        let before = (0..<3).map { SyncTestBed.read(bed.podTranscript(Self.session($0))) }
        try Self.grow(bed, 0..<3, round: 1)
        let journal = bed.podRoot + PodPaths().persistentDir + "/.ccpod/journal"
        try? FileManager.default.removeItem(atPath: journal)
        try SyncTestBed.write(Data("in the way\n".utf8), to: journal)
        let report = try bed.run(.push)
        #expect(report.count(.failed) == 3, "\(report.items)")
        #expect(report.warnings.contains { $0.contains("cannot journal the append") }, "\(report.warnings)")
        #expect((0..<3).map { SyncTestBed.read(bed.podTranscript(Self.session($0))) } == before)
        try FileManager.default.removeItem(atPath: journal)
        #expect(try bed.run(.push).count(.pushed) == 3)
        Self.assertSame(bed, count: 3)
    }
}
