import CCPodSystemShims
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts programs with exactly the file descriptors we give them (posix_spawn),
/// so no pipe end leaks into a child and EOF arrives when it should.
public struct ChildProcess: Sendable {
    public let pid: pid_t
    public let executable: String

    /// What to connect to a child's standard descriptor.
    public enum Stream: Sendable {
        /// The same descriptor ccpod has (a terminal stays a terminal).
        case inherit
        case null
        case fd(Int32)
    }

    /// The result of a finished child with collected output.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        /// The child ran past `run`'s time limit and was killed.
        public var timedOut = false
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Starts `executable` (a path, or a name looked up in `PATH`).
    public static func spawn(
        _ executable: String, _ arguments: [String],
        environment: [String: String]? = nil,
        directory: String? = nil,
        stdin: Stream = .null, stdout: Stream = .inherit, stderr: Stream = .inherit,
        newProcessGroup: Bool = false,
        newSession: Bool = false
    ) throws -> ChildProcess {
        // A child that exits early must not kill us when we write to it: writes fail with EPIPE instead.
        ignoreSIGPIPE()
        let path = try resolve(executable, environment: environment ?? ProcessInfo.processInfo.environment)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        func wire(_ stream: Stream, _ target: Int32, _ nullFlags: Int32) {
            switch stream {
            case .inherit: break
            case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", nullFlags, 0)
            case .fd(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        wire(stdin, 0, O_RDONLY)
        wire(stdout, 1, O_WRONLY)
        wire(stderr, 2, O_WRONLY)
        if let directory {
            _ = ccpod_spawn_addchdir(&actions, directory)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        #if canImport(Glibc)
        _ = ccpod_spawn_addclosefrom(&actions, 3)
        #endif
        // Children start with default signal handling (ccpod ignores SIGPIPE and, at times, SIGINT).
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        #if canImport(Glibc)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        #else
        var flags = Int32(POSIX_SPAWN_CLOEXEC_DEFAULT | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        #endif
        if newProcessGroup {
            // Its own process group, so the child and everything it starts can be signalled together.
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        }
        if newSession {
            // Detached from the caller's session and terminal (`setsid`): a hook's job
            // outlives Claude, and nothing Claude signals reaches it.
            flags |= ccpod_spawn_setsid_flag()
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = environment ?? ProcessInfo.processInfo.environment
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw CCPodError.failure("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        return ChildProcess(pid: pid, executable: executable)
    }

    /// Waits for the child; returns its exit code, or 128 + signal number when killed.
    @discardableResult
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let low = status & 0x7f
        if low == 0 { return (status >> 8) & 0xff }
        return 128 + low
    }

    /// Sends a signal to the child.
    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// Sends a signal to the child's process group (started with `newProcessGroup`).
    public func signalGroup(_ sig: Int32) { kill(-pid, sig) }

    /// Runs a program to completion, feeding `input` and collecting stdout and stderr.
    /// With `stdoutLimit`, a child that writes more than that to stdout is killed: the
    /// output then holds `stdoutLimit + 1` bytes or more (memory stays bounded whatever
    /// the child, or what feeds it, sends). With `timeout` (seconds), a child still
    /// running then is killed and the output says `timedOut`.
    public static func run(
        _ executable: String, _ arguments: [String],
        input: Data? = nil,
        environment: [String: String]? = nil,
        directory: String? = nil,
        stdoutLimit: Int? = nil,
        timeout: TimeInterval? = nil
    ) throws -> Output {
        let inPipe = try Pipe2()
        let outPipe = try Pipe2()
        let errPipe = try Pipe2()
        let child: ChildProcess
        do {
            child = try spawn(executable, arguments, environment: environment, directory: directory,
                              stdin: input == nil ? .null : .fd(inPipe.read),
                              stdout: .fd(outPipe.write), stderr: .fd(errPipe.write))
        } catch {
            inPipe.closeBoth(); outPipe.closeBoth(); errPipe.closeBoth()
            throw error
        }
        inPipe.closeRead(); outPipe.closeWrite(); errPipe.closeWrite()
        if input == nil { inPipe.closeWrite() }
        var out = Data(), err = Data()
        var pending = input ?? Data()
        var writeOffset = 0
        var inFD: Int32 = input == nil ? -1 : inPipe.write
        if inFD >= 0 { _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK) }
        var outFD = outPipe.read, errFD = errPipe.read
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
        defer { buffer.deallocate() }
        let deadline = timeout.map { ProcessInfo.processInfo.systemUptime + $0 }
        var timedOut = false
        while outFD >= 0 || errFD >= 0 || inFD >= 0 {
            if inFD >= 0 && writeOffset >= pending.count { close(inFD); inFD = -1; pending = Data(); continue }
            var fds = [pollfd]()
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            var wait: Int32 = -1
            if let deadline {
                let left = deadline - ProcessInfo.processInfo.systemUptime
                if left <= 0 {
                    // The child (and whatever keeps its pipes open) is out of time.
                    timedOut = true
                    kill(child.pid, SIGKILL)
                    for fd in [inFD, outFD, errFD] where fd >= 0 { close(fd) }
                    break
                }
                wait = Int32(min(left * 1000 + 1, 60_000))
            }
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 { continue }
            for p in fds where p.revents != 0 {
                if p.fd == inFD {
                    let n = pending.withUnsafeBytes { raw in
                        Glibc_write(inFD, raw.baseAddress! + writeOffset, raw.count - writeOffset)
                    }
                    if n > 0 { writeOffset += n } else if n < 0 && errno != EAGAIN && errno != EINTR {
                        close(inFD); inFD = -1
                    }
                } else {
                    let n = Glibc_read(p.fd, buffer.baseAddress!, buffer.count)
                    if n > 0 {
                        if p.fd == outFD {
                            out.append(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
                            if let stdoutLimit, out.count > stdoutLimit {
                                kill(child.pid, SIGKILL)
                                close(outFD); outFD = -1
                            }
                        } else if err.count < 1 << 20 {
                            err.append(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
                        }
                    } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                        close(p.fd)
                        if p.fd == outFD { outFD = -1 } else { errFD = -1 }
                    }
                }
            }
        }
        let status = child.wait()
        return Output(status: status, stdout: out, stderr: err, timedOut: timedOut)
    }

    private static let sigpipeIgnored: Bool = {
        #if canImport(Glibc)
        Glibc.signal(SIGPIPE, SIG_IGN)
        #else
        Darwin.signal(SIGPIPE, SIG_IGN)
        #endif
        return true
    }()

    static func ignoreSIGPIPE() { _ = sigpipeIgnored }

    /// Finds `name` in `PATH` unless it already contains a slash.
    public static func resolve(_ name: String, environment: [String: String]) throws -> String {
        if name.contains("/") { return name }
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw CCPodError.failure("\(name) was not found on PATH; install it and try again")
    }

    /// Whether `name` can be found on PATH.
    public static func exists(_ name: String) -> Bool {
        (try? resolve(name, environment: ProcessInfo.processInfo.environment)) != nil
    }
}

/// A pipe whose ends are close-on-exec (children get only what we dup2 into them).
public struct Pipe2: Sendable {
    public let read: Int32
    public let write: Int32

    public init() throws {
        var fds: [Int32] = [0, 0]
        let rc = ccpod_pipe_cloexec(&fds)
        guard rc == 0 else { throw CCPodError.io("cannot create a pipe: \(String(cString: strerror(rc)))") }
        read = fds[0]
        write = fds[1]
    }

    /// Asks the kernel for a larger buffer (Linux only; best effort). A stream of
    /// gigabytes through the default 64 KiB makes both ends wait on each other.
    public func enlarge(to bytes: Int32 = 1 << 20) {
        #if os(Linux)
        _ = fcntl(write, 1031 /* F_SETPIPE_SZ */, bytes)
        #endif
    }

    public func closeRead() { close(read) }
    public func closeWrite() { close(write) }
    public func closeBoth() { close(read); close(write) }
}
