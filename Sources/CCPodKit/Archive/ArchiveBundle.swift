import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One session's archive file: a tar (the layout `TarArchive` writes, names relative
/// to the Claude dir) through zstd, else gzip — readable by hand with
/// `tar --zstd -xf` — written and read back as streams, never whole in memory.
enum ArchiveBundle {
    /// The compression an archive is written with here: zstd when there is one, else gzip.
    static func preferredCompression() throws -> Compression {
        guard let best = Compression.locallyAvailable.first else {
            throw CCPodError.failure("archiving needs zstd or gzip on PATH; install one and try again")
        }
        return best
    }

    static func fileExtension(_ compression: Compression) -> String {
        compression == .zstd ? "tar.zst" : "tar.gz"
    }

    /// Writes `paths` (relative to `root`, regular files) into `destination` atomically
    /// (temporary file, fsync, rename, fsync of the folder). Returns what each file was
    /// (hashed as it was read) and the archive's size and SHA-256.
    static func write(root: String, paths: [String], to destination: URL, compression: Compression) throws
        -> (files: [ArchivedFile], size: Int64, sha256: String) {
        guard let compressor = compression.compressor else { throw CCPodError.failure("an archive is always compressed") }
        var files: [ArchivedFile] = []
        try AtomicFile.write(to: destination) { out in
            let pipe = try Pipe2()
            pipe.enlarge()
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(compressor[0], Array(compressor.dropFirst()), stdin: .fd(pipe.read), stdout: .fd(out), stderr: .null)
            } catch {
                pipe.closeBoth()
                throw error
            }
            pipe.closeRead()
            var written: Int64 = 0
            do {
                for path in paths {
                    files.append(try append(root: root, path: path, to: pipe.write, written: &written))
                }
                // Two zero blocks, then zeros up to a whole record, as tar writes.
                let record = Int64(TarArchive.record)
                let total = (written + Int64(2 * TarArchive.block) + record - 1) / record * record
                try FileDescriptorIO.writeAll(pipe.write, Data(count: Int(total - written)), path: destination.path)
            } catch {
                pipe.closeWrite()
                child.wait()
                throw error
            }
            pipe.closeWrite()
            let status = child.wait()
            guard status == 0 else { throw CCPodError.io("\(compressor[0]) failed (exit \(status)) while writing \(destination.path)") }
        }
        let size = FileStat.of(destination.path)?.size ?? 0
        return (files, size, try SHA256Hex.ofFile(destination.path))
    }

    /// One member: header, the file's bytes (exactly the size it had when opened), padding.
    private static func append(root: String, path: String, to fd: Int32, written: inout Int64) throws -> ArchivedFile {
        let full = root + "/" + path
        let input = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw CCPodError.io("cannot read \(full): \(errnoText())") }
        defer { close(input) }
        var st = stat()
        guard fstat(input, &st) == 0 else { throw CCPodError.io("cannot stat \(full): \(errnoText())") }
        let info = FileStat(st)
        guard info.isRegularFile else { throw CCPodError.badData("\(full) is not a regular file; it was not archived") }
        let header = TarArchive.header(for: .init(name: path, size: info.size), mtime: info.mtimeNanoseconds / 1_000_000_000)
        try FileDescriptorIO.writeAll(fd, header, path: "the archive")
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { buffer.deallocate() }
        var left = info.size
        while left > 0 {
            let n = try FileDescriptorIO.read(input, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), left))]), path: full)
            guard n > 0 else { throw CCPodError.io("\(full) shrank while it was archived; nothing was removed, try again") }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: chunk)
            try FileDescriptorIO.writeAll(fd, chunk, path: "the archive")
            left -= Int64(n)
        }
        let pad = TarArchive.padding(after: info.size)
        if pad > 0 { try FileDescriptorIO.writeAll(fd, Data(count: pad), path: "the archive") }
        written += Int64(header.count) + info.size + Int64(pad)
        return ArchivedFile(path: path, size: info.size, mtimeNs: info.mtimeNanoseconds, mode: UInt32(info.permissions),
                            sha256: SHA256Hex.hex(hasher.finalize()))
    }

    /// Reads an archive back: for each member, `member(name, size)` returns where its
    /// bytes go (called chunk by chunk, then once with an empty buffer at its end).
    static func read(_ url: URL, compression: Compression,
                     member: (_ name: String, _ size: Int64) throws -> (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let decompressor = compression.decompressor else { throw CCPodError.failure("an archive is always compressed") }
        let input = open(url.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw CCPodError.io("cannot open the archive \(url.path): \(errnoText())") }
        defer { close(input) }
        let pipe = try Pipe2()
        pipe.enlarge()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(decompressor[0], Array(decompressor.dropFirst()), stdin: .fd(input), stdout: .fd(pipe.write), stderr: .null)
        } catch {
            pipe.closeBoth()
            throw error
        }
        pipe.closeWrite()
        var reader = TarStreamReader(fd: pipe.read, name: url.path)
        do {
            try reader.members(member)
        } catch {
            pipe.closeRead()
            child.wait()
            throw error
        }
        pipe.closeRead()
        let status = child.wait()
        guard status == 0 else { throw CCPodError.badData("the archive \(url.path) is damaged (\(decompressor[0]) exit \(status))") }
    }

    /// Whether the archive holds exactly `files`, byte for byte (read back whole).
    static func verify(_ url: URL, compression: Compression, files: [ArchivedFile]) throws {
        var expected = Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var hasher = SHA256()
        try read(url, compression: compression) { name, size in
            guard let file = expected.removeValue(forKey: name), file.size == size else {
                throw CCPodError.badData("the archive \(url.path) holds \(TerminalText.escape(name)), which it should not")
            }
            hasher = SHA256()
            return { chunk in
                if chunk.isEmpty {
                    guard SHA256Hex.hex(hasher.finalize()) == file.sha256 else {
                        throw CCPodError.badData("the archive \(url.path) holds other bytes for \(TerminalText.escape(name))")
                    }
                } else {
                    hasher.update(bufferPointer: chunk)
                }
            }
        }
        guard expected.isEmpty else {
            throw CCPodError.badData("the archive \(url.path) lacks \(expected.count) file(s), for example \(TerminalText.escape(expected.keys.sorted()[0]))")
        }
    }
}

/// Reads the tar layout `TarArchive` writes (ustar, with pax `path`/`size` records) from a stream.
struct TarStreamReader {
    let fd: Int32
    let name: String
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0
    private var end = 0

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    private func bad(_ what: String) -> CCPodError { .badData("the archive \(name) is damaged: \(what)") }

    /// Refills the buffer when empty; false at the end of the stream.
    private mutating func fill() throws -> Bool {
        if start < end { return true }
        let n = try buffer.withUnsafeMutableBytes { try FileDescriptorIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<$0.count]), path: name) }
        start = 0
        end = n
        return n > 0
    }

    /// Passes exactly `count` bytes to `body` in chunks.
    private mutating func consume(_ count: Int64, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var left = count
        while left > 0 {
            guard try fill() else { throw bad("it ends inside a file") }
            let n = Int(min(Int64(end - start), left))
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + n)])) }
            start += n
            left -= Int64(n)
        }
    }

    private mutating func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        try consume(Int64(count)) { out.append(contentsOf: $0) }
        return out
    }

    mutating func members(_ member: (String, Int64) throws -> (UnsafeRawBufferPointer) throws -> Void) throws {
        var paxPath: String?
        var paxSize: Int64?
        while true {
            guard try fill() else { throw bad("it ends without its end blocks") }
            let header = try bytes(TarArchive.block)
            if header.allSatisfy({ $0 == 0 }) { return }
            var sum = 0
            for (i, b) in header.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int(b) }
            guard let stored = Self.octal(header[148..<156]), stored == sum else { throw bad("a header's checksum is wrong") }
            guard let size = Self.octal(header[124..<136]) else { throw bad("a header's size is not a number") }
            let type = header[156]
            if type == UInt8(ascii: "x") {
                guard size <= 65536 else { throw bad("an extended header is too long") }
                let records = try bytes(Int(size))
                try consume(Int64(TarArchive.padding(after: Int64(size)))) { _ in }
                for (key, value) in Self.paxRecords(records) {
                    if key == "path" { paxPath = value }
                    if key == "size" { paxSize = Int64(value) }
                }
                continue
            }
            guard type == UInt8(ascii: "0") || type == 0 else { throw bad("a member is not a regular file") }
            let shortName = Self.text(header[0..<100])
            let prefix = Self.text(header[345..<500])
            let path = paxPath ?? (prefix.isEmpty ? shortName : prefix + "/" + shortName)
            let length = paxSize ?? Int64(size)
            paxPath = nil
            paxSize = nil
            guard length >= 0 else { throw bad("a member has a negative size") }
            let sink = try member(path, length)
            try consume(length, sink)
            try sink(UnsafeRawBufferPointer(start: nil, count: 0))
            try consume(Int64(TarArchive.padding(after: length))) { _ in }
        }
    }

    static func text(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func octal(_ field: ArraySlice<UInt8>) -> Int? {
        let digits = field.prefix { $0 != 0 && $0 != 0x20 }.drop { $0 == 0x20 }
        guard !digits.isEmpty, digits.count <= 12 else { return nil }
        var value = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(d - UInt8(ascii: "0"))
        }
        return value
    }

    /// "<length> <key>=<value>\n" records.
    static func paxRecords(_ bytes: [UInt8]) -> [(String, String)] {
        var out: [(String, String)] = []
        var i = 0
        while i < bytes.count {
            guard let space = bytes[i...].firstIndex(of: 0x20), let length = Int(String(decoding: bytes[i..<space], as: UTF8.self)),
                  length > 0, i + length <= bytes.count else { break }
            let record = String(decoding: bytes[(space + 1)..<(i + length - 1)], as: UTF8.self)
            if let eq = record.firstIndex(of: "=") { out.append((String(record[..<eq]), String(record[record.index(after: eq)...]))) }
            i += length
        }
        return out
    }
}
