@testable import CCPodKit
import Foundation
import Testing

/// A "pod" that answers with crafted bytes: first its listing, then, once ccpod has sent
/// its request (read up to `END`), the transfer answer.
struct ScriptedArtifactPod: PodConnection {
    let listing: [UInt8]
    let answer: [UInt8]
    let folder: String
    /// Says only phase 1 and hangs up (a broken header: ccpod must not wait for more).
    let hangUp: Bool
    var paths = PodPaths()
    var displayName: String { "scripted" }
    var rootPrefix: String { "/nonexistent" }

    /// `body` is the listing's records (uncompressed); `header` replaces the whole phase 1 when given;
    /// `tools` is what the pod says it can compress with.
    init(folder: String, body: String, answer: String, header: String? = nil, tools: String = "none") throws {
        try self.init(folder: folder, body: body, answer: Data(answer.utf8), header: header, tools: tools)
    }

    init(folder: String, body: String, answer: Data, header: String? = nil, tools: String = "none") throws {
        let records = Array(body.utf8)
        try self.init(folder: folder, phase1: header.map { Data($0.utf8) }
                        ?? Data("CCPOD-ART \(ArtifactsScript.protocolVersion) \(tools)\nLIST none \(records.count)\n".utf8) + records,
                      answer: answer, hangUp: header != nil)
    }

    /// `phase1` is everything the pod says before the request, as it is (a compressed listing).
    init(folder: String, phase1: Data, answer: Data, hangUp: Bool = false) throws {
        self.folder = folder
        self.hangUp = hangUp
        listing = Array(phase1)
        self.answer = Array(answer)
        try Data(listing).write(to: URL(fileURLWithPath: folder + "/listing"))
        try Data(self.answer).write(to: URL(fileURLWithPath: folder + "/answer"))
    }

    /// A listing of `records`, compressed with zstd as the script sends it.
    static func zstdListing(_ records: Data) throws -> Data {
        let packed = try ChildProcess.run("zstd", ["-q", "-c"], input: records).stdout
        return Data("CCPOD-ART \(ArtifactsScript.protocolVersion) zstd\nLIST zstd \(packed.count)\n".utf8) + packed
    }

    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        (["/bin/sh", "-c", "cat \"$1/listing\"; [ \"$2\" = yes ] && exit 0; while IFS= read -r l; do [ \"$l\" = END ] && break; done; cat \"$1/answer\"",
          "scripted", folder, hangUp ? "yes" : "no"], nil)
    }

    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

@Suite("Hostile artifact answers")
struct ArtifactHostileTests {
    static let hello = "hello"
    static let sha = SHA256Hex.of(Data(hello.utf8))
    static let good = "R\tok\nV\t1000000\nF\t5\t1.0\tresults/a.txt\n"

    /// (listing records, answer, what should happen)
    static let cases: [(String, String, String)] = [
        ("R\tok\nF\t5\t1.0\tresults/../../../../../escape.txt\n", "", "a path that climbs out"),
        ("R\tok\nF\t5\t1.0\t../escape.txt\n", "", "a path that starts above"),
        ("R\tok\nF\t5\t1.0\t/tmp/escape.txt\n", "", "an absolute path"),
        ("R\tok\nF\t5\t1.0\tresults//a.txt\n", "", "an empty component"),
        ("R\tok\nF\t5\t1.0\tresults/./a.txt\n", "", "a dot component"),
        ("R\tok\nF\t5\t1.0\tresults/a\u{1}.txt\n", "", "a control character"),
        ("R\tok\nL\toutside\t../etc\n", "", "a link above"),
        ("R\tok\nF\t-5\t1.0\tresults/a.txt\n", "", "a negative size"),
        ("R\tok\nQ\twhat\n", "", "an unknown record"),
        (good, "D\t0\t5\t../../../../escape.txt\n\(hello)Z\t\(sha)\t../../../../escape.txt\nEND\tok\n", "data for a path that climbs out"),
        (good, "D\t0\t5\t/tmp/escape.txt\n\(hello)Z\t\(sha)\t/tmp/escape.txt\nEND\tok\n", "data for an absolute path"),
        (good, "D\t0\t5\tresults/b.txt\n\(hello)Z\t\(sha)\tresults/b.txt\nEND\tok\n", "data nobody asked for"),
        (good, "D\t2\t3\tresults/a.txt\nllo", "data from an offset nobody asked for"),
        (good, "D\t0\t50\tresults/a.txt\n\(hello)", "data shorter than announced"),
        (good, "D\t0\t5\tresults/a.txt\n\(hello)Z\t\(sha)\tresults/other.txt\nEND\tok\n", "a hash for another file"),
        (good, "D\t0\t5\tresults/a.txt\n\(hello)\nEND\tok\n", "no hash after the data"),
        (good, "END\tfailed\n", "an answer that stopped"),
        (good, "", "no answer"),
        (good, "H\t\(sha)\t5\t1.0\tresults/a.txt\nEND\tok\n", "a hash nobody asked for"),
        (good, "Y\nD\t0\t5\tresults/a.txt\n\(hello)Z\t\(sha)\tresults/a.txt\nEND\tok\n", "compression nobody asked for"),
        (good, "Y\tzstd\nEND\tok\n", "a malformed compression record"),
        // Numbers: only non-negative decimals that fit an Int64.
        ("R\tok\nF\t99999999999999999999\t1.0\tresults/a.txt\n", "", "a size past Int64"),
        ("R\tok\nF\t+5\t1.0\tresults/a.txt\n", "", "a size with a sign"),
        ("R\tok\nF\t5\t1.0;rm\tresults/a.txt\n", "", "a time that is not one"),
        ("R\tok\nV\t-1\n", "", "negative free space"),
        ("R\tok\nF\t5\t1.0\tresults/\u{1B}]0;pwned\u{07}.txt\n", "", "an escape sequence in a path"),
        ("R\tok\nL\tsideways\tresults/x\n", "", "a link record that is neither inside nor outside"),
        // More than was asked, or what was not asked.
        (good, "D\t0\t6\tresults/a.txt\nhello!Z\t\(SHA256Hex.of(Data("hello!".utf8)))\tresults/a.txt\nEND\tok\n", "more bytes than asked"),
        (good, "D\t0\t9223372036854775807\tresults/a.txt\n\(hello)", "a length of Int64.max"),
        (good, "D\t0\t-5\tresults/a.txt\n", "a negative length"),
        (good, "D\t5\t5\tresults/a.txt\nhello", "an offset past the file"),
        (good, "B\t1\nE\t6\t\(SHA256Hex.of(Data("hello!".utf8)))\tresults/a.txt\nhello!END\tok\n", "a batch entry longer than asked"),
        (good, "B\t1\nE\t5\t\(sha)\tresults/b.txt\nhelloEND\tok\n", "a batch entry nobody asked for"),
        (good, "B\t2\nE\t5\t\(sha)\tresults/a.txt\nE\t5\t\(sha)\tresults/a.txt\nhellohelloEND\tok\n", "a batch of more files than asked"),
        (good, "B\t99999999999999999999\n", "a batch count past Int64"),
        (good, "B\t1\nF\t5\t\(sha)\tresults/a.txt\nhelloEND\tok\n", "a batch entry with the listing's letter"),
        (good, "D\t0\t5\tresults/\u{9B}2J.txt\nhelloZ\t\(sha)\tresults/\u{9B}2J.txt\nEND\tok\n", "data for a C1-control path nobody asked for"),
        (good, "A\tok\t5\t1.0\tresults/a.txt\nEND\tok\n", "a push result in a pull"),
    ]

    @Test(arguments: cases)
    func aHostileAnswerIsRejectedWithNothingWrittenOutside(_ body: String, _ answer: String, _ what: String) throws {
        try check(body: body, answer: answer, what: what)
    }

    @Test(arguments: [
        "Welcome to Ubuntu!\n",
        "CCPOD-ART \(ArtifactsScript.protocolVersion) none\nLIST none 999999\nR\tok\n",
        "CCPOD-ART \(ArtifactsScript.protocolVersion) none\nLIST none -1\n",
        "CCPOD-ART \(ArtifactsScript.protocolVersion) none\nLIST bzip2 3\nR\tok\n",
        "CCPOD-ART \(ArtifactsScript.protocolVersion + 1) none\nLIST none 5\nR\tok\n",
        "",
    ])
    func aHostileHeaderIsRejected(_ header: String) throws {
        try check(body: "", answer: "", what: header.debugDescription, header: header)
    }

    /// What follows a `Y` goes through zstd and is then checked like the rest: a valid
    /// record arrives, bytes zstd cannot read end the answer early and are rejected.
    @Test(.enabled(if: ChildProcess.exists("zstd"), "zstd is not installed"))
    func whatFollowsTheSwitchIsDecompressedAndChecked() throws {
        let inside = "D\t0\t5\tresults/a.txt\n\(Self.hello)Z\t\(Self.sha)\tresults/a.txt\nEND\tok\n"
        let zstd = try ChildProcess.run("zstd", ["-q", "-c"], input: Data(inside.utf8)).stdout
        #expect(try answerIsAccepted(Data("Y\n".utf8) + zstd, tools: "zstd"))
        #expect(try !answerIsAccepted(Data("Y\n".utf8) + Data(inside.utf8), tools: "zstd"))
    }

    /// Whether a pull of `results/a.txt` takes `answer`; when not, nothing is left but parts.
    func answerIsAccepted(_ answer: Data, tools: String) throws -> Bool {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        var scripted = bed
        scripted.connection = try ScriptedArtifactPod(folder: bed.root.path, body: Self.good, answer: answer, tools: tools)
        do {
            let report = try scripted.pull()
            return report.paths(.new) == ["results/a.txt"] && ArtifactTestBed.read(bed.local("results/a.txt")) == Data(Self.hello.utf8)
        } catch is CCPodError {
            #expect(ArtifactTestBed.files(bed.localDirectory).allSatisfy { $0.hasSuffix(".ccpod-part") })
            return false
        }
    }

    /// Data whose hash does not match is not put in place (and leaves no part).
    @Test func dataThatDoesNotHashRightNeverReachesItsPath() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        var scripted = bed
        scripted.connection = try ScriptedArtifactPod(folder: bed.root.path, body: Self.good,
            answer: "D\t0\t5\tresults/a.txt\nHELLOZ\t\(Self.sha)\tresults/a.txt\nEND\tok\n")
        let report = try scripted.pull()
        #expect(report.paths(.failed) == ["results/a.txt"])
        #expect(ArtifactTestBed.files(bed.localDirectory).isEmpty)
    }

    func check(body: String, answer: String, what: String, header: String? = nil) throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        var scripted = bed
        scripted.connection = try ScriptedArtifactPod(folder: bed.root.path, body: body, answer: answer, header: header)
        // With the progress line on: its expected totals come from the wire too.
        let transfer = scripted.transfer(.pull)
        transfer.progress = TransferProgress { _ in }
        #expect(throws: CCPodError.self, "\(what)") { try transfer.run() }
        // Only part files may be left, inside the destination; nothing anywhere else.
        let everything = ArtifactTestBed.files(bed.root.path)
        let outside = everything.filter {
            !$0.hasPrefix("laptop/proj/runs/stage1/") && !$0.hasPrefix("state/") && $0 != "listing" && $0 != "answer"
        }
        #expect(outside.isEmpty, "\(what): \(outside)")
        let inside = ArtifactTestBed.files(bed.localDirectory)
        #expect(inside.allSatisfy { $0.hasSuffix(".ccpod-part") }, "\(what): \(inside)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/escape.txt"))
    }
}

/// What the listing says about the pod, read directly.
@Suite("Artifact listing")
struct ArtifactListingTests {
    @Test func theListingReportsFreeSpaceAsAWholeNumberOfBytes() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let channel = try ArtifactChannel(connection: bed.connection, runDir: bed.podDirectory, tops: ["."], direction: .pull)
        let listing = try channel.readListing()
        channel.endWithoutTransfer()
        #expect(listing.runExists)
        let free = try #require(listing.freeBytes, "no free space in the listing")
        let expected = ArtifactTestBed.freeBytes(bed.podRun)
        #expect(abs(free - expected) < max(expected / 50, 64 << 20), "listed \(free), statvfs \(expected)")
    }
}

/// Numbers, limits and text from a hostile pod, in-process (the peak memory of the same
/// answers is measured on the binary in `ArtifactBombTests`).
@Suite("Hostile artifact numbers, limits and text")
struct ArtifactHostileLimitsTests {
    static let hello = ArtifactHostileTests.hello
    static let sha = ArtifactHostileTests.sha
    static let good = ArtifactHostileTests.good
    static let data = "D\t0\t5\tresults/a.txt\n\(hello)Z\t\(sha)\tresults/a.txt\nEND\tok\n"

    func scripted(_ bed: ArtifactTestBed, body: String, answer: String) throws -> ArtifactTestBed {
        var scripted = bed
        scripted.connection = try ScriptedArtifactPod(folder: bed.root.path, body: body, answer: answer)
        return scripted
    }

    /// Two sizes that add up past Int64 used to trap the process (SIGILL), even in a dry run.
    @Test(arguments: [true, false])
    func sizesThatAddUpPastInt64AreRefusedByName(dryRun: Bool) throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let huge = Int64.max / 2 + 1
        let body = "R\tok\nV\t1000\nF\t\(huge)\t1.0\tresults/a.bin\nF\t\(huge)\t1.0\tresults/b.bin\n"
        let error = try #require(throws: CCPodError.self) { try scripted(bed, body: body, answer: "").pull(dryRun: dryRun) }
        #expect(error.status == .badData)
        #expect(error.message.contains("scripted") && error.message.contains("F records"), "\(error.message)")
        #expect(ArtifactTestBed.files(bed.localDirectory).isEmpty)
    }

    /// One size of Int64.max is counted exactly by a dry run, and a real pull refuses it
    /// for lack of space before a byte moves.
    @Test func theLargestSizeIsCountedAndNeverFetched() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let body = "R\tok\nV\t1000\nF\t\(Int64.max)\t1.0\tresults/a.bin\n"
        let dry = try scripted(bed, body: body, answer: "").pull(dryRun: true)
        #expect(dry.bytes == Int64.max)
        #expect(dry.paths(.new) == ["results/a.bin"])
        let error = try #require(throws: CCPodError.self) {
            let transfer = try scripted(bed, body: body, answer: "D\t0\t\(Int64.max)\tresults/a.bin\n").transfer(.pull)
            transfer.progress = TransferProgress { _ in }
            return try transfer.run()
        }
        #expect(error.status == .ioError, "\(error.message)")
        #expect(ArtifactTestBed.files(bed.localDirectory).isEmpty)
    }

    /// A batch that names one asked file twice is refused (its bytes would land twice).
    @Test func aBatchThatNamesAFileTwiceIsRefused() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let body = Self.good + "F\t5\t1.0\tresults/b.txt\n"
        let entry = "E\t5\t\(Self.sha)\tresults/a.txt\n"
        let answer = "B\t2\n\(entry)\(entry)\(Self.hello)\(Self.hello)END\tok\n"
        #expect(throws: CCPodError.self) { try scripted(bed, body: body, answer: answer).pull() }
        #expect(ArtifactTestBed.files(bed.localDirectory).allSatisfy { $0.hasSuffix(".ccpod-part") })
    }

    /// Warnings from the listing and the answer reach the report escaped, the first few
    /// and then how many more; the pull itself goes through.
    @Test func warningsAreEscapedAndCapped() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let listingWarnings = (0..<5000).map { "W\t\u{1B}]0;pwned\u{07} listing \($0)\n" }.joined() + "W\t\u{202E}gpj.exe\n"
        let answerWarnings = (0..<5000).map { "W\t\u{1B}[2J\u{9B}31m answer \($0)\n" }.joined()
        let report = try scripted(bed, body: Self.good + listingWarnings, answer: answerWarnings + Self.data).pull()
        #expect(report.paths(.new) == ["results/a.txt"])
        #expect(report.warnings.count == 2 * (ArtifactWire.maxWarnings + 1), "\(report.warnings.count)")
        #expect(report.warnings.filter { $0.hasSuffix("more warning(s)") }.count == 2)
        #expect(report.warnings.contains { $0.contains("\\u001b]0;pwned\\u0007 listing 0") }, "\(report.warnings)")
        for warning in report.warnings {
            #expect(!warning.unicodeScalars.contains(where: { TerminalText.needsEscape($0, keepingLayout: true) }), "\(warning.debugDescription)")
        }
    }

    /// A path, a reason or a version from the pod goes into an error message escaped.
    @Test(arguments: [
        ("D\t0\t5\tresults/\u{202E}txt.exe\n", "\\u202e", CCPodKit.ExitStatus.badData),
        ("W\t\u{1B}[31mdisk full\nEND\tfailed\n", "\\u001b[31mdisk full", CCPodKit.ExitStatus.badData),
    ])
    func textInAnErrorIsEscaped(_ answer: String, _ shown: String, _ status: CCPodKit.ExitStatus) throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let error = try #require(throws: CCPodError.self) { try scripted(bed, body: Self.good, answer: answer).pull() }
        #expect(error.status == status)
        #expect(error.message.contains(shown), "\(error.message)")
        #expect(!error.message.unicodeScalars.contains(where: { TerminalText.needsEscape($0, keepingLayout: true) }), "\(error.message.debugDescription)")
    }

    /// Listings past a limit: too many records, a line too long, too many files, a path
    /// too long. Each is refused naming the pod.
    static func pastALimit(_ what: String) -> String {
        switch what {
        case "records": return String(repeating: "W\tx\n", count: ArtifactWire.maxListingRecords + 1)
        case "empty records": return String(repeating: "\n", count: ArtifactWire.maxListingRecords + 1)
        case "a long line": return "W\t" + String(repeating: "x", count: ArtifactWire.maxLine) + "\n"
        case "files": return (0...ArtifactWire.maxListedEntries).map { "F\t1\t1.0\tresults/f\($0)\n" }.joined()
        default: return "F\t1\t1.0\tresults/" + String(repeating: "x", count: ArtifactWire.maxPath) + "\n"
        }
    }

    @Test(arguments: ["records", "empty records", "a long line", "files", "a long path"])
    func aListingPastItsLimitsIsRefused(_ what: String) throws {
        let records = Self.pastALimit(what)
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let error = try #require(throws: CCPodError.self, "\(what)") { try scripted(bed, body: "R\tok\n" + records, answer: "").pull(dryRun: true) }
        #expect(error.status == .badData, "\(what): \(error.message)")
        #expect(error.message.contains("the pod scripted sent an invalid listing"), "\(what): \(error.message)")
    }

    /// A compressed listing that inflates to gigabytes is read as a stream and refused at
    /// the first limit it passes, not inflated whole.
    @Test(.enabled(if: ChildProcess.exists("zstd"), "zstd is not installed"), arguments: ["zeros", "warnings"])
    func aCompressedListingBombIsRefused(_ kind: String) throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        var scripted = bed
        scripted.connection = try ScriptedArtifactPod(folder: bed.root.path, phase1: try ArtifactBomb.listing(kind, gibibytes: 1), answer: Data())
        let started = Date()
        let error = try #require(throws: CCPodError.self) { try scripted.pull() }
        #expect(error.status == .badData, "\(error.message)")
        #expect(error.message.contains("listing"), "\(error.message)")
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(ArtifactTestBed.files(bed.localDirectory).isEmpty)
    }
}

extension ArtifactHostileLimitsTests {
    /// A push's answer must answer what was sent, once, with the size sent; nothing it
    /// says otherwise is recorded as agreed.
    @Test(arguments: [
        ("A\tok\t5\t1.0\tdata/other.txt\nEND\tok\n", "a result for a file nobody sent"),
        ("A\tok\t6\t1.0\tdata/a.txt\nEND\tok\n", "a wrong size"),
        ("A\tok\t-5\t1.0\tdata/a.txt\nEND\tok\n", "a negative size"),
        ("H\t\(sha)\t5\t1.0\tdata/a.txt\nEND\tok\n", "a hash nobody asked for"),
        ("D\t0\t5\tdata/a.txt\nhello", "data in a push's answer"),
        ("A\tok\t5\t1.0\t../../data/a.txt\nEND\tok\n", "a result for a path that climbs out"),
    ])
    func aHostilePushAnswerIsRejected(_ answer: String, _ what: String) throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write(Self.hello, to: bed.local("data/a.txt"))
        #expect(throws: CCPodError.self, "\(what)") { try scripted(bed, body: "R\tok\nV\t1000000\n", answer: answer).push() }
        let state = ArtifactStateStore(podStateDir: bed.stateDir, podDirectory: bed.podDirectory, localDirectory: bed.localDirectory).load()
        #expect(state.files.isEmpty, "\(what): \(state.files)")
    }
}

/// Compressed listings that inflate without end: one zstd frame of 16 MiB repeated (zstd
/// reads concatenated frames as one stream), so making them costs little.
enum ArtifactBomb {
    static func listing(_ kind: String, gibibytes: Int) throws -> Data {
        let unit = kind == "zeros" ? Data(count: 16 << 20) : Data(String(repeating: "W\tx\n", count: 4 << 20).utf8)
        let frame = try ChildProcess.run("zstd", ["-q", "-c"], input: unit).stdout
        var packed = Data()
        for _ in 0..<(gibibytes * 64) { packed.append(frame) }
        return Data("CCPOD-ART \(ArtifactsScript.protocolVersion) zstd\nLIST zstd \(packed.count)\n".utf8) + packed
    }
}
