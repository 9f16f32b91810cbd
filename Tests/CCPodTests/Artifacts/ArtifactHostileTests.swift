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
        self.folder = folder
        hangUp = header != nil
        let records = Array(body.utf8)
        listing = header.map { Array($0.utf8) } ?? Array("CCPOD-ART \(ArtifactsScript.protocolVersion) \(tools)\nLIST none \(records.count)\n".utf8) + records
        self.answer = Array(answer)
        try Data(listing).write(to: URL(fileURLWithPath: folder + "/listing"))
        try Data(self.answer).write(to: URL(fileURLWithPath: folder + "/answer"))
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
        #expect(throws: CCPodError.self, "\(what)") { try scripted.pull() }
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
        let channel = try ArtifactChannel(connection: bed.connection, runDir: bed.podDirectory, tops: ["."])
        let listing = try channel.readListing()
        channel.endWithoutTransfer()
        #expect(listing.runExists)
        let free = try #require(listing.freeBytes, "no free space in the listing")
        let expected = ArtifactTestBed.freeBytes(bed.podRun)
        #expect(abs(free - expected) < max(expected / 50, 64 << 20), "listed \(free), statvfs \(expected)")
    }
}
