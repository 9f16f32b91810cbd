import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a request: the options, then every file record in one block (`B`), then
/// the payloads of the records that have one, in order, back to back, except those of
/// new files (`P`): these follow as one tar archive (`T`), unpacked by one process,
/// and then their SHA-256 digests (`H`), computed as they are sent (so a first push
/// streams at once instead of reading every file beforehand).
enum RequestWriter {
    typealias Sent = AgentExchange.Answer.Sent

    /// Writes `request` to `fd`; returns what was sent of each new file, by pod path.
    @discardableResult
    static func write(_ request: AgentRequest, to fd: Int32, progress: TransferProgress? = nil) throws -> [String: Sent] {
        try write(request, to: PodInput(fd: fd), progress: progress)
    }

    /// Writes `request` to the pod's stdin; returns what was sent of each new file, by pod path.
    @discardableResult
    static func write(_ request: AgentRequest, to output: PodInput, progress: TransferProgress? = nil) throws -> [String: Sent] {
        var head = "CCPOD-REQ \(AgentScript.protocolVersion)\n"
        func option(_ key: String, _ value: String) { head += "O\t\(key)\t\(value)\n" }
        option("root", request.rootPrefix)
        option("claude", request.paths.claudeDir)
        option("state", request.paths.persistentDir + "/.ccpod")
        option("mode", request.mode.rawValue)
        option("busy", String(request.busySeconds))
        option("accept", request.accept.map(\.rawValue).joined(separator: ","))
        // This run's stage folders on the pod, named here because the archive names them.
        let stage = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        option("stage", stage)
        for path in request.hashed { option("hashed", path) }
        if request.overview { option("overview", "1") }
        if request.locksEarly { option("early", "1") }
        for dir in request.scope { head += "S\t\(dir)\n" }
        if !request.sessionIds.isEmpty {
            let ids = request.sessionIds.map { $0 + "\n" }.joined()
            head += "I\t\(ids.utf8.count)\n" + ids
        }
        var block = Data()
        for file in request.files {
            let seenSize = file.seen.map { String($0.size) } ?? "-"
            let seenMtime = file.seen?.mtime ?? "-"
            let ancSize = file.ancestor.map { String($0.size) } ?? "-"
            let ancSha = file.ancestor?.sha256 ?? "-"
            let length = file.payload?.length ?? 0
            // A new file's digest follows its bytes (H).
            let sha = file.operation == .put && file.payload != nil ? "-" : file.payload?.sha256 ?? "-"
            block.append(contentsOf: "K\t\(seenSize)\t\(seenMtime)\t\(ancSize)\t\(ancSha)\t\(file.operation.rawValue)\t\(length)\t\(sha)\t\(file.path)\n".utf8)
        }
        var pending = Data(head.utf8)
        pending.append(contentsOf: "B\t\(block.count)\n".utf8)
        pending.append(block)
        // Payload bytes and files waiting in `pending`, counted once they are written.
        var pendingBytes = 0
        var pendingFiles = 0
        func flush() throws {
            try output.write(pending)
            pending.removeAll(keepingCapacity: true)
            if pendingBytes > 0 { progress?.moved(pendingBytes) }
            for _ in 0..<pendingFiles { progress?.fileDone() }
            pendingBytes = 0
            pendingFiles = 0
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        /// Sends a payload; with `hasher`, also hashes it and counts its newlines.
        var lastByte: UInt8 = 0
        func send(_ payload: AgentFileRequest.Payload, hasher: inout SHA256?, lines: inout Int) throws {
            func seen(_ bytes: UnsafeRawBufferPointer) {
                guard hasher != nil else { return }
                hasher!.update(bufferPointer: bytes)
                lines += SHA256Hex.newlines(in: bytes)
                if let last = bytes.last { lastByte = last }
            }
            if let data = payload.data {
                data.withUnsafeBytes { seen($0) }
                pending.append(data)
                pendingBytes += data.count
                pendingFiles += 1
                if pending.count > 1 << 16 { try flush() }
                return
            }
            guard let path = payload.file else { return }
            // Small files ride along in `pending`; large ones go straight from a big buffer.
            let input = open(path, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
            defer { close(input) }
            if lseek(input, off_t(payload.offset), SEEK_SET) < 0 { throw CCPodError.io("cannot read \(path)") }
            var remaining = payload.length
            if remaining <= 1 << 16 {
                let n = try FileDescriptorIO.read(input, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(remaining)]), path: path)
                guard Int64(n) == remaining else { throw CCPodError.io("\(path) became shorter while it was sent; run the command again") }
                seen(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                pendingBytes += n
                pendingFiles += 1
                if pending.count > 1 << 16 { try flush() }
                return
            }
            try flush()
            while remaining > 0 {
                let want = Int(min(Int64(buffer.count), remaining))
                let n = try FileDescriptorIO.read(input, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), path: path)
                guard n > 0 else { throw CCPodError.io("\(path) became shorter while it was sent; run the command again") }
                seen(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                try output.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                remaining -= Int64(n)
                progress?.moved(n)
            }
            progress?.fileDone()
        }
        var news: [(path: String, member: TarArchive.Member, payload: AgentFileRequest.Payload)] = []
        var none: SHA256?
        var ignored = 0
        for file in request.files {
            // Every new file is in the archive, an empty one too (its member makes it).
            guard let payload = file.payload, payload.length > 0 || file.operation == .put else { continue }
            if file.operation == .put {
                news.append((file.path, TarArchive.Member(name: stagedName(file.path, stage: stage), size: payload.length), payload))
            } else if payload.data == nil {
                // A range of a local file, hashed when it was planned: hashed again as it is
                // sent, so the bytes that leave are the ones its record names: a compressed
                // request, checked whole by the pod's decompressor, is then not hashed again
                // there (agent.sh, take_records). A file that changed meanwhile (or a range
                // planned without its digest) stops the request before its END: the pod
                // places nothing.
                var hasher: SHA256? = SHA256()
                try send(payload, hasher: &hasher, lines: &ignored)
                guard SHA256Hex.hex(hasher!.finalize()) == payload.sha256 else {
                    throw CCPodError.io("\(file.path) changed while it was sent; run the command again")
                }
            } else {
                // Bytes in memory: their digest was computed from these very bytes.
                try send(payload, hasher: &none, lines: &ignored)
            }
        }
        var sent: [String: Sent] = [:]
        if !news.isEmpty {
            let length = TarArchive.length(of: news.map(\.member))
            pending.append(contentsOf: "T\t\(length)\n".utf8)
            var written: Int64 = 0
            var digests = ""
            for (path, member, payload) in news {
                let header = TarArchive.header(for: member)
                pending.append(header)
                var hasher: SHA256? = SHA256()
                var lines = 0
                try send(payload, hasher: &hasher, lines: &lines)
                // A transcript planned without a hash is sent up to its last newline; bytes
                // that no longer end with one were rewritten since: the request stops (the
                // pod sees it cut short and places nothing).
                if payload.sha256.isEmpty && path.hasSuffix(".jsonl") && member.size > 0 && lastByte != 0x0A {
                    throw CCPodError.io("\(path) changed while it was sent; run the command again")
                }
                let digest = SHA256Hex.hex(hasher!.finalize())
                sent[path] = Sent(sha256: digest, lines: lines)
                digests += digest + "\n"
                pending.append(Data(count: TarArchive.padding(after: member.size)))
                written += Int64(header.count) + member.size + Int64(TarArchive.padding(after: member.size))
                if pending.count > 1 << 16 { try flush() }
            }
            pending.append(Data(count: Int(length - written)))
            pending.append(contentsOf: "H\t\(digests.utf8.count)\n\(digests)".utf8)
        }
        pending.append(contentsOf: "END\n".utf8)
        try flush()
        return sent
    }

    /// Where a new file waits on the pod until it is verified and flushed: under the
    /// stage folder in the first folder of its path (the agent's `stage_path`).
    static func stagedName(_ path: String, stage: String) -> String {
        guard let slash = path.firstIndex(of: "/") else { return ".ccpod-\(stage).ccpod-stage/\(path)" }
        return "\(path[..<slash])/.ccpod-\(stage).ccpod-stage/\(path[path.index(after: slash)...])"
    }
}
