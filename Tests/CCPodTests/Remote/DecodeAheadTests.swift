@testable import CCPodKit
import CCPodTestSupport
import Crypto
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A zstd answer decoded ahead of its reader on a thread of its own: everything before
/// an error arrives first, a pod that keeps the connection open or goes silent never
/// holds the reader or its owner, and the thread's copy of the descriptor is closed
/// when it stops.
@Suite("zstd decoded ahead on a thread")
struct DecodeAheadTests {
    /// A pipe whose write end the test holds: what the pod sends.
    final class Pod: Sendable {
        let pipe: Pipe2
        init() throws { pipe = try Pipe2(); pipe.enlarge() }
        func send(_ data: Data) throws { try FileDescriptorIO.writeAll(pipe.write, data, path: "test pipe") }
        func hangUp() { pipe.closeWrite() }
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// Reads everything `reader` gives until the end or an error; the bytes and the error.
    static func drain(_ reader: FDReader, _ count: Int64) -> (Data, Error?) {
        var data = Data()
        var remaining = count
        var hasher = SHA256()
        do {
            try reader.stream(&remaining, hasher: &hasher) { data.append(contentsOf: $0) }
            return (data, nil)
        } catch {
            return (data, error)
        }
    }

    @Test func theWholeAnswerArrivesInOrderAndTheEndIsTheEnd() throws {
        if let why = ZstdDecoderTests.missing { print("skipped: \(why)"); return }
        let original = ZstdDecoderTests.sample(5 << 20, seed: 11)
        let pod = try Pod()
        let frames = try ZstdDecoderTests.compress(original, ["-q", "-2", "-T2", "-c"])
        let writer = Thread { try? pod.send(frames); pod.hangUp() }
        writer.start()
        let reader = try FDReader(fd: pod.pipe.read, decoder: ZstdDecoder()!)
        let (data, error) = Self.drain(reader, Int64(original.count))
        #expect(error == nil)
        #expect(data == original)
        // Nothing after the last byte: a further read says the stream ended.
        #expect(try reader.readLine(limit: 10) == nil)
        #expect(reader.reachedEnd)
        reader.stopReadingAhead()
        pod.pipe.closeRead()
    }

    @Test func damageAfterAWholeFrameComesAfterTheFramesBytes() throws {
        if let why = ZstdDecoderTests.missing { print("skipped: \(why)"); return }
        let original = ZstdDecoderTests.sample(1 << 20, seed: 12)
        let pod = try Pod()
        try pod.send(try ZstdDecoderTests.compress(original) + Data("this is not zstd at all".utf8))
        let reader = try FDReader(fd: pod.pipe.read, decoder: ZstdDecoder()!)
        let (data, error) = Self.drain(reader, Int64(original.count) + 1)
        #expect(data == original)
        let refused = try #require(error as? CCPodError)
        #expect(refused.status == .badData)
        // The connection was still open: a wrong answer, not a cut one.
        #expect(!reader.reachedEnd)
        reader.stopReadingAhead()
        pod.hangUp()
        pod.pipe.closeRead()
    }

    @Test func aCutFrameIsACutAnswer() throws {
        if let why = ZstdDecoderTests.missing { print("skipped: \(why)"); return }
        let original = ZstdDecoderTests.sample(1 << 20, seed: 13)
        let frame = try ZstdDecoderTests.compress(original)
        let pod = try Pod()
        try pod.send(frame.prefix(frame.count / 2))
        pod.hangUp()
        let reader = try FDReader(fd: pod.pipe.read, decoder: ZstdDecoder()!)
        let (_, error) = Self.drain(reader, Int64(original.count))
        #expect((error as? CCPodError)?.message.contains("cut inside a zstd frame") == true)
        #expect(reader.reachedEnd)
        reader.stopReadingAhead()
        pod.pipe.closeRead()
    }

    /// A pod that sent its answer and then holds the connection open, sending nothing or
    /// an endless stream: stopping the reader returns at once and closes the thread's
    /// copy of the descriptor (once the owner closes its own, the pod's writes fail);
    /// meanwhile the thread took no more than its few buffers of decoded bytes.
    @Test func aPodThatHoldsTheConnectionNeverHoldsTheReader() throws {
        if let why = ZstdDecoderTests.missing { print("skipped: \(why)"); return }
        for endless in [false, true] {
            let pod = try Pod()
            try pod.send(try ZstdDecoderTests.compress(Data("END\tok\n".utf8)))
            // Bytes that do not compress: a frame is as large as what it decodes to.
            let flood = try ZstdDecoderTests.compress(Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255) }))
            let sent = Locked<Int>(0)
            let senderDone = DispatchSemaphore(value: 0)
            let sender = Thread {
                while endless, (try? pod.send(flood)) != nil { sent.withLock { $0 += 1 } }
                senderDone.signal()
            }
            sender.start()
            let reader = try FDReader(fd: pod.pipe.read, decoder: ZstdDecoder()!)
            #expect(try reader.readLine(limit: 100) == Array("END\tok".utf8))
            Thread.sleep(forTimeInterval: 0.3)
            // Held back by the reader: its buffers (1 MiB), the decoder's input and the
            // pipe (1 MiB) hold a few frames of 1 MiB; a thread that went on reading
            // would have taken hundreds by now.
            #expect(sent.current <= 5, "endless: \(endless)")
            let started = Date()
            reader.stopReadingAhead()
            #expect(Date().timeIntervalSince(started) < 2, "endless: \(endless)")
            pod.pipe.closeRead()
            // No read end is left: the pod's next write fails at once.
            if endless {
                #expect(senderDone.wait(timeout: .now() + 5) == .success)
            } else {
                #expect(throws: (any Error).self) { try pod.send(Data("more".utf8)) }
                senderDone.wait()
            }
            pod.hangUp()
        }
    }

    @Test func aWatchdogThatStopsTheExchangeEndsAWaitingRead() throws {
        if let why = ZstdDecoderTests.missing { print("skipped: \(why)"); return }
        let pod = try Pod()
        let watchdog = try PodWatchdog(timeout: 0.5)
        watchdog.start { _ in }
        try pod.send(try ZstdDecoderTests.compress(Data("first line\n".utf8)))
        let reader = try FDReader(fd: pod.pipe.read, watchdog: watchdog, decoder: ZstdDecoder()!)
        #expect(try reader.readLine(limit: 100) == Array("first line".utf8))
        let started = Date()
        #expect(throws: PodWatchdog.Stopped.self) { _ = try reader.readLine(limit: 100) }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(watchdog.reason == .stalled)
        reader.stopReadingAhead()
        watchdog.finish()
        pod.hangUp()
        pod.pipe.closeRead()
    }
}
