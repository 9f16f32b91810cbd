import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let noSignal = Int32(MSG_NOSIGNAL)
#else
private let noSignal: Int32 = 0
#endif

/// A loopback echo server (or sink, with `echo: false`) for relay tests. Records what it received.
final class EchoServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var _received = 0
    private var stopped = false
    let echo: Bool

    var received: Int { lock.withLock { _received } }

    init(echo: Bool = true) throws {
        self.echo = echo
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, len) } }
        listen(sock, 64)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
        fd = sock
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in
            while true {
                let c = accept(sock, nil, nil)
                if c < 0 { return }
                Thread { [self] in serve(c) }.start()
            }
        }.start()
    }

    private func serve(_ c: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(c, &buffer, buffer.count, 0)
            if n <= 0 { break }
            lock.withLock { _received += n }
            if echo {
                var off = 0
                while off < n {
                    let w = buffer.withUnsafeBytes { send(c, $0.baseAddress! + off, n - off, noSignal) }
                    if w <= 0 { close(c); return }
                    off += w
                }
            }
        }
        close(c)
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

/// A blocking test client.
struct Client {
    let fd: Int32

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { close(fd); throw CCPodError.failure("connect failed") }
        self.fd = fd
    }

    /// Sends everything; false when the connection broke.
    @discardableResult
    func sendAll(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, noSignal)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
    }

    /// Reads exactly `count` bytes, or fewer at end of stream.
    func receive(_ count: Int) -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while out.count < count {
            let n = recv(fd, &buffer, min(buffer.count, count - out.count), 0)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
    func disconnect() { close(fd) }
}

/// Waits up to 5 s for `condition` (relay counters are updated just after a send returns).
private func eventually(_ condition: () -> Bool) {
    for _ in 0..<500 where !condition() { usleep(10_000) }
}

@Suite struct TCPRelayTests {
    @Test func relaysAndCountsBothDirections() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let relay = try TCPRelay(targetPort: echo.port)
        defer { relay.stop() }
        let client = try Client(port: relay.port)
        let payload = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 31) })
        #expect(client.sendAll(payload))
        #expect(client.receive(payload.count) == payload)
        client.disconnect()
        eventually { relay.bytesDownstream == payload.count }
        #expect(relay.bytesUpstream == payload.count)
        #expect(relay.bytesDownstream == payload.count)
        #expect(relay.connectionsAccepted == 1)
    }

    @Test func aRoundTripCostsTwiceTheDelay() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let relay = try TCPRelay(targetPort: echo.port, delay: 0.1)
        defer { relay.stop() }
        let client = try Client(port: relay.port)
        defer { client.disconnect() }
        let start = Date()
        client.sendAll(Data("ping".utf8))
        #expect(client.receive(4) == Data("ping".utf8))
        let rtt = Date().timeIntervalSince(start)
        #expect(rtt >= 0.2)
        // Upper bounds far from the expected 0.2 s: they tell a delay from none, on a loaded machine too.
        #expect(rtt < 1.5)
        // Delay is pipelined: many chunks do not each add a round trip (20 round trips would take 4 s).
        let start2 = Date()
        for _ in 0..<20 { client.sendAll(Data(repeating: 1, count: 1000)) }
        #expect(client.receive(20_000).count == 20_000)
        #expect(Date().timeIntervalSince(start2) < 2.5)
    }

    /// A limited link cannot be faster than its rate: 1.5 MB up at 8 Mbit/s takes at least
    /// 1.5 s (a loaded machine only makes it slower), and the relay holds at most its queue
    /// limit, so the sender is held back rather than buffered without bound.
    @Test func aRateLimitPacesTheLinkAndHoldsTheSenderBack() throws {
        let sink = try EchoServer(echo: false)
        defer { sink.stop() }
        let relay = try TCPRelay(targetPort: sink.port)
        defer { relay.stop() }
        relay.rateLimit = (up: 8_000_000, down: nil)
        let client = try Client(port: relay.port)
        defer { client.disconnect() }
        let start = Date()
        let sender = Thread { _ = client.sendAll(Data(repeating: 3, count: 1_500_000)) }
        sender.start()
        usleep(500_000)
        // After 0.5 s at 1 MB/s: about 0.5 MB delivered, never more than 0.5 MB + what one read adds.
        #expect(relay.bytesUpstream <= 500_000 + 64 * 1024)
        for _ in 0..<1000 where sink.received < 1_500_000 { usleep(10_000) }
        #expect(sink.received == 1_500_000)
        #expect(Date().timeIntervalSince(start) >= 1.45)
        // The other direction is not limited, and the limit can be lifted.
        relay.rateLimit = (up: nil, down: nil)
        #expect(relay.rateLimit.up == nil)
    }

    @Test func cutsAfterNUpstreamBytes() throws {
        let sink = try EchoServer(echo: false)
        defer { sink.stop() }
        let relay = try TCPRelay(targetPort: sink.port, cut: .afterUpstreamBytes(5000))
        defer { relay.stop() }
        let client = try Client(port: relay.port)
        defer { client.disconnect() }
        for _ in 0..<10 { client.sendAll(Data(repeating: 7, count: 1000)); usleep(2000) }
        // The relay closes the client side: a read ends.
        #expect(client.receive(1).isEmpty)
        for _ in 0..<100 where sink.received < 5000 { usleep(10_000) }
        #expect(sink.received == 5000)
        #expect(relay.bytesUpstream == 5000)
        for _ in 0..<100 where relay.connectionsCut == 0 { usleep(10_000) }
        #expect(relay.connectionsCut == 1)
    }

    @Test func cutsAfterNBytesInBothDirections() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let relay = try TCPRelay(targetPort: echo.port, cut: .afterTotalBytes(3000))
        defer { relay.stop() }
        let client = try Client(port: relay.port)
        defer { client.disconnect() }
        client.sendAll(Data(repeating: 1, count: 1000))
        #expect(client.receive(1000).count == 1000)
        client.sendAll(Data(repeating: 2, count: 2000))
        // 2000 in total already; 1000 more may pass, then the connection is dropped.
        let rest = client.receive(2000)
        #expect(rest.count == 0 || rest.count == 1000)
        eventually { relay.connectionsCut == 1 && relay.bytesUpstream + relay.bytesDownstream == 3000 }
        #expect(relay.bytesUpstream + relay.bytesDownstream == 3000)
        #expect(relay.connectionsCut == 1)
    }

    @Test func manyConnectionsAtOnce() async throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let relay = try TCPRelay(targetPort: echo.port, delay: 0.01)
        defer { relay.stop() }
        let port = relay.port
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let c = try Client(port: port)
                    defer { c.disconnect() }
                    let payload = Data(repeating: UInt8(i), count: 50_000)
                    let sender = Thread { c.sendAll(payload) }
                    sender.start()
                    return c.receive(payload.count) == payload
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 8))
        #expect(relay.connectionsAccepted == 8)
        eventually { relay.bytesDownstream == 400_000 }
        #expect(relay.bytesUpstream == 400_000)
        #expect(relay.bytesDownstream == 400_000)
    }

    @Test func stopEndsConnectionsAndListening() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let relay = try TCPRelay(targetPort: echo.port)
        let client = try Client(port: relay.port)
        defer { client.disconnect() }
        client.sendAll(Data("x".utf8))
        #expect(client.receive(1).count == 1)
        relay.stop()
        #expect(client.receive(1).isEmpty)
        #expect(relay.activeConnections == 0)
        #expect(throws: (any Error).self) { try Client(port: relay.port) }
    }
}

@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed"))
struct SSHThroughRelayTests {
    @Test func aWarmCallCostsOneRoundTripAndACutIsExplained() throws {
        let t = try SSHTestPod()
        defer { withExtendedLifetime(t) {} }
        try t.add()
        let relay = try TCPRelay(targetPort: t.sshd.port, delay: 0.05)
        defer { relay.stop() }
        let ssh = try t.connection(environment: ["RUNPOD_PORT": String(relay.port)])
        #expect(try ssh.runCommand("echo warm").stdoutText == "warm\n")
        #expect(try ssh.runCommand("echo again").stdoutText == "again\n")
        // One exec on the master, not a new handshake: still the one TCP connection
        // (counted, not timed: a loaded machine must not fail this).
        #expect(relay.connectionsAccepted == 1)
        #expect(relay.bytesDownstream > 0)

        relay.cut = .afterDownstreamBytes(20_000)
        relay.dropAll()
        let (args, _) = try ssh.invocation(remoteCommand: "head -c 1000000 /dev/zero")
        let out = try ChildProcess.run(args[0], Array(args.dropFirst()))
        #expect(out.stdout.count < 1_000_000)
        let error = ssh.explainFailure(status: out.status, stderr: out.stderrText)
        #expect(error?.status == .unavailable, "status \(out.status), stderr: \(out.stderrText.debugDescription)")
    }
}
