@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// A "pod" that runs `script` with a local `sh` whatever ccpod asks, with a short
/// inactivity timeout; with `explains`, every failed call is blamed on the connection
/// (as ssh's exit 255 is), to see which reason reaches the user.
struct ScriptedConnection: PodConnection {
    let script: String
    var inactivityTimeout: TimeInterval = 2
    var explains = false
    var bin: String?
    var paths = PodPaths()
    var root = "/nonexistent"
    var displayName: String { "scripted" }
    var rootPrefix: String { root }

    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        var environment = ProcessInfo.processInfo.environment
        if let bin { environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin") }
        // `$1` is what ccpod asked for, so a script can run it after all.
        return (["/bin/sh", "-c", script, "scripted", remoteCommand], environment)
    }

    func explainFailure(status: Int32, stderr: String) -> CCPodError? {
        explains && status != 0 ? .unavailable("the connection to pod scripted was closed before the command ran") : nil
    }
}

@Suite("One process layer: timeout, bounds, the real reason", .timeLimit(.minutes(2)))
struct PodProcessTests {
    static func pullRequest(root: String = "/nonexistent") -> AgentRequest {
        AgentRequest(mode: .pull, rootPrefix: root, paths: PodPaths(claudeDir: "/claude", persistentDir: "/persist"),
                     scope: [], sessionIds: [], files: [], accept: [])
    }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-pp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func exchangeError(_ connection: any PodConnection, request: AgentRequest = pullRequest()) throws -> (CCPodError, TimeInterval) {
        let scratch = try scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let started = Date()
        let error = try #require(throws: CCPodError.self) {
            try AgentExchange(connection: connection).run(request, scratch: scratch)
        }
        return (error, Date().timeIntervalSince(started))
    }

    // MARK: silence

    @Test func anAgentThatSendsItsHeaderAndFallsSilentIsStoppedAfterTheTimeout() throws {
        let pod = ScriptedConnection(script: "cat > /dev/null; printf 'CCPOD-AGENT 2 none\\nW\\tworking\\n'; sleep 30")
        let (error, seconds) = try Self.exchangeError(pod)
        #expect(seconds < 2 + 4, "took \(seconds) s")
        #expect(seconds >= 1.9, "took \(seconds) s")
        #expect(error.status == .unavailable)
        #expect(error.message.contains("the pod scripted sent nothing for 2 s while pulling"), "\(error.message)")
        #expect(error.message.contains("nothing was changed here"))
    }

    /// A whole answer ends the exchange: a pod that then keeps the connection open
    /// (silent, with a long timeout) costs ccpod nothing more.
    @Test func aPodThatHoldsTheConnectionAfterAWholeAnswerIsNotWaitedFor() throws {
        var pod = ScriptedConnection(script: "cat > /dev/null; printf 'CCPOD-AGENT 2 none\\nEND\\tok\\n'; sleep 30")
        pod.inactivityTimeout = 60
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let started = Date()
        let answer = try AgentExchange(connection: pod).run(Self.pullRequest(), scratch: scratch)
        #expect(answer.records.isEmpty)
        #expect(Date().timeIntervalSince(started) < 20, "took \(Date().timeIntervalSince(started)) s")
    }

    @Test func aPodThatNeverReadsItsRequestCannotBlockTheWriterForever() throws {
        // The request (a megabyte of session ids) fills every pipe; the pod reads nothing.
        var request = Self.pullRequest()
        request.sessionIds = (0..<40_000).map { _ in UUID().uuidString.lowercased() }
        let pod = ScriptedConnection(script: "sleep 30")
        let (error, seconds) = try Self.exchangeError(pod, request: request)
        #expect(seconds < 2 + 4, "took \(seconds) s")
        #expect(error.message.contains("sent nothing for 2 s"), "\(error.message)")
    }

    @Test func aSilentCommandIsStoppedAfterTheTimeout() throws {
        let pod = ScriptedConnection(script: "printf 'a header\\n'; sleep 30")
        let started = Date()
        let error = try #require(throws: CCPodError.self) { try pod.runCommand("ignored", activity: "listing runs") }
        #expect(Date().timeIntervalSince(started) < 2 + 4)
        #expect(error.status == .unavailable)
        #expect(error.message.contains("sent nothing for 2 s while listing runs"), "\(error.message)")
    }

    @Test func keepaliveLinesKeepASlowCommandAliveAndAreLeftOut() throws {
        // Six seconds of work, a keepalive every second, a timeout of two and a half.
        let pod = ScriptedConnection(
            script: "for i in 1 2 3 4 5 6; do sleep 1; echo ccpod-alive >&2; done; echo 'real words' >&2; echo out",
            inactivityTimeout: 2.5)
        let out = try pod.runCommand("ignored")
        #expect(out.status == 0)
        #expect(out.stdoutText == "out\n")
        #expect(out.stderrText == "real words\n")
    }

    @Test func theAgentSaysItIsAliveWhileAToolTakesLongerThanTheTimeout() throws {
        // A stand-in `find` that takes 8 s, against a timeout of 6 s: only the agent's
        // keepalive (every 5 s) tells ccpod the pod is still there.
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let bin = root.appendingPathComponent("bin").path
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root.path + "/claude/projects", withIntermediateDirectories: true)
        let find = try ChildProcess.resolve("find", environment: ProcessInfo.processInfo.environment)
        try Data("#!/bin/sh\nsleep 8\nexec \(find) \"$@\"\n".utf8).write(to: URL(fileURLWithPath: bin + "/find"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/find")
        var pod = ScriptedConnection(script: "exec /bin/sh -c \"$1\"", inactivityTimeout: 6, bin: bin)
        pod.root = root.path
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let answer = try AgentExchange(connection: pod).run(Self.pullRequest(root: root.path), scratch: scratch)
        #expect(answer.records.isEmpty)
    }

    // MARK: bounds

    @Test func endlessStderrIsCappedAndTheCommandStillEnds() throws {
        let pod = ScriptedConnection(script: "head -c 30000000 /dev/zero | tr '\\000' e >&2; echo 'last words' >&2; echo done",
                                     inactivityTimeout: 30)
        let out = try pod.runCommand("ignored")
        #expect(out.stdoutText == "done\n")
        #expect(out.stderr.count < 70 * 1024, "\(out.stderr.count) bytes of stderr kept")
        #expect(out.stderrText.contains("more bytes"))
        #expect(out.stderrText.hasSuffix("last words\n"))
    }

    @Test func tooMuchOutputFailsTheCommandWithASentence() throws {
        let pod = ScriptedConnection(script: "head -c 20000000 /dev/zero; echo done", inactivityTimeout: 30)
        let error = try #require(throws: CCPodError.self) { try pod.runCommand("ignored", activity: "listing runs") }
        #expect(error.status == .badData)
        #expect(error.message.contains("sent more than 8 MiB while listing runs"), "\(error.message)")
    }

    @Test func endlessWarningsAreCountedNotKept() throws {
        let pod = ScriptedConnection(script: "cat > /dev/null; printf 'CCPOD-AGENT 2 none\\n'; i=0; while [ $i -lt 1000 ]; do printf 'W\\tmany\\n'; i=$((i + 1)); done; printf 'END\\tok\\n'")
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let answer = try AgentExchange(connection: pod).run(Self.pullRequest(), scratch: scratch)
        let warnings = answer.index.warnings
        #expect(warnings.count == 101)
        #expect(warnings.last == "pod: … and 900 more warnings")
    }

    @Test(arguments: [
        // Lengths whose sum passes Int64.
        "E\\t2\\t5\\nD\\t0\\t9223372036854775807\\t\(String(repeating: "a", count: 64))\\tprojects/x/a.jsonl\\nD\\t0\\t9223372036854775807\\t\(String(repeating: "a", count: 64))\\tprojects/x/b.jsonl\\n",
        // An offset and a length that overflow together.
        "D\\t9223372036854775000\\t1000\\t\(String(repeating: "a", count: 64))\\tprojects/x/a.jsonl\\n",
        // A negative size.
        "S\\tnew\\t-5\\t1.0\\t0\\t-\\tprojects/x/a.jsonl\\n",
        // A new file without its size and time.
        "S\\tnew\\t-\\t-\\t0\\t-\\tprojects/x/a.jsonl\\n",
        // A path longer than 4096 bytes.
        "S\\tgone\\t-\\t-\\t0\\t-\\t\(String(repeating: "p/", count: 2100))a\\n",
        // A batch that claims more records than any request could explain.
        "E\\t999999999\\t0\\n",
    ])
    func impossibleNumbersAreRefusedNamingThePodAndTheRecord(_ records: String) throws {
        let pod = ScriptedConnection(script: "cat > /dev/null; printf 'CCPOD-AGENT 2 none\\n\(records)END\\tok\\n'")
        let (error, _) = try Self.exchangeError(pod)
        #expect(error.status == .badData)
        #expect(error.message.contains("the agent on scripted sent an invalid answer"), "\(error.message)")
        #expect(error.message.contains("record") || error.message.contains("batch"), "\(error.message)")
    }

    // MARK: the real reason

    @Test func aRefusedAnswerIsTheReasonNotTheConnection() throws {
        let pod = ScriptedConnection(
            script: "cat > /dev/null; printf 'CCPOD-AGENT 2 none\\nS\\tnew\\t5\\t1.0\\t0\\t-\\t../../etc/evil\\n'; sleep 1; exit 255",
            explains: true)
        let (error, _) = try Self.exchangeError(pod)
        #expect(error.status == .badData)
        #expect(error.message.contains("unsafe path"), "\(error.message)")
        #expect(!error.message.contains("connection"), "\(error.message)")
    }

    @Test func theAgentsOwnFailureIsTheReasonEscaped() throws {
        let pod = ScriptedConnection(
            script: "cat > /dev/null; printf 'CCPOD-AGENT 2 none\\nW\\tthe disk is full \\033]0;pwned\\007\\nEND\\tfailed\\n'; exit 3",
            explains: true)
        let (error, _) = try Self.exchangeError(pod)
        #expect(error.status == .badData)
        #expect(error.message.contains("stopped: the disk is full \\u001b]0;pwned\\u0007"), "\(error.message)")
        #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 })
    }

    @Test func aConnectionThatFailsBeforeTheAgentAnswersIsExplainedAsSuch() throws {
        let pod = ScriptedConnection(script: "cat > /dev/null; exit 255", explains: true)
        let (error, _) = try Self.exchangeError(pod)
        #expect(error.status == .unavailable)
        #expect(error.message.contains("closed before the command ran"))
    }

    // MARK: over ssh

    @Test func aSilentCommandOverSSHIsStoppedAfterTheTimeout() throws {
        let pod = try SSHTestPod()
        try pod.add()
        var ssh = try pod.connection()
        ssh.inactivityTimeout = 3
        #expect(try ssh.runCommand("echo warm").stdoutText == "warm\n")
        let started = Date()
        let error = try #require(throws: CCPodError.self) { try ssh.runCommand("echo header; sleep 20") }
        #expect(Date().timeIntervalSince(started) < 3 + 4)
        #expect(error.message.contains("the pod gpu sent nothing for 3 s"), "\(error.message)")
        // The connection is still good for the next command.
        #expect(try ssh.runCommand("echo again").stdoutText == "again\n")
    }

    @Test func theTimeoutComesFromTheConfigAndTheEnvironment() throws {
        let config = try CCPodConfig.parse("""
            [pods.gpu]
            direct = "root@203.0.113.7:41022"
            inactivityTimeout = 7
            """)
        let settings = try config.pod(named: "gpu")
        #expect(settings.inactivityTimeout == 7)
        #expect(try CCPodConfig.parse(config.serialized()).pods["gpu"]?.inactivityTimeout == 7)
        #expect(PodProcess.inactivityTimeout(configured: 7, environment: [:]) == 7)
        #expect(PodProcess.inactivityTimeout(configured: 7, environment: ["CCPOD_TIMEOUT": "3"]) == 3)
        #expect(PodProcess.inactivityTimeout(configured: nil, environment: [:]) == 60)
        #expect(throws: CCPodError.self) { try CCPodConfig.parse("[pods.gpu]\ninactivityTimeout = -1\n") }
    }
}

@Suite("PodProcess as the artifacts channel uses it", .timeLimit(.minutes(3)))
struct PodProcessChannelTests {
    @Test func aRequestCompressedFromMidStreamAndAnAnswerDecompressedFromMidStream() throws {
        guard ChildProcess.exists("zstd") else { return }
        // The "pod" echoes its first line plainly, then the rest of its input decompressed,
        // then answers a plain line and a compressed rest.
        let pod = ScriptedConnection(script: "IFS= read -r line; printf '%s\\n' \"$line\"; zstd -q -d -c; printf 'plain\\n'; printf 'packed\\n' | zstd -q -c",
                                     inactivityTimeout: 10)
        let process = try PodProcess(connection: pod, command: "", options: .init(activity: "testing", input: .pipe))
        defer { process.finish() }
        try process.write(Data("first\n".utf8))
        try process.compressInput(with: ["zstd", "-q", "-c"])
        process.startWriter { try $0.write(Data("second\n".utf8)) }
        #expect(try process.answer.readLine(limit: 100) == Array("first".utf8))
        #expect(try process.answer.readLine(limit: 100) == Array("second".utf8))
        #expect(try process.answer.readLine(limit: 100) == Array("plain".utf8))
        #expect(try process.decompressAnswer(with: ["zstd", "-q", "-d", "-c"]))
        #expect(try process.readAll(limit: 100) == Data("packed\n".utf8))
        #expect(process.finish().status == 0)
    }

    /// An exchange leaves nothing behind once finished: its watchdog (and the wake pipe
    /// it holds) goes with it, stopped or not. `ccpod watch` runs one every round.
    @Test func aFinishedExchangeReleasesItsWatchdog() throws {
        for stop in [false, true] {
            weak var dog: PodWatchdog?
            do {
                let process = try PodProcess(connection: ScriptedConnection(script: stop ? "sleep 30" : "echo done", inactivityTimeout: 10),
                                             command: "", options: .init(activity: "testing"))
                dog = process.watchdog
                if stop { process.cancel() } else { _ = try process.readAll(limit: 100) }
                process.finish()
            }
            // The watchdog's thread lets go of it once it has seen the end.
            let deadline = Date().addingTimeInterval(5)
            while dog != nil && Date() < deadline { usleep(10_000) }
            #expect(dog == nil, "stopped: \(stop)")
        }
    }

    /// ccpod's own zstd decompressor reads in process where libzstd is; any other tool
    /// (or no libzstd) is a child between the pipe and the reader. Both read the same.
    @Test func ccpodsZstdAnswerIsDecodedInProcess() throws {
        guard ChildProcess.exists("zstd") else { print("skipped: no zstd command"); return }
        for (tool, here) in [(Compression.zstd.decompressor!, ZstdDecoder.available), (["zstd", "-q", "-d", "-c"], false)] {
            let pod = ScriptedConnection(script: "printf 'plain\\n'; head -c 300000 /dev/zero | tr '\\0' 'x' | zstd -q -c; printf 'more\\n' | zstd -q -c",
                                         inactivityTimeout: 10)
            let process = try PodProcess(connection: pod, command: "", options: .init(activity: "testing"))
            defer { process.finish() }
            #expect(try process.answer.readLine(limit: 100) == Array("plain".utf8))
            #expect(try process.decompressAnswer(with: tool))
            #expect(process.answer.decodes == here)
            #expect(try process.readAll(limit: 400_000) == Data(repeating: UInt8(ascii: "x"), count: 300_000) + Data("more\n".utf8))
            #expect(process.finish().status == 0)
        }
    }

    @Test func cancelEndsAReadAtOnceAndStopsTheProcessGroup() throws {
        let pod = ScriptedConnection(script: "sleep 30 & sleep 30", inactivityTimeout: 30)
        let process = try PodProcess(connection: pod, command: "", options: .init(activity: "testing", newProcessGroup: true))
        let started = Date()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { process.cancel() }
        #expect(throws: PodWatchdog.Stopped.self) { try process.readAll(limit: 100) }
        let outcome = process.finish()
        #expect(outcome.stopped == .cancelled)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func keepaliveLinesAreRecognisedAcrossReadsAndStderrStaysBounded() {
        var text = PodStderr(limit: 64)
        for chunk in ["ccpod-", "alive\nreal ", "words\nccpod-alive\n", "ccpod-alive-not\n"] {
            Data(chunk.utf8).withUnsafeBytes { text.append($0) }
        }
        #expect(text.text == "real words\nccpod-alive-not\n")
        for _ in 0..<1000 { Data("noise noise noise\n".utf8).withUnsafeBytes { text.append($0) } }
        Data("the end\n".utf8).withUnsafeBytes { text.append($0) }
        #expect(text.text.utf8.count < 64 + 40, "\(text.text)")
        #expect(text.text.contains("more bytes"))
        #expect(text.text.hasSuffix("the end\n"))
    }
}
