import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP relay on 127.0.0.1 in front of a target port, to give tests the conditions
/// of a pod across the internet: every chunk is delivered `delay` seconds after it
/// was read (one way, pipelined, so a round trip costs about 2 × delay without
/// limiting throughput), bytes are counted in each direction, and a connection can
/// be cut after N bytes. A bandwidth limit per direction (`rateLimit`) makes it a
/// bottleneck link: chunks leave one after another at that rate (shared by every
/// connection, as one access link is) and then take the delay, and at most
/// `queueLimit` bytes wait per direction of a connection, so a sender feels the
/// link as TCP's flow control would let it. Handles many connections at once;
/// `stop()` ends them all.
///
/// Connect with `ssh -p relay.port` (the host key alias keeps the pinned key valid).
/// Always call `stop()`: the relay's threads keep it alive until then.
public final class TCPRelay: @unchecked Sendable {
    /// When to drop a connection.
    public enum Cut: Sendable, Equatable {
        /// After this many bytes in both directions together.
        case afterTotalBytes(Int)
        /// After this many bytes from the client to the target.
        case afterUpstreamBytes(Int)
        /// After this many bytes from the target to the client.
        case afterDownstreamBytes(Int)
    }

    /// The port the relay listens on (127.0.0.1).
    public let port: Int
    public let targetHost: String
    public let targetPort: Int

    private let lock = NSLock()
    private var _delay: TimeInterval
    private var _upBitsPerSecond: Int?
    private var _downBitsPerSecond: Int?
    /// When the shared link of each direction is free again (uptime nanoseconds).
    private var _upFreeAt: UInt64 = 0
    private var _downFreeAt: UInt64 = 0
    private var _cut: Cut?
    private var _up = 0
    private var _down = 0
    private var _accepted = 0
    private var _cuts = 0
    private var _stopped = false
    private var connections: [ObjectIdentifier: Connection] = [:]
    private let listenFD: Int32
    private let threads = DispatchGroup()

    /// Starts relaying from a free port on 127.0.0.1 to `targetHost:targetPort` (IPv4).
    public init(targetPort: Int, targetHost: String = "127.0.0.1", delay: TimeInterval = 0, cut: Cut? = nil) throws {
        self.targetHost = targetHost
        self.targetPort = targetPort
        self._delay = delay
        self._cut = cut
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TCPRelay.failure("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = TCPRelay.address("127.0.0.1", 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw TCPRelay.failure("bind/listen") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.listenFD = fd
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        spawn { [self] in acceptLoop() }
    }

    deinit { stop() }

    // MARK: - Settings and counters (thread-safe)

    /// One-way delay per chunk, for chunks read from now on.
    public var delay: TimeInterval {
        get { lock.withLock { _delay } }
        set { lock.withLock { _delay = newValue } }
    }

    /// A bandwidth limit in bits per second from clients to the target (`up`) and back
    /// (`down`); nil is unlimited. Applies to chunks read from now on.
    public var rateLimit: (up: Int?, down: Int?) {
        get { lock.withLock { (_upBitsPerSecond, _downBitsPerSecond) } }
        set {
            lock.withLock {
                _upBitsPerSecond = newValue.up.flatMap { $0 > 0 ? $0 : nil }
                _downBitsPerSecond = newValue.down.flatMap { $0 > 0 ? $0 : nil }
            }
        }
    }

    /// Bytes a direction of one connection may hold waiting for the link (a router's
    /// buffer); the relay stops reading from the sender until they drain.
    public static let queueLimit = 1 << 20

    /// The cut rule for connections accepted from now on.
    public var cut: Cut? {
        get { lock.withLock { _cut } }
        set { lock.withLock { _cut = newValue } }
    }

    /// Bytes delivered from clients to the target.
    public var bytesUpstream: Int { lock.withLock { _up } }
    /// Bytes delivered from the target to clients.
    public var bytesDownstream: Int { lock.withLock { _down } }
    /// Connections accepted so far.
    public var connectionsAccepted: Int { lock.withLock { _accepted } }
    /// Connections dropped by the cut rule.
    public var connectionsCut: Int { lock.withLock { _cuts } }
    /// Connections open now.
    public var activeConnections: Int { lock.withLock { connections.count } }

    /// Sets the byte and connection counters to zero.
    public func resetCounters() {
        lock.withLock { _up = 0; _down = 0; _accepted = 0; _cuts = 0 }
    }

    /// Drops every open connection now (the listener stays up).
    public func dropAll() {
        let open = lock.withLock { Array(connections.values) }
        open.forEach { $0.abort() }
    }

    /// Stops listening, drops every connection and waits for the relay's threads to end.
    public func stop() {
        let open: [Connection] = lock.withLock {
            if _stopped { return [] }
            _stopped = true
            return Array(connections.values)
        }
        open.forEach { $0.abort() }
        _ = threads.wait(timeout: .now() + 10)
    }

    private var stopped: Bool { lock.withLock { _stopped } }

    // MARK: - Internals

    private func spawn(_ body: @escaping @Sendable () -> Void) {
        threads.enter()
        let group = threads
        let thread = Thread {
            body()
            group.leave()
        }
        thread.start()
    }

    private func acceptLoop() {
        defer { close(listenFD) }
        while !stopped {
            var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 50)
            if ready <= 0 { continue }
            let client = accept(listenFD, nil, nil)
            if client < 0 { continue }
            TCPRelay.noSigPipe(client)
            TCPRelay.noDelay(client)
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            TCPRelay.noDelay(server)
            var addr = TCPRelay.address(targetHost, targetPort)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                // Nothing at the target: the client sees its connection closed.
                close(server)
                close(client)
                continue
            }
            TCPRelay.noSigPipe(server)
            let connection: Connection? = lock.withLock {
                if _stopped { return nil }
                _accepted += 1
                let c = Connection(client: client, server: server, cut: _cut, relay: self)
                connections[ObjectIdentifier(c)] = c
                return c
            }
            guard let connection else { close(client); close(server); return }
            for direction in [Direction.up, Direction.down] {
                let queue = ChunkQueue()
                spawn { connection.read(direction, into: queue) }
                spawn { connection.write(direction, from: queue) }
            }
        }
    }

    fileprivate enum Direction: Sendable { case up, down }

    fileprivate func currentDelay() -> TimeInterval { lock.withLock { _delay } }

    /// When `n` bytes read now arrive at the far end: after the link of that direction
    /// has sent everything queued before them at its rate, and then the delay.
    fileprivate func deliveryTime(_ n: Int, _ direction: Direction) -> DispatchTime {
        lock.withLock {
            let now = DispatchTime.now().uptimeNanoseconds
            let delay = UInt64(max(0, _delay) * 1e9)
            guard let rate = direction == .up ? _upBitsPerSecond : _downBitsPerSecond else {
                return DispatchTime(uptimeNanoseconds: now + delay)
            }
            let start = max(now, direction == .up ? _upFreeAt : _downFreeAt)
            let sent = start + UInt64(Double(n) * 8 / Double(rate) * 1e9)
            if direction == .up { _upFreeAt = sent } else { _downFreeAt = sent }
            return DispatchTime(uptimeNanoseconds: sent + delay)
        }
    }

    fileprivate func delivered(_ n: Int, _ direction: Direction) {
        lock.withLock {
            if direction == .up { _up += n } else { _down += n }
        }
    }

    fileprivate func finished(_ c: Connection, wasCut: Bool) {
        lock.withLock {
            connections[ObjectIdentifier(c)] = nil
            if wasCut { _cuts += 1 }
        }
    }

    /// Chunks waiting for their delivery time, for one direction of one connection.
    fileprivate final class ChunkQueue: @unchecked Sendable {
        enum Item { case data(Data, deliverAt: DispatchTime), end(cut: Bool) }
        private let condition = NSCondition()
        private var items: [Item] = []
        private var queued = 0
        private var closed = false

        /// Waits while the queue holds `TCPRelay.queueLimit` bytes or more (unless the
        /// writer is gone), then adds the item.
        func push(_ item: Item) {
            condition.lock()
            while queued >= TCPRelay.queueLimit && !closed { condition.wait() }
            if case .data(let data, _) = item { queued += data.count }
            items.append(item)
            condition.broadcast()
            condition.unlock()
        }

        func pop() -> Item {
            condition.lock()
            defer { condition.unlock() }
            while items.isEmpty { condition.wait() }
            let item = items.removeFirst()
            if case .data(let data, _) = item { queued -= data.count }
            condition.broadcast()
            return item
        }

        /// The writer ended: a reader waiting for room goes on (what it adds is dropped).
        func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }
    }

    /// One relayed connection: two directions, each a reader and a writer thread.
    fileprivate final class Connection: @unchecked Sendable {
        let client: Int32
        let server: Int32
        let cut: Cut?
        let relay: TCPRelay
        private let lock = NSLock()
        private var counted = 0
        private var wasCut = false
        private var aborted = false
        private var threadsLeft = 4

        init(client: Int32, server: Int32, cut: Cut?, relay: TCPRelay) {
            self.client = client
            self.server = server
            self.cut = cut
            self.relay = relay
        }

        /// Ends both sockets now; blocked reads return and writers stop.
        func abort() {
            lock.withLock { aborted = true }
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(server, Int32(SHUT_RDWR))
        }

        private var isAborted: Bool { lock.withLock { aborted } }

        /// How many of `n` bytes just read may pass, and whether the cut is reached.
        private func allowance(_ n: Int, _ direction: Direction) -> (Int, Bool) {
            lock.withLock {
                guard let cut else { return (n, false) }
                let limit: Int
                switch cut {
                case .afterTotalBytes(let l): limit = l
                case .afterUpstreamBytes(let l): guard direction == .up else { return (wasCut ? 0 : n, wasCut) }; limit = l
                case .afterDownstreamBytes(let l): guard direction == .down else { return (wasCut ? 0 : n, wasCut) }; limit = l
                }
                if wasCut { return (0, true) }
                let allowed = max(0, min(n, limit - counted))
                counted += allowed
                if counted >= limit { wasCut = true; return (allowed, true) }
                return (allowed, false)
            }
        }

        func read(_ direction: Direction, into queue: ChunkQueue) {
            let from = direction == .up ? client : server
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32768, alignment: 8)
            defer { buffer.deallocate(); threadDone() }
            while true {
                let n = recv(from, buffer.baseAddress!, buffer.count, 0)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 || isAborted { queue.push(.end(cut: false)); return }
                let (allowed, reachedCut) = allowance(n, direction)
                if allowed > 0 {
                    let deliverAt = relay.deliveryTime(allowed, direction)
                    queue.push(.data(Data(bytes: buffer.baseAddress!, count: allowed), deliverAt: deliverAt))
                }
                if reachedCut { queue.push(.end(cut: true)); return }
            }
        }

        func write(_ direction: Direction, from queue: ChunkQueue) {
            let to = direction == .up ? server : client
            defer { queue.close(); threadDone() }
            while true {
                switch queue.pop() {
                case .data(let data, let deliverAt):
                    let now = DispatchTime.now()
                    if deliverAt > now {
                        usleep(useconds_t(min((deliverAt.uptimeNanoseconds - now.uptimeNanoseconds) / 1000, 10_000_000)))
                    }
                    if isAborted { continue }
                    let ok = data.withUnsafeBytes { raw -> Bool in
                        var offset = 0
                        while offset < raw.count {
                            let n = send(to, raw.baseAddress! + offset, raw.count - offset, TCPRelay.sendFlags)
                            if n < 0 { if errno == EINTR { continue }; return false }
                            offset += n
                        }
                        return true
                    }
                    if ok { relay.delivered(data.count, direction) } else { abort() }
                case .end(let cut):
                    if cut { abort() } else { shutdown(to, Int32(SHUT_WR)) }
                    return
                }
            }
        }

        private func threadDone() {
            let last = lock.withLock { threadsLeft -= 1; return threadsLeft == 0 }
            guard last else { return }
            close(client)
            close(server)
            relay.finished(self, wasCut: lock.withLock { wasCut })
        }
    }

    #if canImport(Glibc)
    fileprivate static let sendFlags = Int32(MSG_NOSIGNAL)
    #else
    fileprivate static let sendFlags: Int32 = 0
    #endif

    /// Each chunk leaves as soon as its time comes, as on a wire. Without this the kernel
    /// holds a small chunk while an earlier one is not yet acknowledged (Nagle), and the
    /// ssh at the other end acknowledges late when it has nothing to send (delayed ACK,
    /// 40 ms on Linux): a stall the link would not have, met by some runs and not others.
    /// ssh and sshd set TCP_NODELAY on their own sockets for the same reason.
    private static func noDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func noSigPipe(_ fd: Int32) {
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    private static func address(_ host: String, _ port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host)
        return addr
    }

    private static func failure(_ what: String) -> NSError {
        NSError(domain: "TCPRelay", code: Int(errno),
                userInfo: [NSLocalizedDescriptionKey: "\(what) failed: \(String(cString: strerror(errno)))"])
    }
}
