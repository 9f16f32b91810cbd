import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Applies staged sessions to the Claude dir (see `SessionImporter`).
struct ImportApply {
    let root: String
    let slug: String
    let staging: URL
    let withFileHistory: Bool
    /// Whose sessions these are (`ccpod share pull`): every session then arrives as a sibling
    /// titled "… (from <origin>)", with an id derived from the origin and the original id.
    let origin: String?
    var report = ImportReport()

    init(root: String, slug: String, staging: URL, withFileHistory: Bool, origin: String? = nil) {
        self.root = root
        self.slug = slug
        self.staging = staging
        self.withFileHistory = withFileHistory
        self.origin = origin
    }

    /// The end of a sibling's title: "from export", or "from <origin>".
    var titleSuffix: String { origin.map { "from \($0)" } ?? "from export" }

    /// How a file here relates to the incoming version.
    enum Relation: Equatable {
        case absent, same, localAhead, diverged
        /// Here is a prefix of the incoming version, ending at this offset.
        case incomingAhead(from: Int64)
        /// Here ends with a line still being written.
        case busy
    }

    mutating func session(_ session: StagedSession) throws {
        guard let transcript = session.files.first else { return }
        if origin != nil {
            try sibling(session)
            return
        }
        let relative = "projects/\(slug)/\(session.id).jsonl"
        let relation = try Self.relate(local: root + "/" + relative, incoming: transcript.staged.path, lines: true)
        switch relation {
        case .absent:
            try create(relative, from: transcript.staged.path)
        case .same, .localAhead:
            note("unchanged", relative)
        case .incomingAhead(let from):
            try append(relative, from: transcript.staged.path, offset: from)
        case .busy:
            note("busy", relative, "the session here ends with a line being written (is claude running?); import again later")
            return
        case .diverged:
            try sibling(session)
            return
        }
        try folderFiles(session, as: session.id)
    }

    /// The session's other files, for the session itself or its sibling `id`.
    private mutating func folderFiles(_ session: StagedSession, as id: String, rewriter: SessionIdRewriter? = nil) throws {
        for file in session.files.dropFirst() {
            if file.area == .fileHistory && !withFileHistory { continue }
            var path = file.path
            if id != session.id {
                // A sibling's folders are its own; legacy agent files are shared by name, so they stay with the original.
                guard path.hasPrefix(session.id + "/") else { note("skipped", "projects/\(slug)/\(path)", "a legacy agent file stays with session \(session.id)"); continue }
                path = id + path.dropFirst(session.id.count)
            }
            let relative = file.area == .project ? "projects/\(slug)/\(path)" : "file-history/\(path)"
            var source = file.staged.path
            if let rewriter, path.hasSuffix(".jsonl") {
                source = staging.appendingPathComponent("rewritten-\(UUID().uuidString.prefix(8))").path
                try Self.copy(from: file.staged.path, to: source, rewriter: rewriter)
            }
            let jsonl = file.area == .project && path.hasSuffix(".jsonl")
            switch try Self.relate(local: root + "/" + relative, incoming: source, lines: jsonl) {
            case .absent: try create(relative, from: source)
            case .same, .localAhead: note("unchanged", relative)
            case .incomingAhead(let from): try append(relative, from: source, offset: from)
            case .busy: note("busy", relative, "a line is being written here; import again later")
            case .diverged: note("kept", relative, "differs from the file here; this machine's version is kept")
            }
        }
    }

    /// The incoming version went another way than the session here: it becomes a sibling session.
    /// Its id is derived from the original's, so importing again finds it (and appends what is new).
    private mutating func sibling(_ session: StagedSession) throws {
        let original = "projects/\(slug)/\(session.id).jsonl"
        for k in 1...8 {
            let id = Self.siblingId(of: session.id, attempt: k, origin: origin)
            let relative = "projects/\(slug)/\(id).jsonl"
            let rewriter = SessionIdRewriter(from: session.id, to: id)
            let rewritten = staging.appendingPathComponent("sibling-\(id)").path
            try Self.copy(from: session.files[0].staged.path, to: rewritten, rewriter: rewriter)
            let full = root + "/" + relative
            if FileStat.of(full, followSymlinks: false) == nil {
                let summary = try? SessionSummary.read(URL(fileURLWithPath: rewritten))
                let title = summary?.title.map { String($0.split(separator: "\n").first ?? "").prefix(80).trimmingCharacters(in: .whitespaces) } ?? ""
                let line = SyncRun.customTitleLine(title: "\(title.isEmpty ? "session \(session.id.prefix(8))" : title) (\(titleSuffix))", sessionId: id)
                let why = origin.map { "session \(session.id) of \($0)" } ?? "went another way than \(original) here"
                try create(relative, from: rewritten, extra: line, action: "sibling",
                           detail: "\(why): imported as session \(id), titled \"… (\(titleSuffix))\"")
                try folderFiles(session, as: id, rewriter: rewriter)
                return
            }
            // The sibling exists: compare without the title lines this import added.
            let filtered = staging.appendingPathComponent("filtered-\(id)").path
            try Self.dropTitleLines(of: full, sessionId: id, suffix: titleSuffix, into: filtered)
            switch try Self.relate(local: filtered, incoming: rewritten, lines: true) {
            case .absent, .diverged:
                continue
            case .same, .localAhead:
                note("unchanged", relative, "the sibling of \(original) imported earlier")
            case .busy:
                note("busy", relative, "a line is being written here; import again later")
                return
            case .incomingAhead(let from):
                guard let st = FileStat.of(full), try LocalTree.completeLength(full, size: st.size) == st.size else {
                    note("busy", relative, "a line is being written here; import again later")
                    return
                }
                try append(relative, from: rewritten, offset: from, action: "appended")
            }
            try folderFiles(session, as: id, rewriter: rewriter)
            return
        }
        note("skipped", original, "went another way here and in 8 earlier imports; nothing changed")
    }

    private mutating func note(_ action: String, _ path: String, _ detail: String? = nil) {
        report.items.append(.init(action: action, path: path, detail: detail))
    }

    private mutating func create(_ relative: String, from source: String, extra: Data? = nil, action: String = "created", detail: String? = nil) throws {
        let parent = (relative as NSString).deletingLastPathComponent
        try SafeFolders.make(relative: parent, under: root)
        let dest = URL(fileURLWithPath: root + "/" + relative)
        try AtomicFile.write(to: dest, mode: 0o600) { fd in
            try Self.stream(source, from: 0) { try FileDescriptorIO.writeAll(fd, $0, path: dest.path) }
            if let extra { try FileDescriptorIO.writeAll(fd, extra, path: dest.path) }
        }
        note(action, relative, detail)
    }

    private mutating func append(_ relative: String, from source: String, offset: Int64, action: String = "appended") throws {
        let path = root + "/" + relative
        let fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot append to \(path): \(String(cString: strerror(errno)))") }
        defer { _ = Glibc_close(fd) }
        var added: Int64 = 0
        try Self.stream(source, from: offset) { chunk in
            try FileDescriptorIO.writeAll(fd, chunk, path: path)
            added += Int64(chunk.count)
        }
        guard fsync(fd) == 0 else { throw CCPodError.io("cannot flush \(path): \(String(cString: strerror(errno)))") }
        note(action, relative, "+\(added) bytes")
    }

    // MARK: - Files

    static func siblingId(of id: String, attempt: Int, origin: String? = nil) -> String {
        let seed = origin.map { "ccpod share sibling\n\($0)\n\(id)\n\(attempt)" } ?? "ccpod import sibling\n\(id)\n\(attempt)"
        var bytes = [UInt8](SHA256.hash(data: Data(seed.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = SHA256Hex.hex(bytes)
        let h = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(h[$0]) }.joined(separator: "-")
    }

    /// How `local` relates to `incoming`. With `lines`, only `local`'s complete lines count and a
    /// longer `incoming` that extends them is `incomingAhead`; otherwise files must be equal.
    static func relate(local: String, incoming: String, lines: Bool) throws -> Relation {
        guard let st = FileStat.of(local, followSymlinks: false) else { return .absent }
        guard st.isRegularFile else { throw CCPodError.io("\(local) is not a regular file (a symlink?); ccpod does not write through it") }
        guard let inSize = FileStat.of(incoming)?.size else { throw CCPodError.io("cannot read \(incoming)") }
        let complete = lines ? try LocalTree.completeLength(local, size: st.size) : st.size
        let common = min(complete, inSize)
        guard try samePrefix(local, incoming, length: common) else { return .diverged }
        if !lines { return complete == inSize ? .same : .diverged }
        if complete >= inSize { return complete == inSize ? .same : .localAhead }
        return st.size > complete ? .busy : .incomingAhead(from: complete)
    }

    static func samePrefix(_ a: String, _ b: String, length: Int64) throws -> Bool {
        let fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC)
        defer { if fa >= 0 { _ = Glibc_close(fa) }; if fb >= 0 { _ = Glibc_close(fb) } }
        guard fa >= 0, fb >= 0 else { throw CCPodError.io("cannot read \(fa < 0 ? a : b)") }
        let size = 1 << 20
        let ba = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        let bb = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { ba.deallocate(); bb.deallocate() }
        var remaining = length
        while remaining > 0 {
            let want = Int(min(Int64(size), remaining))
            let na = try FileDescriptorIO.read(fa, into: UnsafeMutableRawBufferPointer(rebasing: ba[0..<want]), path: a)
            let nb = try FileDescriptorIO.read(fb, into: UnsafeMutableRawBufferPointer(rebasing: bb[0..<want]), path: b)
            guard na == want, nb == want else { return false }
            if memcmp(ba.baseAddress!, bb.baseAddress!, want) != 0 { return false }
            remaining -= Int64(want)
        }
        return true
    }

    static func stream(_ path: String, from offset: Int64, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { _ = Glibc_close(fd) }
        guard lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else { throw CCPodError.io("cannot read \(path)") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try FileDescriptorIO.read(fd, into: buffer, path: path)
            if n == 0 { break }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    static func copy(from source: String, to dest: String, rewriter: SessionIdRewriter) throws {
        let size = FileStat.of(source)?.size ?? 0
        try AtomicFile.write(to: URL(fileURLWithPath: dest)) { fd in
            try rewriter.stream(file: source, offset: 0, length: size) { try FileDescriptorIO.writeAll(fd, $0, path: dest) }
        }
    }

    /// `path` without the custom-title lines an import gave sibling `sessionId`.
    static func dropTitleLines(of path: String, sessionId: String, suffix: String, into dest: String) throws {
        let marker = Array(" (\(suffix))\",\"sessionId\":\"\(sessionId)\",\"type\":\"custom-title\"}".utf8)
        var reader = try BoundedLineReader(path: path, maxLine: 1 << 20)
        defer { reader.close() }
        try AtomicFile.write(to: URL(fileURLWithPath: dest)) { fd in
            var out = FileSink(fd: fd, path: dest)
            var atLineStart = true
            while let (bytes, terminated) = try reader.next() {
                let whole = atLineStart && terminated
                atLineStart = terminated
                if whole, bytes.starts(with: Array("{\"customTitle\":".utf8)), bytes.count < 4096, bytes.reversed().starts(with: marker.reversed()) {
                    continue
                }
                try out.write(Array(bytes) + (terminated ? [0x0A] : []))
            }
            try out.finish()
        }
    }
}
