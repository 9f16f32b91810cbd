import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends to local session files that survive being interrupted: the bytes and
/// the intent are written (and flushed) to a journal first, then appended, then
/// checked, then the journal entry is removed. `recover()` finishes whatever an
/// interrupted run left: the file is at the old size (append), part way (cut
/// back, append) or done.
struct LocalJournal {
    let dir: URL
    let claudeDir: String

    private struct Intent: Codable {
        var path: String
        var expectedSize: Int64
        var length: Int64
    }

    func recover() throws {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        for name in names where name.hasSuffix(".json") {
            let meta = dir.appendingPathComponent(name)
            let data = dir.appendingPathComponent(String(name.dropLast(5)) + ".data")
            defer {
                try? FileManager.default.removeItem(at: meta)
                try? FileManager.default.removeItem(at: data)
            }
            guard let intent = try? JSONDecoder().decode(Intent.self, from: Data(contentsOf: meta)),
                  PodPathCheck.isSafeRelative(intent.path),
                  let stat = LocalStat.of(claudeDir + "/" + intent.path) else { continue }
            if stat.size >= intent.expectedSize && stat.size < intent.expectedSize + intent.length {
                guard truncate(claudeDir + "/" + intent.path, off_t(intent.expectedSize)) == 0 else { continue }
                try appendBytes(of: data.path, length: intent.length, to: claudeDir + "/" + intent.path)
            }
        }
    }

    /// Appends `length` bytes of `payloadFile` to the local file at `path`, which must
    /// still be `expectedSize` bytes long. Returns the file's new size and hash.
    func append(path: String, expectedSize: Int64, expectedSha: String, payloadFile: String, length: Int64) throws -> FileVersion {
        let target = claudeDir + "/" + path
        guard let stat = LocalStat.of(target), stat.size == expectedSize else {
            throw CCPodError.failure("\(target) changed while ccpod was syncing it; run the command again")
        }
        try CCPodLocations.makePrivateDirectory(dir)
        let id = UUID().uuidString
        let data = dir.appendingPathComponent(id + ".data")
        let meta = dir.appendingPathComponent(id + ".json")
        try AtomicFile.write(to: data) { fd in
            try FileRanges.copy(payloadFile, length: length, to: fd, outPath: data.path)
        }
        try AtomicFile.write(try JSONEncoder().encode(Intent(path: path, expectedSize: expectedSize, length: length)), to: meta)
        try appendBytes(of: data.path, length: length, to: target)
        let scan = try SHA256Hex.scan(target, prefix: expectedSize, whole: expectedSize + length)
        let whole = scan.whole
        guard LocalStat.of(target)?.size == expectedSize + length, scan.prefix == expectedSha else {
            throw CCPodError.failure("the append to \(target) could not be verified; the journal in \(dir.path) repairs it on the next run")
        }
        try? FileManager.default.removeItem(at: meta)
        try? FileManager.default.removeItem(at: data)
        return FileVersion(size: expectedSize + length, sha256: whole)
    }

    private func appendBytes(of source: String, length: Int64, to target: String) throws {
        let fd = open(target, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot open \(target) for appending: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try FileRanges.copy(source, length: length, to: fd, outPath: target)
        guard fsync(fd) == 0 else { throw CCPodError.io("cannot flush \(target)") }
    }
}
