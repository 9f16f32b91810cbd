import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pod controlled by an attacker, for black-box tests of the real `ccpod` binary.
///
/// A real OpenSSH server on loopback whose `ForceCommand` is a dispatcher: each session's
/// command (what ccpod asked for) is matched against queued crafted answers; the first
/// unused answer whose pattern occurs in the command is played (once), anything else runs
/// honestly. So `ccpod pod add`, probes and follow-up exchanges work, and exactly the
/// exchange a test aims at gets the crafted bytes.
///
/// Everything lives in one temporary folder: the laptop's HOME, XDG config and state
/// dirs, its Claude dir, the pod's Claude dir and workspace. Nothing reads or writes the
/// machine's own `~/.claude` or `~/.ssh`; the pod side runs with its own HOME too.
public final class HostilePod: @unchecked Sendable {
    /// What a session's command is recognised by (a substring of ccpod's remote command).
    public struct Exchange: Sendable, Hashable {
        public var pattern: String
        public init(_ pattern: String) { self.pattern = pattern }
        /// The sync agent (push, pull, sync, status).
        public static let agent = Exchange("ccpod-agent ")
        /// The artifacts agent (`ccpod artifacts`).
        public static let artifacts = Exchange("ccpod-artifacts ")
        /// The deploy script's listing of runs (`ccpod runs`).
        public static let runs = Exchange("ccpod-deploy list")
        /// The probe of `ccpod check` (it carries the setup script's check).
        public static let check = Exchange("ccpod-setup")
    }

    /// One thing the hostile pod does, in order.
    public enum Step: Sendable {
        /// Writes these bytes.
        case send(Data)
        /// Reads stdin until it ends (ccpod closes it after a request).
        case readRequest
        /// Reads stdin lines until one equals `line` (or stdin ends).
        case readUntil(line: String)
        /// Says nothing for this long, the connection open (a stalled pod).
        case silence(seconds: Int)
        /// Writes `line` and a newline forever.
        case endless(line: String)
        /// `count` bytes of zeros (or of `line` and a newline, again and again), compressed on
        /// the fly with `tool` (`zstd` or `gzip`, fastest level): a decompression bomb.
        case bomb(tool: String, count: Int64, line: String?)
        /// Runs the command ccpod asked for, honestly.
        case honest
    }

    /// A crafted answer: steps played in order, then the session ends with status 0.
    public struct Answer: Sendable {
        public var steps: [Step]
        public init(_ steps: [Step]) { self.steps = steps }
        public static func bytes(_ text: String) -> Step { .send(Data(text.utf8)) }
    }

    /// How a run of the real binary ended.
    public typealias Outcome = MeasuredRun

    public let sshd: LoopbackSSHD
    public let root: URL
    public let name: String
    /// The real binary.
    public let binary: String

    public var home: URL { root.appendingPathComponent("home") }
    public var configHome: URL { root.appendingPathComponent("config") }
    public var stateHome: URL { root.appendingPathComponent("state") }
    /// The laptop's Claude dir (`--claude-dir`).
    public var claudeDir: URL { root.appendingPathComponent("laptop-claude") }
    /// A project folder on the laptop (for project-scoped commands).
    public var projectDir: URL { root.appendingPathComponent("project") }
    /// The pod side: its Claude dir, workspace and persistent dir.
    public var podClaudeDir: URL { root.appendingPathComponent("pod/claude") }
    public var podWorkspace: URL { root.appendingPathComponent("pod/workspace") }
    public var podPersistent: URL { root.appendingPathComponent("pod/persistent") }
    var answersDir: URL { root.appendingPathComponent("answers") }
    private var answerCount = 0

    /// The built `ccpod` next to the test bundle (or a benchmark tool), or nil.
    public static let ccpodBinary: String? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("ccpod").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    /// Whether the parts are here: sshd and the built binary.
    public static var isAvailable: Bool { LoopbackSSHD.isAvailable && ccpodBinary != nil }

    /// Starts the server and adds it as pod `name` through the binary (`ccpod pod add --accept-new`).
    public init(name: String = "gpu") throws {
        guard let binary = Self.ccpodBinary else {
            throw NSError(domain: "HostilePod", code: 1, userInfo: [NSLocalizedDescriptionKey: "the ccpod binary was not built next to the tests"])
        }
        self.binary = binary
        self.name = name
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-h-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        for dir in ["home", "config", "state", "laptop-claude", "project", "pod/claude", "pod/workspace",
                    "pod/persistent", "pod/home", "answers"] {
            try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        let dispatcher = root.appendingPathComponent("dispatch.sh")
        try Self.dispatcher(answers: root.appendingPathComponent("answers").path, podHome: root.appendingPathComponent("pod/home").path)
            .write(to: dispatcher, atomically: true, encoding: .utf8)
        sshd = try LoopbackSSHD(behaviour: .init(forceCommand: "/bin/sh \(dispatcher.path)"))
        let added = try run(["pod", "add", name, "--direct", "\(sshd.user)@127.0.0.1:\(sshd.port)",
                             "--identity", sshd.clientKeyPath, "--accept-new",
                             "--claude-dir", podClaudeDir.path, "--workspace", podWorkspace.path,
                             "--persistent-dir", podPersistent.path,
                             "--ssh-option=-F", "--ssh-option=/dev/null"], hardLimit: 60)
        guard added.status == 0 else {
            throw NSError(domain: "HostilePod", code: 2, userInfo: [NSLocalizedDescriptionKey: "ccpod pod add failed: \(added.summary)"])
        }
    }

    deinit { shutdown() }

    /// Closes ccpod's ssh masters, stops the server, removes the folder.
    public func shutdown() {
        let cm = stateHome.appendingPathComponent("ccpod/cm").path
        for socket in (try? FileManager.default.contentsOfDirectory(atPath: cm)) ?? [] {
            _ = try? Self.spawnAndWait("/usr/bin/ssh", ["-F", "/dev/null", "-o", "ControlPath=\(cm)/\(socket)", "-O", "exit", "placeholder"],
                                       environment: ["PATH": "/usr/bin:/bin"], hardLimit: 10)
        }
        sshd.shutdown()
        if (try? FileManager.default.removeItem(at: root)) == nil {
            usleep(200_000)
            try? FileManager.default.removeItem(at: root)
        }
    }

    /// Queues `answer` for the next session whose command matches `exchange`.
    public func queue(_ answer: Answer, for exchange: Exchange) throws {
        answerCount += 1
        let id = String(format: "%04d", answerCount)
        var script = "set +e\n"
        for (n, step) in answer.steps.enumerated() {
            switch step {
            case .send(let data):
                let file = answersDir.appendingPathComponent("\(id).\(n).bin")
                try data.write(to: file)
                script += "cat '\(file.path)'\n"
            case .readRequest:
                script += "cat > /dev/null\n"
            case .readUntil(let line):
                script += "while IFS= read -r l; do [ \"$l\" = '\(line)' ] && break; done\n"
            case .silence(let seconds):
                script += "sleep \(seconds)\n"
            case .endless(let line):
                let file = answersDir.appendingPathComponent("\(id).\(n).line")
                try Data(line.utf8).write(to: file)
                script += "yes \"$(cat '\(file.path)')\"\n"
            case .bomb(let tool, let count, let line):
                var source = "cat /dev/zero"
                if let line {
                    let file = answersDir.appendingPathComponent("\(id).\(n).line")
                    try Data(line.utf8).write(to: file)
                    source = "yes \"$(cat '\(file.path)')\""
                }
                script += "\(source) | head -c \(count) | \(tool) -1 -c\n"
            case .honest:
                script += "exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n"
            }
        }
        script += "exit 0\n"
        try exchange.pattern.write(to: answersDir.appendingPathComponent("\(id).pattern"), atomically: true, encoding: .utf8)
        // Written last under its final name: the dispatcher only looks at `.sh` files.
        try script.write(to: answersDir.appendingPathComponent("\(id).tmp"), atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(at: answersDir.appendingPathComponent("\(id).tmp"),
                                         to: answersDir.appendingPathComponent("\(id).sh"))
    }

    /// The answers queued and not played yet.
    public var unplayed: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: answersDir.path)) ?? []).filter { $0.hasSuffix(".sh") }.count
    }

    /// The dispatcher sshd runs for every session: the first unplayed matching answer
    /// (claimed by a rename, so two sessions never play one), else the command itself.
    static func dispatcher(answers: String, podHome: String) -> String {
        """
        # ccpod hostile test pod: plays queued answers, runs anything else honestly.
        HOME='\(podHome)'
        export HOME
        cd "$HOME" || exit 1
        cmd=$SSH_ORIGINAL_COMMAND
        for a in '\(answers)'/*.sh; do
            [ -f "$a" ] || continue
            pat=$(cat "${a%.sh}.pattern" 2>/dev/null) || continue
            case "$cmd" in
                *"$pat"*) mv "$a" "$a.playing" 2>/dev/null && exec /bin/sh "$a.playing" ;;
            esac
        done
        exec /bin/sh -c "$cmd"

        """
    }

    /// The environment of the real binary: every folder inside this pod's temporary root.
    public func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                   "HOME": home.path,
                   "XDG_CONFIG_HOME": configHome.path,
                   "XDG_STATE_HOME": stateHome.path,
                   "LANG": "C.UTF-8"]
        env.merge(extra) { $1 }
        return env
    }

    /// Runs the real binary with `arguments` in this pod's isolated environment.
    /// `hardLimit` seconds and `memoryLimit` bytes are the harness's own guards: past
    /// them the child is killed (and the outcome says so), so a hanging or ballooning
    /// ccpod fails its test instead of hanging the run or the machine.
    public func run(_ arguments: [String], environment extra: [String: String] = [:],
                    hardLimit: Double = 45, memoryLimit: Int64 = 400 << 20, stderrIsTerminal: Bool = false,
                    started: (pid_t) -> Void = { _ in }) throws -> Outcome {
        try Self.spawnAndWait(binary, arguments, environment: environment(extra), directory: projectDir.path,
                              hardLimit: hardLimit, memoryLimit: memoryLimit, stderrIsTerminal: stderrIsTerminal, started: started)
    }

    /// Runs `executable` measured (see `MeasuredProcess.run`).
    public static func spawnAndWait(_ executable: String, _ arguments: [String], environment: [String: String],
                                    directory: String? = nil, hardLimit: Double = 45, memoryLimit: Int64 = 400 << 20,
                                    stderrIsTerminal: Bool = false, started: (pid_t) -> Void = { _ in }) throws -> Outcome {
        try MeasuredProcess.run(executable, arguments, environment: environment, directory: directory, hardLimit: hardLimit,
                                memoryLimit: memoryLimit, stderrIsTerminal: stderrIsTerminal, started: started)
    }
}

/// What a folder holds, path by path (relative), to compare before and after a command.
public struct FolderSnapshot: Sendable, Equatable {
    /// Relative path → "d", "l <target>" or "f <size> <FNV-1a of the content>".
    public var entries: [String: String]

    /// Walks `folder` without following links; a missing folder is empty.
    public init(_ folder: URL, skipping skip: (String) -> Bool = { _ in false }) {
        var entries: [String: String] = [:]
        let base = folder.path
        func walk(_ relative: String) {
            let path = relative.isEmpty ? base : base + "/" + relative
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
            for name in names {
                let rel = relative.isEmpty ? name : relative + "/" + name
                if skip(rel) { continue }
                var st = stat()
                guard lstat(base + "/" + rel, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    entries[rel] = "d"
                    walk(rel)
                case S_IFLNK:
                    entries[rel] = "l " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: base + "/" + rel)) ?? "?")
                default:
                    let data = FileManager.default.contents(atPath: base + "/" + rel) ?? Data()
                    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                    for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                    entries[rel] = "f \(st.st_size) \(String(hash, radix: 16))"
                }
            }
        }
        walk("")
        self.entries = entries
    }

    /// Paths added, removed or changed since `before`, sorted.
    public func changes(since before: FolderSnapshot) -> [String] {
        Set(entries.keys).union(before.entries.keys).filter { entries[$0] != before.entries[$0] }.sorted()
    }
}

/// Characters that must never reach a terminal raw from the pod.
public enum TerminalText {
    /// Descriptions of the unsafe characters in `data` (empty when it is safe): ESC and
    /// other C0 controls but tab, newline and carriage return, DEL, C1 controls (as UTF-8
    /// or as lone bytes) and the bidirectional overrides and isolates.
    public static func unsafeCharacters(in data: Data) -> [String] {
        var found: [String] = []
        let text = String(decoding: data, as: UTF8.self)
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let bad = (v < 0x20 && v != 0x09 && v != 0x0A && v != 0x0D) || v == 0x7F || (0x80...0x9F).contains(v)
                || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F || v == 0x061C
            if bad { found.append(String(format: "U+%04X", v)) }
        }
        // Bytes that are not UTF-8 (a lone 0x9B is CSI to a terminal reading 8-bit controls).
        if String(data: data, encoding: .utf8) == nil { found.append("bytes that are not UTF-8") }
        return found
    }
}

