import Foundation

/// The archive in which new files travel to the pod, so that one `tar -x` there
/// writes all of them instead of one process per file.
///
/// Only what the agent needs: regular files, mode 0600, owner 0, in POSIX ustar
/// form, with a pax extended header (`path`, `size`) for a name that does not fit
/// ustar's fields or a file of 8 GiB or more; padded to tar's 10240-byte record, as
/// `tar` itself writes archives, and a large one to a whole number of `bigRecord`s:
/// GNU tar on the pod then reads it straight from the request in records that size
/// (it never reads past the record that ends the archive). The agent reads it back
/// without tar on pods that lack it, so the two must agree on this layout
/// (`agent.sh`, `take_archive` and `unpack_plain`).
enum TarArchive {
    static let block = 512
    static let record = 10240
    /// 20 records: the record of an archive of `bigFrom` bytes or more, so that tar
    /// reads and writes 200 KiB at a time instead of 10 KiB (a twentieth of the system
    /// calls for the same bytes; the padding, zeros, is at most 1.2 % of the archive
    /// and compresses to nothing).
    static let bigRecord = 20 * record
    static let bigFrom: Int64 = 16 << 20

    /// One member: its name in the archive and its data length.
    struct Member {
        var name: String
        var size: Int64
    }

    /// The bytes that come before a member's data.
    static func header(for member: Member, mtime: Int64 = Int64(Date().timeIntervalSince1970)) -> Data {
        let name = Array(member.name.utf8)
        var pax: [(String, String)] = []
        let split = ustarSplit(name)
        if split == nil { pax.append(("path", member.name)) }
        if member.size > maxOctal11 { pax.append(("size", String(member.size))) }
        var out = Data()
        if !pax.isEmpty {
            let records = pax.map { paxRecord(key: $0.0, value: $0.1) }.reduce(Data(), +)
            out.append(ustarHeader(name: Array("PaxHeader".utf8), prefix: [], size: Int64(records.count), type: "x", mtime: mtime))
            out.append(records)
            out.append(Data(count: padding(after: Int64(records.count))))
        }
        let (prefix, rest) = split ?? ([], Array(name.suffix(100)))
        out.append(ustarHeader(name: rest, prefix: prefix, size: member.size > maxOctal11 ? 0 : member.size, type: "0", mtime: mtime))
        return out
    }

    /// Zero bytes after a member's data, up to the next block.
    static func padding(after size: Int64) -> Int {
        Int((Int64(block) - size % Int64(block)) % Int64(block))
    }

    /// The whole archive's length: every member's header, data and padding, two zero
    /// blocks, then zeros up to a whole record (a whole `bigRecord` from `bigFrom` on).
    static func length(of members: [Member], mtime: Int64 = 0) -> Int64 {
        var total: Int64 = 0
        for m in members {
            total += Int64(header(for: m, mtime: mtime).count) + m.size + Int64(padding(after: m.size))
        }
        total += Int64(2 * block)
        let unit = Int64(total >= bigFrom ? bigRecord : record)
        return (total + unit - 1) / unit * unit
    }

    // MARK: - Fields

    /// 8 GiB − 1: the largest size an 11-digit octal field holds.
    static let maxOctal11: Int64 = 0o77777777777

    /// ustar keeps a long name as prefix (≤ 155 bytes) + "/" + name (≤ 100 bytes).
    private static func ustarSplit(_ name: [UInt8]) -> (prefix: [UInt8], name: [UInt8])? {
        if name.count <= 100 { return ([], name) }
        guard name.count <= 256 else { return nil }
        for i in stride(from: min(155, name.count - 2), through: 1, by: -1) where name[i] == UInt8(ascii: "/") {
            let rest = Array(name[(i + 1)...])
            if rest.count <= 100 && !rest.isEmpty { return (Array(name[..<i]), rest) }
        }
        return nil
    }

    /// "<length> <key>=<value>\n", where length counts the whole record, its own digits too.
    static func paxRecord(key: String, value: String) -> Data {
        let body = " \(key)=\(value)\n".utf8.count
        var length = body + 1
        while String(length).utf8.count + body != length { length = String(length).utf8.count + body }
        return Data("\(length) \(key)=\(value)\n".utf8)
    }

    private static func ustarHeader(name: [UInt8], prefix: [UInt8], size: Int64, type: Character, mtime: Int64) -> Data {
        var h = [UInt8](repeating: 0, count: block)
        func put(_ bytes: [UInt8], at offset: Int) {
            for (i, b) in bytes.enumerated() { h[offset + i] = b }
        }
        func octal(_ value: Int64, digits: Int, at offset: Int) {
            let text = String(value, radix: 8)
            put(Array((String(repeating: "0", count: max(0, digits - text.count)) + text).utf8), at: offset)
        }
        put(name, at: 0)
        octal(0o600, digits: 7, at: 100)
        octal(0, digits: 7, at: 108)
        octal(0, digits: 7, at: 116)
        octal(size, digits: 11, at: 124)
        octal(max(0, min(mtime, maxOctal11)), digits: 11, at: 136)
        h[156] = type.asciiValue!
        put(Array("ustar\u{0}00".utf8), at: 257)
        put(Array("root".utf8), at: 265)
        put(Array("root".utf8), at: 297)
        put(prefix, at: 345)
        // The checksum: the sum of all bytes, its own field counted as spaces.
        put([UInt8](repeating: 0x20, count: 8), at: 148)
        let sum = h.reduce(0) { $0 + Int64($1) }
        octal(sum, digits: 6, at: 148)
        h[154] = 0
        h[155] = 0x20
        return Data(h)
    }
}
