@testable import CCPodKit
import Foundation
import Testing

/// A "pod" that lists, reads ccpod's request up to `END`, then says `answer` and goes
/// silent for `silence` seconds (while printing a keepalive on stderr every half second
/// for `aliveFor` seconds first), with a short inactivity timeout. The silence ends by
/// itself, so a ccpod without a watchdog ends too, late, and the timing check fails.
struct StallingArtifactPod: PodConnection {
    let folder: String
    var aliveFor = 0
    var silence = 30
    var timeout: TimeInterval = 2
    var paths = PodPaths()
    var displayName: String { "stalling-pod" }
    var rootPrefix: String { "/nonexistent" }
    var inactivityTimeout: TimeInterval { timeout }

    init(folder: String, listing body: String, answer: String) throws {
        self.folder = folder
        let records = Array(body.utf8)
        let phase1 = Data("CCPOD-ART \(ArtifactsScript.protocolVersion) none\nLIST none \(records.count)\n".utf8) + records
        try phase1.write(to: URL(fileURLWithPath: folder + "/listing"))
        try Data(answer.utf8).write(to: URL(fileURLWithPath: folder + "/answer"))
    }

    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        let script = """
            cat "$1/listing"
            while IFS= read -r l; do [ "$l" = END ] && break; done
            i=0; while [ $i -lt $2 ]; do echo \(ArtifactsScript.keepalive) >&2; sleep 0.5; i=$((i + 1)); done
            cat "$1/answer"
            sleep $3
            """
        return (["/bin/sh", "-c", script, "stalling", folder, String(aliveFor * 2), String(silence)], nil)
    }

    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

@Suite("Artifact transfers from a pod that goes silent")
struct ArtifactStallTests {
    static let hello = "hello"
    static let sha = SHA256Hex.of(Data(hello.utf8))
    static let listing = "R\tok\nV\t1000000\nF\t10\t1.0\tresults/a.txt\n"

    /// Runs a pull against `pod`; returns what it threw and how long it took.
    func pull(_ bed: ArtifactTestBed, _ pod: StallingArtifactPod) -> (Result<ArtifactReport, Error>, seconds: Double) {
        var stalling = bed
        stalling.connection = pod
        let started = Date()
        let result = Result { try stalling.pull() }
        return (result, Date().timeIntervalSince(started))
    }

    func expectStallError(_ result: Result<ArtifactReport, Error>, seconds: Double, timeout: TimeInterval) {
        // Within the timeout and some slack for a loaded machine, well before the pod's own 30 s.
        #expect(seconds < timeout + 10, "took \(seconds) s")
        guard case .failure(let error) = result, let error = error as? CCPodError else {
            Issue.record("expected a CCPodError, got \(result)")
            return
        }
        #expect(error.status == .unavailable, "\(error.message)")
        #expect(error.message.contains("stalling-pod") && error.message.contains("sent nothing"), "\(error.message)")
        #expect(error.message.contains("pulling artifacts"), "\(error.message)")
    }

    /// Header and listing, then nothing: the pull ends with the stall error naming the pod.
    @Test func aPodSilentAfterItsListingIsStopped() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let pod = try StallingArtifactPod(folder: bed.root.path, listing: Self.listing, answer: "")
        let (result, seconds) = pull(bed, pod)
        expectStallError(result, seconds: seconds, timeout: pod.timeout)
        #expect(!FileManager.default.fileExists(atPath: bed.local("results/a.txt")))
    }

    /// Half of a file, then nothing: the stall error, and the half that arrived is kept
    /// in the part file for the next pull.
    @Test func aPodSilentInTheMiddleOfAFileIsStoppedAndThePartKept() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let pod = try StallingArtifactPod(folder: bed.root.path, listing: Self.listing, answer: "D\t0\t10\tresults/a.txt\n\(Self.hello)")
        let (result, seconds) = pull(bed, pod)
        expectStallError(result, seconds: seconds, timeout: pod.timeout)
        #expect(ArtifactTestBed.read(bed.local(LocalFolder.partPath("results/a.txt"))) == Data(Self.hello.utf8))
        #expect(!FileManager.default.fileExists(atPath: bed.local("results/a.txt")))
    }

    /// A pod that works for more than twice the timeout before it answers, saying it is
    /// alive on stderr meanwhile, is waited for; its keepalives reach no message.
    @Test func aSlowPodThatSaysItIsAliveIsWaitedFor() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let ten = "hellohello"
        let listing = "R\tok\nV\t1000000\nF\t10\t1.0\tresults/a.txt\n"
        var pod = try StallingArtifactPod(folder: bed.root.path, listing: listing,
                                          answer: "D\t0\t10\tresults/a.txt\n\(ten)Z\t\(SHA256Hex.of(Data(ten.utf8)))\tresults/a.txt\nEND\tok\n")
        pod.aliveFor = 5
        pod.silence = 0
        pod.timeout = 2
        let (result, seconds) = pull(bed, pod)
        let report = try result.get()
        #expect(seconds >= 5, "the pod worked for 5 s, the pull took \(seconds) s")
        #expect(report.paths(.new) == ["results/a.txt"])
        #expect(ArtifactTestBed.read(bed.local("results/a.txt")) == Data(ten.utf8))
    }
}
