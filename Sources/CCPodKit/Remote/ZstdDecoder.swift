import CCPodSystemShims
import Foundation

/// zstd's streaming decoder in ccpod's own process (the system's libzstd, loaded at
/// first use): a compressed answer is read without a zstd child and the pipe its
/// decompressed bytes would cross. Where the library is missing, `init` fails and the
/// answer goes through the zstd command as before.
///
/// The pod is untrusted: the window is bounded as the command's `--memory=32MB` bounds
/// it, each call writes at most what the caller's buffer holds, damaged input throws,
/// and zstd checks each frame's checksum at its end.
final class ZstdDecoder {
    /// 2^25 = 32 MB: twice the largest window ccpod's compressors use (`--long=24`).
    static let windowLogMax: Int32 = 25

    private let context: UnsafeMutableRawPointer
    private var input: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// A frame is begun and not finished: the decoder may hold output still.
    private var inFrame = false
    /// Compressed bytes taken since the last decoded byte came out. zstd brings out each
    /// block (at most 128 KiB) as it ends, so a real stream never goes far without
    /// output; a pod sending frames that decode to nothing (empty or skippable ones)
    /// would otherwise keep ccpod reading forever, each byte a sign of life.
    private var takenWithoutOutput = 0
    static let maximumWithoutOutput = 4 << 20

    /// Whether this machine can decode zstd in process.
    static let available: Bool = {
        guard let context = ccpod_zstd_decoder_new(windowLogMax) else { return false }
        ccpod_zstd_decoder_free(context)
        return true
    }()

    /// A decoder that first decodes `prefix` (bytes already read from the stream);
    /// nil where the library is missing.
    init?(prefix: Data = Data()) {
        guard let context = ccpod_zstd_decoder_new(Self.windowLogMax) else { return nil }
        self.context = context
        input = .allocate(byteCount: max(1 << 17, prefix.count), alignment: 16)
        _ = prefix.copyBytes(to: input.bindMemory(to: UInt8.self))
        end = prefix.count
    }

    deinit {
        ccpod_zstd_decoder_free(context)
        input.deallocate()
    }

    /// Decodes into `out` (at most `count` bytes), reading more of the compressed stream
    /// with `more` (0 at its end) when needed. Returns 0 only at the end of the stream,
    /// after a whole frame: a stream cut inside one throws (its checksum was never seen).
    func read(into out: UnsafeMutableRawPointer, count: Int, more: (UnsafeMutableRawPointer, Int) throws -> Int) throws -> Int {
        while true {
            if start < end || inFrame {
                var written = 0
                var consumed = start
                var error: UnsafePointer<CChar>?
                let result = ccpod_zstd_decode(context, out, count, &written, input.baseAddress, end, &consumed, &error)
                guard result >= 0 else {
                    let reason = error.map { String(cString: $0) } ?? "unknown error"
                    throw CCPodError.badData("the pod's compressed answer cannot be decoded (zstd: \(TerminalText.escape(reason))); nothing was changed here; run the command again")
                }
                let progressed = consumed > start || written > 0
                takenWithoutOutput = written > 0 ? 0 : takenWithoutOutput + (consumed - start)
                start = consumed
                inFrame = result != 0
                if written > 0 { return written }
                guard takenWithoutOutput <= Self.maximumWithoutOutput else {
                    throw CCPodError.badData("the pod's compressed answer brought no data in \(Self.maximumWithoutOutput >> 20) MiB; nothing was changed here; run the command again")
                }
                // Input left, or a frame that ended without output: go on. A frame that
                // wants more input than there is: read it.
                if start < end && progressed { continue }
            }
            // What the decoder left (it normally takes all it is given) stays, and more
            // of the stream is read after it.
            let base = input.baseAddress!
            let left = end - start
            if left > 0 && start > 0 { memmove(base, base + start, left) }
            start = 0
            end = left
            guard end < input.count else {
                throw CCPodError.badData("the pod's compressed answer cannot be decoded (zstd takes no more of it); nothing was changed here; run the command again")
            }
            let n = try more(base + end, input.count - end)
            if n == 0 {
                // Cut inside a frame: what came of it was never checked against its checksum.
                if inFrame || end > 0 {
                    throw CCPodError.badData("the pod's compressed answer was cut inside a zstd frame; nothing was changed here; run the command again")
                }
                return 0
            }
            end += n
        }
    }
}
