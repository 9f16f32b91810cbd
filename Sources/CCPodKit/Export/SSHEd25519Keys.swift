import Crypto
import Foundation

/// ssh-ed25519 keys as export keys: the public key (`ssh-ed25519 AAAA… comment`) becomes an X25519
/// recipient by the birational map from Edwards to Montgomery form, and an unencrypted OpenSSH
/// private key (`openssh-key-v1`) the matching X25519 private key (SHA-512 of the 32-byte seed,
/// first half clamped), as libsodium's `crypto_sign_ed25519_*_to_curve25519` do.
enum SSHEd25519Keys {
    static let keyType = "ssh-ed25519"
    static let privateHeader = "-----BEGIN OPENSSH PRIVATE KEY-----"
    static let privateFooter = "-----END OPENSSH PRIVATE KEY-----"

    /// The recipient of an `ssh-ed25519 AAAA… [comment]` line.
    static func recipient(publicLine line: String) throws -> ExportRecipient {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count >= 2, parts[0] == keyType, let blob = Data(base64Encoded: parts[1]) else {
            throw CCPodError.usage("\(line.prefix(30))… is not an ssh-ed25519 public key line (ssh-ed25519 AAAA… comment)")
        }
        var reader = SSHWireReader(blob)
        guard (try? reader.string()) == keyType, let key = try? reader.bytes(), key.count == 32, reader.atEnd,
              let u = Field25519.montgomeryU(ed25519: [UInt8](key)) else {
            throw CCPodError.usage("\(line.prefix(30))… is not a valid ssh-ed25519 public key")
        }
        return try ExportRecipient(raw: Data(u))
    }

    /// The X25519 private key of an Ed25519 seed: SHA-512, the first 32 bytes, clamped.
    static func x25519Private(seed: Data) -> Data {
        var scalar = [UInt8](SHA512.hash(data: seed).prefix(32))
        scalar[0] &= 248
        scalar[31] &= 127
        scalar[31] |= 64
        return Data(scalar)
    }

    /// The identity of an OpenSSH private key file's text (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    /// A key protected by a passphrase is a usage error (exit 64) saying what to use instead.
    static func identity(privateKeyText text: String, path: String) throws -> ExportIdentity {
        func bad(_ what: String) -> CCPodError { CCPodError.badData("\(path) is not a readable OpenSSH private key: \(what)") }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let start = lines.firstIndex(of: privateHeader), let end = lines.firstIndex(of: privateFooter), start < end,
              let blob = Data(base64Encoded: lines[(start + 1)..<end].joined()) else { throw bad("no base64 body between its BEGIN and END lines") }
        var reader = SSHWireReader(blob)
        guard (try? reader.raw(15)) == Data("openssh-key-v1\0".utf8) else { throw bad("not the openssh-key-v1 format") }
        let cipher = try reader.string(or: bad("cut off"))
        let kdf = try reader.string(or: bad("cut off"))
        _ = try reader.bytes(or: bad("cut off"))
        guard cipher == "none", kdf == "none" else {
            throw CCPodError.usage("""
                \(path) is protected by a passphrase, which ccpod does not read. Use a ccpod key instead \
                (`ccpod keygen`; send its ccpodpk1… line for --to), or an ssh-ed25519 key without a passphrase
                """)
        }
        guard try reader.uint32(or: bad("cut off")) == 1 else { throw bad("it holds more than one key") }
        _ = try reader.bytes(or: bad("cut off"))
        var secret = SSHWireReader(try reader.bytes(or: bad("cut off")))
        guard try secret.uint32(or: bad("cut off")) == (try secret.uint32(or: bad("cut off"))) else { throw bad("its check numbers differ (damaged)") }
        let type = try secret.string(or: bad("cut off"))
        guard type == keyType else {
            throw CCPodError.usage("\(path) is an \(type.prefix(40)) key; ccpod decrypts only with ssh-ed25519 keys or ccpod keys (`ccpod keygen`)")
        }
        let publicKey = try secret.bytes(or: bad("cut off"))
        let secretKey = try secret.bytes(or: bad("cut off"))
        guard publicKey.count == 32, secretKey.count == 64, secretKey.suffix(32) == publicKey else { throw bad("its ed25519 key has the wrong size") }
        return ExportIdentity(raw: x25519Private(seed: secretKey.prefix(32)))
    }
}

/// Reads SSH wire encoding (RFC 4251): big-endian uint32s and length-prefixed strings.
struct SSHWireReader {
    private let data: [UInt8]
    private var offset = 0

    init(_ data: Data) {
        self.data = [UInt8](data)
    }

    var atEnd: Bool { offset == data.count }

    struct Short: Error {}

    mutating func raw(_ count: Int) throws -> Data {
        guard count >= 0, data.count - offset >= count else { throw Short() }
        defer { offset += count }
        return Data(data[offset..<(offset + count)])
    }

    mutating func uint32() throws -> UInt32 {
        try raw(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    mutating func bytes() throws -> Data {
        let length = try uint32()
        guard length <= 1 << 20 else { throw Short() }
        return try raw(Int(length))
    }

    mutating func string() throws -> String { String(decoding: try bytes(), as: UTF8.self) }

    mutating func uint32(or failure: CCPodError) throws -> UInt32 { do { return try uint32() } catch { throw failure } }
    mutating func bytes(or failure: CCPodError) throws -> Data { do { return try bytes() } catch { throw failure } }
    mutating func string(or failure: CCPodError) throws -> String { do { return try string() } catch { throw failure } }
}
