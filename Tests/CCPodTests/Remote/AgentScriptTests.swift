import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// Runs the agent with a chosen shell against a local folder (dash and bash must both work).
struct ShellConnection: PodConnection {
    let shell: String
    let root: String
    var paths = PodPaths()
    var displayName: String { "\(shell):\(root)" }
    var rootPrefix: String { root }
    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        // The same command line a pod's login shell would run, but with `sh` meaning this shell.
        let command = remoteCommand.replacingOccurrences(of: "exec sh -c", with: "exec \(shell) -c")
            .replacingOccurrences(of: "exec sh \"$f\"", with: "exec \(shell) \"$f\"")
        return ([shell, "-c", command], nil)
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

/// A "pod" whose answer is whatever the test says, to try to break ccpod.
struct HostileConnection: PodConnection {
    let answer: String
    var paths = PodPaths()
    var displayName: String { "hostile" }
    var rootPrefix: String { "/nonexistent" }
    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        (["/bin/sh", "-c", "cat > /dev/null; printf '%b' \"$1\"", "hostile", answer], nil)
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

@Suite("The pod-side agent")
struct AgentScriptTests {
    let id = "11111111-2222-4333-8444-555555555555"

    @Test(.enabled(if: ChildProcess.exists("shellcheck"), "shellcheck is not installed"))
    func shellcheckFindsNothing() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString).sh")
        try AgentScript.source.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let out = try ChildProcess.run("shellcheck", ["-s", "sh", file.path])
        #expect(out.status == 0, "\(out.stdoutText)")
    }

    @Test(arguments: ["dash", "bash"])
    func fullCycleUnderShell(_ shell: String) throws {
        guard ChildProcess.exists(shell) else { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        bed.connection = ShellConnection(shell: shell, root: bed.podRoot)
        let base = SyncTestBed.lines(session: id, count: 5)
        try SyncTestBed.write(base, to: bed.localTranscript(id))
        // Names a shell could trip over, in the project's memory folder.
        let odd = ["a b.md", "it's.md", "$HOME.md", "back\\slash.md", "*.md", "-n.md", "ünï.md"]
        for name in odd {
            try SyncTestBed.write(Data("note \(name)\n".utf8), to: "\(bed.localClaude)/projects/\(SyncTestBed.localSlug)/memory/\(name)")
        }
        let push = try bed.run(.push)
        #expect(push.count(.copiedToPod) == 1 + odd.count, "\(push.items)")
        for name in odd {
            #expect(SyncTestBed.read("\(bed.podClaude)/projects/\(SyncTestBed.podSlug)/memory/\(name)") == Data("note \(name)\n".utf8))
        }
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 5), to: bed.podTranscript(id))
        let pull = try bed.run(.pull)
        #expect(pull.count(.pulled) == 1)
        #expect(SyncTestBed.read(bed.localTranscript(id)) == SyncTestBed.read(bed.podTranscript(id)))
    }

    @Test func aPodWithoutAToolTheAgentNeedsIsToldWhichOne() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let bin = try RestrictedPathConnection.bin(in: bed.root.appendingPathComponent("bin").path, without: ["awk"])
        bed.connection = RestrictedPathConnection(root: bed.podRoot, bin: bin)
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 2), to: bed.localTranscript(id))
        #expect {
            try bed.run(.push)
        } throws: { error in
            "\(error)".contains("the pod has no awk")
        }
        #expect(!FileManager.default.fileExists(atPath: bed.podTranscript(id)))
    }

    @Test func anOldOrNewAgentIsRefusedByVersion() throws {
        let out = try ChildProcess.run("/bin/sh", ["-c", AgentScript.source, "ccpod-agent", "999", "none"], input: Data())
        #expect(out.stdoutText.contains("protocol mismatch"))
        #expect(out.status != 0)
    }

    /// A pull's new file rewritten in place on the pod (same size) right after it was
    /// sent, with perl sending or with cat: its inode moved, so the pod hashes it as it
    /// is now, which is not what arrived; the answer is refused, nothing written.
    /// Touched only (the same bytes): hashed too, and taken.
    @Test(arguments: [(true, true), (true, false), (false, true), (false, false)])
    func aNewFileThatChangedWhileItWasSentIsRefused(_ withPerl: Bool, _ changeBytes: Bool) throws {
        if withPerl && !ChildProcess.exists("perl") { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path,
                                              hiding: withPerl ? ["perl"] : ["perl", "cat"])
        let sender = withPerl ? "perl" : "cat"
        let real = try ChildProcess.resolve(sender, environment: ProcessInfo.processInfo.environment)
        let dd = try ChildProcess.resolve("dd", environment: ProcessInfo.processInfo.environment)
        let touch = try ChildProcess.resolve("touch", environment: ProcessInfo.processInfo.environment)
        let target = bed.podTranscript(id)
        // The sender runs as it would, then (when it sent the target) the file changes.
        let change = changeBytes
            ? "printf X | '\(dd)' of='\(target)' bs=1 seek=20 conv=notrunc status=none"
            : "'\(touch)' -m -d @1700000000 '\(target)'"
        let watch = withPerl ? "*sendnew*" : "*\(id).jsonl*"
        let script = "#!/bin/sh\n'\(real)' \"$@\"; rc=$?\ncase \"$*\" in \(watch)) \(change) ;; esac\nexit $rc\n"
        _ = FileManager.default.createFile(atPath: counting.bin + "/" + sender, contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
        bed.connection = counting
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: target)
        if changeBytes {
            #expect {
                try bed.run(.pull)
            } throws: { error in
                "\(error)".contains("changed on the pod while it was read")
            }
            #expect(!FileManager.default.fileExists(atPath: bed.localTranscript(id)))
        } else {
            #expect(try bed.run(.pull).count(.copiedFromPod) == 1)
            #expect(SyncTestBed.read(bed.localTranscript(id)) == SyncTestBed.read(target))
        }
        #expect(try counting.processes().contains("openssl") || !ChildProcess.exists("openssl"))
    }

    /// A pull's new file that perl could not open (read as zeros) while its inode did not
    /// move: perl names it, the pod hashes it, and the zeros that arrived are refused.
    @Test func aNewFileThePodCouldNotReadIsRefused() throws {
        if !ChildProcess.exists("perl") { return }
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path, hiding: ["perl"])
        let real = try ChildProcess.resolve("perl", environment: ProcessInfo.processInfo.environment)
        // The sending perl gets a list whose first file cannot be opened.
        let script = """
            #!/bin/sh
            case "$3" in
                *sendnew) sed '1s|^[^\t]*|./no-such-file|' "$3" > "$3.broken"; list="$3.broken" ;;
                *) exec '\(real)' "$@" ;;
            esac
            exec '\(real)' "$1" "$2" "$list" "$4"

            """
        _ = FileManager.default.createFile(atPath: counting.bin + "/perl", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
        bed.connection = counting
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.podTranscript(id))
        #expect {
            try bed.run(.pull)
        } throws: { error in
            "\(error)".contains("changed on the pod while it was read")
        }
        #expect(!FileManager.default.fileExists(atPath: bed.localTranscript(id)))
    }

    /// An untouched pull hashes nothing on the pod: one find after the send says the files
    /// did not move.
    @Test func anUntouchedPullHashesNothingOnThePod() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let counting = try CountingConnection(root: bed.podRoot, bin: bed.root.appendingPathComponent("bin").path)
        bed.connection = counting
        for i in 0..<5 {
            let other = String(format: "11111111-2222-4333-8444-%012d", i)
            try SyncTestBed.write(SyncTestBed.lines(session: other, count: 3 + i), to: bed.podTranscript(other))
        }
        _ = try counting.processes()
        #expect(try bed.run(.pull).count(.copiedFromPod) == 5)
        let started = try counting.processes()
        #expect(!started.contains("openssl") && !started.contains("sha256sum"), "\(started)")
        // What ccpod recorded of the pod's side is the digest of what arrived: a second pull is quiet.
        #expect(try bed.run(.pull).items.allSatisfy { $0.action == .inSync })
    }

    static let sha5 = SHA256Hex.of(Data("hello".utf8))

    @Test(arguments: [
        // A path that climbs out of the Claude dir.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\t../../../etc/evil\\nD\\t0\\t5\\t\(sha5)\\t../../../etc/evil\\nhello\\nEND\\tok\\n",
        // An absolute path.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\t/etc/evil\\nD\\t0\\t5\\t\(sha5)\\t/etc/evil\\nhello\\nEND\\tok\\n",
        // A size that lies (the data is shorter than announced).
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t50\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nD\\t0\\t50\\t\(sha5)\\tprojects/x/a.jsonl\\nhello\\nEND\\tok\\n",
        // Data that does not match its hash.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nD\\t0\\t5\\t\(sha5)\\tprojects/x/a.jsonl\\nHELLO\\nEND\\tok\\n",
        // A data batch with a path that climbs out.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nE\\t1\\t5\\nD\\t0\\t5\\t\(sha5)\\t../../../etc/evil\\nhello\\nEND\\tok\\n",
        // A data batch whose total lies about its records.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nE\\t1\\t3\\nD\\t0\\t5\\t\(sha5)\\tprojects/x/a.jsonl\\nhello\\nEND\\tok\\n",
        // A data batch whose second file does not match its hash (the first does).
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/b.jsonl\\nE\\t2\\t10\\nD\\t0\\t5\\t\(sha5)\\tprojects/x/a.jsonl\\nD\\t0\\t5\\t\(sha5)\\tprojects/x/b.jsonl\\nhelloHELLO\\nEND\\tok\\n",
        // A batch whose hashes follow its bytes, the second not matching its file.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/b.jsonl\\nE\\t2\\t10\\nD\\t0\\t5\\t-\\tprojects/x/a.jsonl\\nD\\t0\\t5\\t-\\tprojects/x/b.jsonl\\nhelloHELLOH\\t\(sha5)\\nH\\t\(sha5)\\nEND\\tok\\n",
        // A batch whose hashes were to follow its bytes, and do not.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nE\\t1\\t5\\nD\\t0\\t5\\t-\\tprojects/x/a.jsonl\\nhelloEND\\tok\\n",
        // "Unchanged while sent" (`=`) where a data record's hash belongs.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t-\\tprojects/x/a.jsonl\\nE\\t1\\t5\\nD\\t0\\t5\\t=\\tprojects/x/a.jsonl\\nhelloH\\t=\\nEND\\tok\\n",
        // A batch whose first file is "unchanged while sent" and whose second does not match.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nE\\t2\\t10\\nD\\t0\\t5\\t-\\tprojects/x/a.jsonl\\nD\\t0\\t5\\t-\\tprojects/x/b.jsonl\\nhelloHELLOH\\t=\\nH\\t\(sha5)\\nEND\\tok\\n",
        // "Unchanged while sent" outside a batch.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nD\\t0\\t5\\t\(sha5)\\tprojects/x/a.jsonl\\nhello\\nH\\t=\\nEND\\tok\\n",
        // A hash to follow outside a batch.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\nD\\t0\\t5\\t-\\tprojects/x/a.jsonl\\nhello\\nH\\t\(sha5)\\nEND\\tok\\n",
        // Garbage frames.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nZZZ\\x01\\x02\\nEND\\tok\\n",
        // Not an agent at all.
        "Welcome to Ubuntu!\\n",
        // An answer that stops in the middle.
        "CCPOD-AGENT \(AgentScript.protocolVersion) none\\nS\\tnew\\t5\\t1.0\\t0\\t\(sha5)\\tprojects/x/a.jsonl\\n",
    ])
    func hostileAnswersAreRejectedWithNothingWritten(_ answer: String) throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        bed.connection = HostileConnection(answer: answer)
        bed.scope = SyncScope(projects: [ProjectMapping(localSlug: "x", podSlug: "x")])
        #expect(throws: CCPodError.self) { try bed.run(.pull) }
        let written = FileManager.default.enumerator(atPath: bed.localClaude)?.allObjects ?? []
        #expect(written.isEmpty, "\(written)")
        #expect(!FileManager.default.fileExists(atPath: "/etc/evil"))
    }

    /// A batch whose files did not move on the pod while they were sent (`H =`, state
    /// records without a hash): kept, with the digest computed here as they arrived.
    @Test func aBatchOfUnmovedFilesIsKeptWithTheDigestOfWhatArrived() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        var answer = "CCPOD-AGENT \(AgentScript.protocolVersion) none\n"
        answer += "E\t2\t13\nD\t0\t6\t-\tprojects/x/a.jsonl\nD\t0\t7\t-\tprojects/x/b.jsonl\nhello\nworld!\n"
        answer += "H\t=\nH\t=\nS\tnew\t6\t1.0\t0\t-\tprojects/x/a.jsonl\nS\tnew\t7\t1.0\t0\t-\tprojects/x/b.jsonl\nEND\tok\n"
        bed.connection = HostileConnection(answer: answer.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t"))
        bed.scope = SyncScope(projects: [ProjectMapping(localSlug: "x", podSlug: "x")])
        let report = try bed.run(.pull)
        #expect(report.count(.copiedFromPod) == 2, "\(report.items)")
        #expect(SyncTestBed.read(bed.localClaude + "/projects/x/a.jsonl") == Data("hello\n".utf8))
        #expect(SyncTestBed.read(bed.localClaude + "/projects/x/b.jsonl") == Data("world!\n".utf8))
    }

    /// The agent sends a pull's new files at once and their hashes after their bytes
    /// (`H`, in order): what matches is kept.
    @Test func aBatchWhoseHashesFollowItsBytesIsKept() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        let a = "hello\n", b = "world!\n"
        let shaA = SHA256Hex.of(Data(a.utf8)), shaB = SHA256Hex.of(Data(b.utf8))
        var answer = "CCPOD-AGENT \(AgentScript.protocolVersion) none\n"
        answer += "E\t2\t13\nD\t0\t6\t-\tprojects/x/a.jsonl\nD\t0\t7\t-\tprojects/x/b.jsonl\n\(a)\(b)"
        answer += "H\t\(shaA)\nH\t\(shaB)\n"
        answer += "S\tnew\t6\t1.0\t0\t\(shaA)\tprojects/x/a.jsonl\nS\tnew\t7\t1.0\t0\t\(shaB)\tprojects/x/b.jsonl\nEND\tok\n"
        bed.connection = HostileConnection(answer: answer.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t"))
        bed.scope = SyncScope(projects: [ProjectMapping(localSlug: "x", podSlug: "x")])
        let report = try bed.run(.pull)
        #expect(report.count(.copiedFromPod) == 2, "\(report.items)")
        #expect(SyncTestBed.read(bed.localClaude + "/projects/x/a.jsonl") == Data(a.utf8))
        #expect(SyncTestBed.read(bed.localClaude + "/projects/x/b.jsonl") == Data(b.utf8))
    }
}
