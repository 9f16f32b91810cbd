@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// zstd decoded in ccpod's own process (libzstd loaded at run time), against what the
/// zstd command writes: any chunking of the input and of the output, frames one after
/// another, and what an untrusted pod can send instead: damage, a window over the
/// bound, a cut, bytes that are not zstd.
@Suite("zstd decoded in process")
struct ZstdDecoderTests {
    /// Why the in-process tests cannot run, or nil when they can.
    static let missing: String? = {
        if !ChildProcess.exists("zstd") { return "no zstd command to make the frames" }
        if !ZstdDecoder.available { return "this machine has no libzstd 1.4+ (ccpod then runs the zstd command)" }
        return nil
    }()

    static func compress(_ data: Data, _ arguments: [String] = ["-q", "-3", "-c"]) throws -> Data {
        let out = try ChildProcess.run("zstd", arguments, input: data)
        #expect(out.status == 0)
        return out.stdout
    }

    /// Text that compresses as transcripts do, with incompressible stretches between.
    static func sample(_ bytes: Int, seed: UInt64) -> Data {
        var state = seed | 1
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        var data = Data()
        while data.count < bytes {
            if next() % 4 == 0 {
                data.append(contentsOf: (0..<512).map { _ in UInt8(truncatingIfNeeded: next()) })
            } else {
                data.append(contentsOf: "{\"type\":\"assistant\",\"n\":\(next() % 1000),\"text\":\"a line of a session\"}\n".utf8)
            }
        }
        return data.prefix(bytes)
    }

    /// Decodes `stream` handed over `inChunk` bytes at a time, read `outChunk` at a time.
    static func decode(_ stream: Data, prefix: Int = 0, inChunk: Int, outChunk: Int) throws -> Data {
        guard let decoder = ZstdDecoder(prefix: stream.prefix(prefix)) else { throw CCPodError.failure("no decoder") }
        var offset = prefix
        var result = Data()
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: outChunk, alignment: 1)
        defer { out.deallocate() }
        while true {
            let n = try decoder.read(into: out.baseAddress!, count: outChunk) { pointer, count in
                let take = min(count, inChunk, stream.count - offset)
                stream.copyBytes(to: pointer.assumingMemoryBound(to: UInt8.self), from: offset..<(offset + take))
                offset += take
                return take
            }
            if n == 0 { return result }
            result.append(contentsOf: UnsafeRawBufferPointer(rebasing: out[0..<n]))
        }
    }

    @Test func whatTheCommandWroteComesBackWhateverTheChunks() throws {
        if let why = Self.missing { print("skipped: \(why)"); return }
        let original = Self.sample(3 << 20, seed: 7)
        // One frame from two threads, and two frames one after the other.
        let streams = [try Self.compress(original, ["-q", "-3", "-T2", "-c"]),
                       try Self.compress(original.prefix(1 << 20)) + (try Self.compress(original.dropFirst(1 << 20)))]
        for stream in streams {
            for (inChunk, outChunk, prefix) in [(1 << 16, 1 << 20, 0), (1, 1 << 16, 0), (4093, 3, 0), (1 << 20, 7, 100), (3000, 1 << 20, stream.count)] {
                let decoded = try Self.decode(stream, prefix: min(prefix, stream.count), inChunk: inChunk, outChunk: outChunk)
                #expect(decoded == original, "in \(inChunk), out \(outChunk), prefix \(prefix)")
            }
        }
    }

    @Test func anEmptyStreamAndAnEmptyFrameGiveNothing() throws {
        if let why = Self.missing { print("skipped: \(why)"); return }
        #expect(try Self.decode(Data(), inChunk: 100, outChunk: 100).isEmpty)
        #expect(try Self.decode(try Self.compress(Data()), inChunk: 1, outChunk: 100).isEmpty)
    }

    @Test func aSkippableFrameIsPassedOver() throws {
        if let why = Self.missing { print("skipped: \(why)"); return }
        // Magic 0x184D2A50, a 4-byte length, then the bytes zstd skips.
        let skippable = Data([0x50, 0x2A, 0x4D, 0x18, 5, 0, 0, 0]) + Data("junk!".utf8)
        let stream = skippable + (try Self.compress(Data("kept\n".utf8)))
        #expect(try Self.decode(stream, inChunk: 3, outChunk: 100) == Data("kept\n".utf8))
    }

    @Test func whatAPodCanSendInsteadIsRefused() throws {
        if let why = Self.missing { print("skipped: \(why)"); return }
        let original = Self.sample(1 << 20, seed: 11)
        let good = try Self.compress(original)
        // A flipped byte: the frame's checksum (or its structure) no longer holds.
        for position in [good.count / 3, good.count / 2, good.count - 2] {
            var damaged = good
            damaged[position] ^= 0x20
            #expect(throws: CCPodError.self) { _ = try Self.decode(damaged, inChunk: 1 << 16, outChunk: 1 << 16) }
        }
        // Not zstd at all.
        #expect(throws: CCPodError.self) { _ = try Self.decode(Data("CCPOD-AGENT 1 none\n".utf8), inChunk: 100, outChunk: 100) }
        // A frame asking for a window past the bound: refused before the memory is taken.
        let wide = Data([0x28, 0xB5, 0x2F, 0xFD, 0x00, UInt8((27 - 10) << 3), 0x29, 0, 0]) + Data("hello".utf8)
        do {
            _ = try Self.decode(wide, inChunk: 100, outChunk: 100)
            Issue.record("a 128 MB window was decoded")
        } catch let error as CCPodError {
            #expect(error.status == .badData)
            #expect(error.message.contains("memory"), "\(error.message)")
        }
        // Within the bound (a 32 MB window), the same frame decodes.
        let within = Data([0x28, 0xB5, 0x2F, 0xFD, 0x00, UInt8((25 - 10) << 3), 0x29, 0, 0]) + Data("hello".utf8)
        #expect(try Self.decode(within, inChunk: 100, outChunk: 100) == Data("hello".utf8))
    }

    @Test func framesThatDecodeToNothingCannotKeepCcpodReading() throws {
        if let why = Self.missing { print("skipped: \(why)"); return }
        // 5 MiB of skippable frames, then real data: refused before the data.
        let skippable = Data([0x50, 0x2A, 0x4D, 0x18, 0, 0, 1, 0]) + Data(count: 1 << 16)
        var stream = Data()
        for _ in 0..<80 { stream += skippable }
        stream += try Self.compress(Data("late\n".utf8))
        do {
            _ = try Self.decode(stream, inChunk: 1 << 16, outChunk: 1 << 16)
            Issue.record("5 MiB without output were taken")
        } catch let error as CCPodError {
            #expect(error.message.contains("brought no data"), "\(error.message)")
        }
        // Empty frames, the same.
        let empty = try Self.compress(Data())
        var empties = Data()
        while empties.count < 5 << 20 { empties += empty }
        #expect(throws: CCPodError.self) { _ = try Self.decode(empties, inChunk: 1 << 16, outChunk: 1 << 16) }
        // Less than the bound of them, then data: the data.
        #expect(try Self.decode(skippable + skippable + (try Self.compress(Data("kept\n".utf8))), inChunk: 4096, outChunk: 100) == Data("kept\n".utf8))
    }

    @Test func aStreamCutInsideAFrameIsRefused() throws {
        if let why = Self.missing { print("skipped: \(why)"); return }
        let original = Self.sample(2 << 20, seed: 3)
        let stream = try Self.compress(original)
        // Down to the last byte of the checksum: all the text may have come, unchecked.
        for cut in [1, 6, stream.count / 2, stream.count - 1] {
            #expect(throws: CCPodError.self) { _ = try Self.decode(stream.prefix(cut), inChunk: 1 << 16, outChunk: 1 << 16) }
        }
        #expect(try Self.decode(stream, inChunk: 1 << 16, outChunk: 1 << 16) == original)
    }
}
