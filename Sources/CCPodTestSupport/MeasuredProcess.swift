import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a measured run of a program ended.
public struct MeasuredRun: Sendable {
    /// Exit status when it exited.
    public var status: Int32?
    /// The signal that ended it, when one did (also a kill by this harness).
    public var signal: Int32?
    /// Peak resident memory of the process (and of children it waited for): wait4()'s `ru_maxrss`.
    public var peakRSSBytes: Int64
    /// Wall time until it ended.
    public var seconds: Double
    /// Whether the harness had to kill it (over its hard time or memory limit).
    public var killedByHarness: String?
    /// The first and last 512 KB of each stream, and how long each was.
    public var stdout: Data
    public var stderr: Data
    public var stderrBytes: Int64 = 0
    public var stdoutBytes: Int64 = 0
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var summary: String {
        let end = status.map { "exit \($0)" } ?? "signal \(signal ?? -1)"
        let killed = killedByHarness.map { ", killed by the harness: \($0)" } ?? ""
        return "\(end) after \(String(format: "%.1f", seconds)) s, peak RSS \(peakRSSBytes / 1_048_576) MB\(killed); stderr: \(String(stderrText.suffix(400)))"
    }
}

/// Runs a program the way the hostile-pod tests judge it: exit or signal, wall time,
/// peak memory, bounded output, and a hard stop so a hanging or ballooning program
/// fails its test instead of hanging the run or the machine.
public enum MeasuredProcess {
    /// Spawns `executable` in a process group of its own, stdout and stderr to files (or
    /// stderr to a pseudo-terminal), and waits for its exit status and peak RSS.
    ///
    /// Peak RSS is wait4()'s `ru_maxrss` of the ccpod process, taken by GNU time
    /// (`/usr/bin/time -f %M`), which forks it: `ru_maxrss` of a process spawned straight
    /// from here starts at this test process's own high-water mark (posix_spawn shares our
    /// memory until exec, and exec keeps the larger figure), so a big test run would make
    /// every command look big. Without GNU time, the peak of VmHWM sampled from /proc.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                           directory: String? = nil, hardLimit: Double = 45, memoryLimit: Int64 = 400 << 20,
                           stderrIsTerminal: Bool = false, started: (pid_t) -> Void = { _ in }) throws -> MeasuredRun {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-run-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outPath = scratch.appendingPathComponent("stdout").path
        let errPath = scratch.appendingPathComponent("stderr").path
        let rssPath = scratch.appendingPathComponent("rusage").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var terminal: PseudoTerminal?
        if stderrIsTerminal {
            let pty = try PseudoTerminal()
            posix_spawn_file_actions_adddup2(&actions, pty.replica, 2)
            terminal = pty
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        // The child changes directory itself (posix_spawn has no portable chdir, and this
        // process's own directory is shared by every test running at once): sh execs it.
        var command = directory.map { ["/bin/sh", "-c", "cd \"$0\" || exit 127; exec \"$@\"", $0, executable] } ?? [executable]
        let timed = FileManager.default.isExecutableFile(atPath: "/usr/bin/time")
        if timed { command = ["/usr/bin/time", "-f", "%M", "-o", rssPath] + command }
        var argv: [UnsafeMutablePointer<CChar>?] = (command + arguments).map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let start = Date()
        let rc = posix_spawn(&pid, command[0], &actions, &attributes, &argv, &envp)
        guard rc == 0 else {
            terminal?.close()
            throw NSError(domain: "HostilePod", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable): \(String(cString: strerror(rc)))"])
        }
        started(pid)
        terminal?.closeReplica()
        let drained = terminal.map { $0.drain() }

        var status: Int32 = 0
        var usage = rusage()
        var killed: String?
        var sampledPeak: Int64 = 0
        var lastSample = Date.distantPast
        while true {
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            let now = Date()
            if now.timeIntervalSince(lastSample) > 0.05 {
                lastSample = now
                let (rss, hwm) = groupMemory(pid, skipping: timed ? pid : nil)
                sampledPeak = max(sampledPeak, hwm)
                if killed == nil && rss > memoryLimit {
                    killed = "resident memory passed \(memoryLimit >> 20) MB"
                    kill(-pid, SIGKILL)
                }
            }
            if killed == nil && now.timeIntervalSince(start) > hardLimit {
                killed = "still running after \(Int(hardLimit)) s"
                kill(-pid, SIGKILL)
            }
            usleep(10_000)
        }
        // Whatever it left behind in its group (a stalled ssh) goes too.
        kill(-pid, SIGKILL)
        let seconds = Date().timeIntervalSince(start)
        var exitStatus: Int32? = (status & 0x7f) == 0 ? (status >> 8) & 0xff : nil
        var signal: Int32? = (status & 0x7f) == 0 ? nil : status & 0x7f
        var peak = sampledPeak
        if timed, let report = try? String(contentsOfFile: rssPath, encoding: .utf8) {
            // GNU time: "Command terminated by signal N" when it was, then the peak in KB.
            let lines = report.split(separator: "\n")
            if let kb = lines.last.flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }) { peak = kb * 1024 }
            if let line = lines.first(where: { $0.hasPrefix("Command terminated by signal ") }),
               let n = Int32(line.split(separator: " ").last ?? "") {
                signal = n
                exitStatus = nil
            }
        }
        let stderr = drained.map { $0() } ?? readBounded(errPath)
        terminal?.close()
        return MeasuredRun(status: exitStatus, signal: signal, peakRSSBytes: peak, seconds: seconds, killedByHarness: killed,
                       stdout: readBounded(outPath), stderr: stderr, stderrBytes: fileSize(errPath) ?? Int64(stderr.count),
                       stdoutBytes: fileSize(outPath) ?? 0)
    }

    /// The first and last 512 KB of a file: an endless output must not fill this process.
    static func readBounded(_ path: String) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { return Data() }
        defer { try? handle.close() }
        let size = fileSize(path) ?? 0
        let half = 512 * 1024
        if size <= Int64(2 * half) { return (try? handle.readToEnd()) ?? Data() }
        let head = (try? handle.read(upToCount: half)) ?? Data()
        try? handle.seek(toOffset: UInt64(size) - UInt64(half))
        let tail = (try? handle.read(upToCount: half)) ?? Data()
        return head + Data("\n[…]\n".utf8) + tail
    }

    static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    /// The largest VmRSS and VmHWM (bytes) among the processes of group `group` (Linux /proc).
    static func groupMemory(_ group: pid_t, skipping: pid_t?) -> (rss: Int64, hwm: Int64) {
        var rss: Int64 = 0, hwm: Int64 = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), pid != skipping else { continue }
            guard getpgid(pid) == group else { continue }
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") || line.hasPrefix("VmHWM:") {
                let kb = (line.split(separator: " ").dropFirst().first.flatMap { Int64($0) } ?? 0) * 1024
                if line.hasPrefix("VmRSS:") { rss = max(rss, kb) } else { hwm = max(hwm, kb) }
            }
        }
        return (rss, hwm)
    }
}

/// A pseudo-terminal whose replica becomes a child's stderr (so ccpod draws its progress line).
final class PseudoTerminal: @unchecked Sendable {
    let primary: Int32
    let replica: Int32

    init() throws {
        #if canImport(Glibc)
        // Glibc's module leaves out grantpt/unlockpt/ptsname: unlock and name the pair with ioctl.
        primary = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard primary >= 0, ioctl(primary, UInt(0x4004_5431) /* TIOCSPTLCK */, &unlock) == 0,
              ioctl(primary, UInt(0x8004_5430) /* TIOCGPTN */, &number) == 0 else {
            throw NSError(domain: "HostilePod", code: 3, userInfo: [NSLocalizedDescriptionKey: "no pseudo-terminal"])
        }
        let name = "/dev/pts/\(number)"
        #else
        primary = posix_openpt(O_RDWR | O_NOCTTY)
        guard primary >= 0, grantpt(primary) == 0, unlockpt(primary) == 0, let pts = ptsname(primary) else {
            throw NSError(domain: "HostilePod", code: 3, userInfo: [NSLocalizedDescriptionKey: "no pseudo-terminal"])
        }
        let name = String(cString: pts)
        #endif
        replica = open(name, O_RDWR | O_NOCTTY)
        guard replica >= 0 else { throw NSError(domain: "HostilePod", code: 3, userInfo: [NSLocalizedDescriptionKey: "no pseudo-terminal"]) }
        _ = fcntl(primary, F_SETFD, FD_CLOEXEC)
        _ = fcntl(replica, F_SETFD, FD_CLOEXEC)
    }

    private var replicaOpen = true
    func closeReplica() { if replicaOpen { closeDescriptor(replica); replicaOpen = false } }
    func close() { closeReplica() }

    /// Reads the terminal's output on a thread (at most 1 MB kept); the closure waits for its end.
    func drain() -> @Sendable () -> Data {
        let fd = primary
        let box = DrainBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }  // EIO once every replica is closed
                box.append(buffer[0..<n])
            }
            closeDescriptor(fd)
            done.signal()
        }
        return {
            done.wait()
            return box.data
        }
    }

    final class DrainBox: @unchecked Sendable {
        private let lock = NSLock()
        private var bytes = Data()
        func append(_ slice: ArraySlice<UInt8>) {
            lock.lock(); defer { lock.unlock() }
            if bytes.count < 1 << 20 { bytes.append(contentsOf: slice) }
        }
        var data: Data { lock.lock(); defer { lock.unlock() }; return bytes }
    }
}

/// close(2), named apart from the methods called `close`.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }

