@testable import CCPodKit
import Foundation
import Testing

/// A "pod" that lists, reads ccpod's request up to `END`, prints a keepalive on stderr
/// every half second for `aliveFor` seconds, says `answer`, does the same for `pauseFor`
/// seconds, says `rest`, then goes silent for `silence` seconds; its inactivity timeout
/// is short. The silence ends by itself, so a ccpod without a watchdog ends too, late,
/// and the timing checks fail.
struct StallingArtifactPod: PodConnection {
    let folder: String
    var aliveFor = 0
    var pauseFor = 0
    /// False: the pod never reads ccpod's request.
    var readsRequest = true
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
        try Data().write(to: URL(fileURLWithPath: folder + "/rest"))
    }

    /// What the pod says after its pause.
    func then(_ rest: String, after seconds: Int) throws -> StallingArtifactPod {
        try Data(rest.utf8).write(to: URL(fileURLWithPath: folder + "/rest"))
        var pod = self
        pod.pauseFor = seconds
        return pod
    }

    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        let script = """
            cat "$1/listing"
            [ "$5" = yes ] && while IFS= read -r l; do [ "$l" = END ] && break; done
            alive() { i=0; while [ $i -lt $1 ]; do echo \(ArtifactsScript.keepalive) >&2; sleep 0.5; i=$((i + 1)); done; }
            alive $2
            cat "$1/answer"
            alive $3
            cat "$1/rest"
            sleep $4
            """
        return (["/bin/sh", "-c", script, "stalling", folder, String(aliveFor * 2), String(pauseFor * 2), String(silence),
                 readsRequest ? "yes" : "no"], nil)
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

    // MARK: - Ctrl-C (README "Artifacts"): the first stops after the file in flight, a second at once.

    static let twoFiles = "R\tok\nV\t1000000\nF\t10\t1.0\tresults/a.txt\nF\t5\t1.0\tresults/b.txt\n"
    static let restOfA = "hello" + "Z\t\(SHA256Hex.of(Data("hellohello".utf8)))\tresults/a.txt\n"
        + "D\t0\t5\tresults/b.txt\nhelloZ\t\(sha)\tresults/b.txt\nEND\tok\n"

    /// Runs a pull of a.txt (half now, the rest after `pause` s) and b.txt with `presses`
    /// Ctrl-Cs one second in; the pod's inactivity timeout is long, so only Ctrl-C stops it.
    func interruptedPull(_ bed: ArtifactTestBed, presses: Int, pause: Int) throws -> (ArtifactReport, seconds: Double) {
        var pod = try StallingArtifactPod(folder: bed.root.path, listing: Self.twoFiles, answer: "D\t0\t10\tresults/a.txt\nhello")
            .then(Self.restOfA, after: pause)
        pod.timeout = 60
        var stalling = bed
        stalling.connection = pod
        let transfer = stalling.transfer(.pull)
        let started = Date()
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { for _ in 0..<presses { transfer.cancel() } }
        let report = try transfer.run()
        return (report, Date().timeIntervalSince(started))
    }

    /// One Ctrl-C: the file in flight arrives whole, the next is left for the next pull.
    @Test func oneCtrlCStopsAfterTheFileInFlight() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let (report, seconds) = try interruptedPull(bed, presses: 1, pause: 3)
        #expect(report.interrupted)
        #expect(seconds < 15, "took \(seconds) s")
        #expect(ArtifactTestBed.read(bed.local("results/a.txt")) == Data("hellohello".utf8))
        #expect(!FileManager.default.fileExists(atPath: bed.local("results/b.txt")))
        #expect(report.action("results/b.txt")?.kind == .pending)
    }

    /// Two Ctrl-Cs: the pull stops at once, the half of a.txt that arrived is kept as its part.
    @Test func twoCtrlCsStopAtOnceKeepingWhatArrived() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        let (report, seconds) = try interruptedPull(bed, presses: 2, pause: 20)
        #expect(report.interrupted)
        #expect(seconds < 12, "took \(seconds) s")
        #expect(ArtifactTestBed.read(bed.local(LocalFolder.partPath("results/a.txt"))) == Data("hello".utf8))
        #expect(!FileManager.default.fileExists(atPath: bed.local("results/a.txt")))
    }

    /// A push to a pod that lists and then neither reads nor answers: the writer, blocked
    /// on a full pipe, and the reader both end with the stall error naming the pod.
    @Test func aPushToAPodThatStopsReadingIsStopped() throws {
        let bed = try ArtifactTestBed()
        defer { bed.remove() }
        try ArtifactTestBed.write(ArtifactTestBed.random(8 << 20), to: bed.local("data/train.bin"))
        var pod = try StallingArtifactPod(folder: bed.root.path, listing: "R\tok\nV\t100000000000\n", answer: "")
        pod.readsRequest = false
        var stalling = bed
        stalling.connection = pod
        let started = Date()
        let error = try #require(throws: CCPodError.self) { try stalling.push(compression: Compression.none) }
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds < pod.timeout + 10, "took \(seconds) s")
        #expect(error.status == .unavailable, "\(error.message)")
        #expect(error.message.contains("stalling-pod") && error.message.contains("sent nothing")
                && error.message.contains("pushing artifacts"), "\(error.message)")
    }
}
