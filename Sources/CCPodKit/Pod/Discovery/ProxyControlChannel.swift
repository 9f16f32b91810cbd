import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Drives a PTY-only SSH proxy (RunPod's `<podId>-<hex>@ssh.runpod.io`) as a
/// control channel: `ssh -tt`, type one command line, read the answer printed
/// between two unique markers, `exit`.
///
/// The proxy is an interactive shell and nothing more: it prints banners and
/// prompts, echoes what is typed, turns `\n` into `\r\n` and sprinkles escape
/// sequences. It is not binary-safe, so answers are short text. The markers are
/// printed with `printf '%s%s\n' CCPOD- BEGIN-<token>`, so the echoed command line
/// (which shows `CCPOD- BEGIN-<token>`, with a space) never matches them.
public struct ProxyControlChannel: Sendable {
    /// `ssh` and its options, without the target (e.g. `["ssh", "-i", key, "-p", "22"]`).
    public var ssh: [String]
    /// `user@host` of the proxy.
    public var target: String
    /// The known_hosts file that must already hold the proxy's host key.
    public var knownHostsFile: String
    /// How long one `run` may take from start to answer.
    public var timeout: Duration

    /// What a command printed and how it exited on the far side.
    public struct Reply: Sendable, Equatable {
        /// Text between the markers, `\r` removed and escape sequences stripped.
        public var output: String
        /// The command's exit status in the proxy's shell.
        public var status: Int32
    }

    public init(ssh: [String], target: String, knownHostsFile: String, timeout: Duration = .seconds(20)) {
        self.ssh = ssh
        self.target = target
        self.knownHostsFile = knownHostsFile
        self.timeout = timeout
    }

    /// Runs `command` (one line of POSIX sh) in the proxy's shell and returns what it printed
    /// (stdout and stderr share the PTY). A non-zero exit status is not an error here; see `execute`.
    public func run(_ command: String, timeout: Duration) throws -> String {
        try execute(command, timeout: timeout).output
    }

    /// `run` with the channel's own timeout.
    public func run(_ command: String) throws -> String {
        try execute(command, timeout: timeout).output
    }

    /// The argv that opens the proxy session. Host key checking is strict against
    /// `knownHostsFile`; these options come first so they win over anything in `ssh`.
    public func arguments(timeout: Duration) -> [String] {
        let connectTimeout = max(1, Int(timeout.components.seconds))
        var argv = [ssh.first ?? "ssh"]
        argv += [
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=\(knownHostsFile)",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=\(connectTimeout)",
            "-o", "ControlPath=none",
            "-e", "none",
        ]
        argv += ssh.dropFirst()
        argv += ["-tt", "--", target]
        return argv
    }

    /// Runs `command` and returns its output and exit status. Throws `CCPodError` with
    /// exit 69 when the proxy cannot be reached or never prints the end marker in time
    /// (the ssh child is killed), and exit 64 for a command that is not one line.
    public func execute(_ command: String, timeout: Duration) throws -> Reply {
        guard !command.contains(where: { $0 == "\n" || $0 == "\r" }) else {
            throw CCPodError.usage("a proxy command must be a single line")
        }
        guard !target.isEmpty, !target.hasPrefix("-") else {
            throw CCPodError.usage("invalid proxy address '\(target)'; expected USER@HOST")
        }
        let token = String(format: "%016llx", UInt64.random(in: .min ... .max))
        let begin = Array("CCPOD-BEGIN-\(token)".utf8)
        let end = Array("CCPOD-END-\(token)".utf8)
        // A leading space keeps the line out of bash's history (HISTCONTROL=ignorespace).
        let line = " printf '%s%s\\n' CCPOD- BEGIN-\(token); ( \(command) ); "
            + "printf '\\n%s%s %s\\n' CCPOD- END-\(token) \"$?\"\r"

        let session = try ProxySession(arguments: arguments(timeout: timeout))
        defer { session.finish() }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        // Type only once the shell has printed something and gone quiet (banner, MOTD,
        // prompt), or after a while regardless: a PTY buffers typed-ahead input anyway.
        let typeAheadAt = clock.now + min(timeout / 2, .seconds(8))
        var lastOutput: ContinuousClock.Instant?
        var sent = false

        while true {
            let now = clock.now
            if !sent, (lastOutput.map { now - $0 >= .milliseconds(300) } ?? false) || now >= typeAheadAt {
                session.send(line)
                sent = true
            }
            if sent, let reply = ProxyControlChannel.extract(session.output, begin: begin, end: end) {
                session.send(" exit\r")
                session.closeInput()
                return reply
            }
            if now >= deadline {
                session.reap(grace: .zero)
                throw CCPodError.unavailable(
                    "the proxy \(target) did not answer within \(ProxyControlChannel.describe(timeout))"
                    + " (no reply marker seen); it may be down or not a shell. "
                    + ProxyControlChannel.tail(session))
            }
            var wait = deadline - now
            if !sent { wait = min(wait, .milliseconds(50)) }
            switch session.pump(for: wait) {
            case .stdout: lastOutput = clock.now
            case .other: break
            case .closed:
                if sent, let reply = ProxyControlChannel.extract(session.output, begin: begin, end: end) {
                    return reply
                }
                let status = session.reap(grace: .seconds(1))
                session.drainErrors(within: .seconds(1))
                throw ProxyControlChannel.explainExit(status: status, session: session, target: target)
            }
        }
    }

    // MARK: - Answer extraction

    /// Finds `begin…end STATUS\n` in the raw PTY output and returns the cleaned text in between.
    static func extract(_ raw: [UInt8], begin: [UInt8], end: [UInt8]) -> Reply? {
        guard let b = raw.firstRange(of: begin) else { return nil }
        guard let bodyStart = raw[b.upperBound...].firstIndex(of: UInt8(ascii: "\n")).map({ $0 + 1 }) else { return nil }
        guard let e = raw[bodyStart...].firstRange(of: end) else { return nil }
        guard let lineEnd = raw[e.upperBound...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let statusText = clean(Array(raw[e.upperBound..<lineEnd])).trimmingCharacters(in: .whitespaces)
        var body = clean(Array(raw[bodyStart..<e.lowerBound]))
        // The end marker is printed after a newline of its own so it always starts a line.
        if body.hasSuffix("\n") { body.removeLast() }
        return Reply(output: body, status: Int32(statusText) ?? -1)
    }

    /// Removes `\r`, ANSI CSI/OSC/other escape sequences and stray control characters.
    static func clean(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        let esc: UInt8 = 0x1b, bel: UInt8 = 0x07
        while i < bytes.count {
            let c = bytes[i]
            if c == esc {
                i += 1
                guard i < bytes.count else { break }
                switch bytes[i] {
                case UInt8(ascii: "["):  // CSI: parameters and intermediates, then a final byte 0x40–0x7E
                    i += 1
                    while i < bytes.count, !(0x40...0x7e).contains(bytes[i]) { i += 1 }
                    i += 1
                case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "_"), UInt8(ascii: "^"):
                    // OSC/DCS/APC/PM: up to BEL or ST (ESC \)
                    i += 1
                    while i < bytes.count {
                        if bytes[i] == bel { i += 1; break }
                        if bytes[i] == esc, i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\\") { i += 2; break }
                        i += 1
                    }
                case 0x20...0x2f:  // ESC with intermediates, e.g. ESC ( B
                    i += 1
                    while i < bytes.count, (0x20...0x2f).contains(bytes[i]) { i += 1 }
                    i += 1
                default:  // two-byte sequences: ESC =, ESC >, ESC 7 …
                    i += 1
                }
                continue
            }
            if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\t") || c >= 0x20 && c != 0x7f {
                out.append(c)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Errors

    static func explainExit(status: Int32, session: ProxySession, target: String) -> CCPodError {
        let err = String(decoding: session.errors, as: UTF8.self)
        let all = err + "\n" + clean(session.output)
        if all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            return CCPodError(.unavailable, "the proxy \(target) presented a host key that differs from the one in its known_hosts file; "
                              + "ccpod will not talk to it (possible man-in-the-middle attack)", sshFailure: .hostKeyChanged)
        }
        if all.contains("Host key verification failed") {
            return CCPodError(.unavailable, "the proxy \(target) presented a host key that is not in its known_hosts file; "
                              + "ccpod will not talk to it until its key is trusted", sshFailure: .hostKeyUnknown)
        }
        if all.contains("Permission denied") {
            return .unavailable("the proxy \(target) refused the SSH key; check the identity file and that the key is registered with RunPod")
        }
        if all.contains("doesn't support PTY") {
            return .unavailable("the proxy \(target) refused the session: it wants a PTY and did not get one")
        }
        if all.contains("Connection refused") || all.contains("timed out") || all.contains("Could not resolve") {
            return .unavailable("cannot reach the proxy \(target): \(lastLine(err))")
        }
        return .unavailable("the proxy \(target) closed the session (ssh exit \(status)) before answering. \(tail(session))")
    }

    static func tail(_ session: ProxySession) -> String {
        let text = (String(decoding: session.errors, as: UTF8.self) + clean(session.output))
            .split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ")
        guard !text.isEmpty else { return "Nothing was received." }
        return "Last received: \(text.suffix(240))"
    }

    static func lastLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).last.map(String.init) ?? "ssh failed"
    }

    static func describe(_ d: Duration) -> String {
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }
}

/// One `ssh -tt` child with its stdin (a socket, so writes to a dead child do not
/// raise SIGPIPE), stdout and stderr, and what was read so far.
final class ProxySession {
    enum Event { case stdout, other, closed }

    private let child: ChildProcess
    private var input: Int32
    private var outFD: Int32
    private var errFD: Int32
    private var reaped: Int32?
    private(set) var output: [UInt8] = []
    private(set) var errors: [UInt8] = []

    init(arguments: [String]) throws {
        var pair: [Int32] = [-1, -1]
        #if canImport(Glibc)
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let kind = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, kind, 0, &pair) == 0 else {
            throw CCPodError.io("cannot create a socket pair: \(String(cString: strerror(errno)))")
        }
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(pair[0], SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        let outPipe: Pipe2, errPipe: Pipe2
        do {
            outPipe = try Pipe2()
            errPipe = try Pipe2()
        } catch {
            close(pair[0]); close(pair[1])
            throw error
        }
        do {
            child = try ChildProcess.spawn(arguments[0], Array(arguments.dropFirst()),
                                           stdin: .fd(pair[1]), stdout: .fd(outPipe.write), stderr: .fd(errPipe.write))
        } catch {
            close(pair[0]); close(pair[1]); outPipe.closeBoth(); errPipe.closeBoth()
            throw error
        }
        close(pair[1]); outPipe.closeWrite(); errPipe.closeWrite()
        input = pair[0]
        outFD = outPipe.read
        errFD = errPipe.read
    }

    /// Writes a line to the session's terminal (best effort: a dead child is noticed by `pump`).
    func send(_ text: String) {
        guard input >= 0 else { return }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            #if canImport(Glibc)
            let n = bytes.withUnsafeBytes { Glibc.send(input, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #else
            let n = bytes.withUnsafeBytes { Darwin.send(input, $0.baseAddress, $0.count, 0) }
            #endif
            if n > 0 { bytes = bytes.dropFirst(n) } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }

    func closeInput() {
        guard input >= 0 else { return }
        shutdown(input, Int32(SHUT_WR))
    }

    /// Waits up to `duration` for output; returns what happened.
    func pump(for duration: Duration) -> Event {
        var fds = [pollfd]()
        if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
        if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
        if fds.isEmpty { return .closed }
        let ms = Int32(clamping: max(0, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
        let rc = poll(&fds, nfds_t(fds.count), ms)
        if rc <= 0 { return .other }
        var event = Event.other
        var buffer = [UInt8](repeating: 0, count: 16384)
        for p in fds where p.revents != 0 {
            let n = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
            if n > 0 {
                if p.fd == outFD { output += buffer[0..<n]; event = .stdout } else { errors += buffer[0..<n] }
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                close(p.fd)
                if p.fd == outFD { outFD = -1 } else { errFD = -1 }
            }
        }
        // ssh's stdout closing is what ends a session; stderr may linger a moment longer.
        return outFD < 0 ? .closed : event
    }

    /// Reads what is left on stderr once stdout closed (ssh writes its reason there last).
    func drainErrors(within limit: Duration) {
        let clock = ContinuousClock()
        let until = clock.now + limit
        while errFD >= 0, clock.now < until {
            var p = pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { read(errFD, $0.baseAddress, $0.count) }
            if n > 0 { errors += buffer[0..<n] } else if n == 0 || errno != EINTR { close(errFD); errFD = -1 }
        }
    }

    /// Waits up to `grace` for the child to exit, then terminates and finally kills it.
    /// Returns its exit status (128 + signal when killed).
    @discardableResult
    func reap(grace: Duration) -> Int32 {
        if let reaped { return reaped }
        let clock = ContinuousClock()
        var status: Int32 = 0
        var steps: [(Duration, Int32?)] = [(grace, nil), (.seconds(1), SIGTERM), (.seconds(5), SIGKILL)]
        while !steps.isEmpty {
            let (limit, signal) = steps.removeFirst()
            if let signal { kill(child.pid, signal) }
            let until = clock.now + limit
            while clock.now < until {
                let rc = waitpid(child.pid, &status, WNOHANG)
                if rc == child.pid {
                    let code = ProxySession.decode(status)
                    reaped = code
                    return code
                }
                if rc < 0 && errno != EINTR { reaped = -1; return -1 }
                usleep(10_000)
            }
        }
        let code = child.wait()
        reaped = code
        return code
    }

    /// Ends the session: the child is given a moment to leave after `exit`, then killed; every fd is closed.
    func finish() {
        reap(grace: .seconds(2))
        if input >= 0 { close(input); input = -1 }
        if outFD >= 0 { close(outFD); outFD = -1 }
        if errFD >= 0 { close(errFD); errFD = -1 }
    }

    private static func decode(_ status: Int32) -> Int32 {
        let low = status & 0x7f
        return low == 0 ? (status >> 8) & 0xff : 128 + low
    }
}
