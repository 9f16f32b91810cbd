import Crypto
import Foundation

/// A public key an export can be encrypted to: X25519, written `ccpodpk1<base64 of the 32 raw bytes>`.
public struct ExportRecipient: Sendable, Equatable {
    public static let prefix = "ccpodpk1"
    public let raw: Data

    public init(raw: Data) throws {
        guard raw.count == 32, (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw)) != nil else {
            throw CCPodError.usage("not a ccpod public key (32 bytes of X25519 expected)")
        }
        self.raw = raw
    }

    /// The first 16 hex digits of the SHA-256 of the key: names it in the encrypted file.
    public var keyId: String { String(SHA256Hex.of(raw).prefix(16)) }
    public var encoded: String { Self.prefix + raw.base64EncodedString() }
    var publicKey: Curve25519.KeyAgreement.PublicKey {
        get throws { try Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw) }
    }

    /// A recipient as given on the command line: `ccpodpk1…`, an `ssh-ed25519 AAAA… comment` line,
    /// or a file whose first line is one of them (a `.pub` file).
    public static func parse(_ given: String) throws -> ExportRecipient {
        let text = given.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix(prefix) {
            guard let data = strictBase64(String(text.dropFirst(prefix.count))) else {
                throw CCPodError.usage("\(text.prefix(20))… is not a valid ccpod public key (ccpodpk1 then base64)")
            }
            return try ExportRecipient(raw: data)
        }
        if text.hasPrefix(ExportIdentity.prefix) {
            throw CCPodError.usage("that is a private key; pass the public key (the ccpodpk1… line `ccpod keygen` printed, or the .pub file)")
        }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if words.count >= 2, words[1].hasPrefix("AAAA"), ["ssh-", "ecdsa-", "sk-"].contains(where: { words[0].hasPrefix($0) }) {
            if words[0] == SSHEd25519Keys.keyType { return try SSHEd25519Keys.recipient(publicLine: text) }
            let type = String(words[0].prefix(40))
            throw CCPodError.usage("""
                \(type) keys cannot be recipients: only ssh-ed25519 keys (whose X25519 form encrypts) and ccpod keys. \
                Pass an ssh-ed25519 public key, or ask the recipient to run `ccpod keygen` and send the ccpodpk1… line it prints
                """)
        }
        if text.hasPrefix(SSHEd25519Keys.privateHeader) {
            throw CCPodError.usage("that is a private key; pass the public key (the .pub file)")
        }
        guard !given.isEmpty, let st = FileStat.of(given), st.isRegularFile, st.size <= 65536,
              let content = try? String(contentsOfFile: given, encoding: .utf8) else {
            throw CCPodError.usage("\(given) is neither a public key (ccpodpk1…, ssh-ed25519 AAAA…) nor a file holding one")
        }
        let first = content.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard first.hasPrefix(prefix) || first.hasPrefix(ExportIdentity.prefix) || first.hasPrefix("ssh-") || first.hasPrefix("ecdsa-")
                || first.hasPrefix("sk-") || first.hasPrefix(SSHEd25519Keys.privateHeader) else {
            throw CCPodError.usage("\(given) does not hold a public key (a line starting with ccpodpk1 or ssh-ed25519)")
        }
        return try parse(first)
    }

    /// Base64 that decodes and encodes back to the same text (so no byte of it can change unnoticed).
    static func strictBase64(_ text: String) -> Data? {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
        return data
    }
}

/// A private key for decrypting exports, written `ccpodsk1<base64 of the 32 raw bytes>` in a 0600 file.
public struct ExportIdentity: Sendable {
    static let prefix = "ccpodsk1"
    let raw: Data

    /// A new random key.
    public static func generate() -> ExportIdentity {
        ExportIdentity(raw: Curve25519.KeyAgreement.PrivateKey().rawRepresentation)
    }

    var privateKey: Curve25519.KeyAgreement.PrivateKey {
        get throws { try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw) }
    }

    public var recipient: ExportRecipient {
        get throws { try ExportRecipient(raw: privateKey.publicKey.rawRepresentation) }
    }

    /// The default key file: `identity` in ccpod's config dir.
    public static func defaultURL(_ locations: CCPodLocations) -> URL {
        locations.configDir.appendingPathComponent("identity", isDirectory: false)
    }

    /// Reads a key file: a ccpod key, or an unencrypted OpenSSH ssh-ed25519 private key.
    public static func load(_ url: URL) throws -> ExportIdentity {
        guard let st = FileStat.of(url.path), st.isRegularFile, st.size <= 16384,
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw CCPodError.usage("cannot read the key file \(url.path); create one with `ccpod keygen` or pass --identity FILE")
        }
        if text.contains(SSHEd25519Keys.privateHeader) {
            return try SSHEd25519Keys.identity(privateKeyText: text, path: url.path)
        }
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard line.hasPrefix(prefix), let data = ExportRecipient.strictBase64(String(line.dropFirst(prefix.count))), data.count == 32,
              (try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: data)) != nil else {
            throw CCPodError.badData("\(url.path) is not a ccpod key file (a line starting with ccpodsk1, as `ccpod keygen` writes) nor an OpenSSH ssh-ed25519 private key")
        }
        return ExportIdentity(raw: data)
    }

    /// Writes the key to `url` (0600) and its public key to `url.pub`; refuses to replace an existing key.
    public func write(to url: URL) throws {
        let pub = URL(fileURLWithPath: url.path + ".pub")
        for existing in [url, pub] where FileStat.of(existing.path, followSymlinks: false) != nil {
            throw CCPodError.usage("\(existing.path) already exists; ccpod never replaces a key (remove it first, or pass -o FILE)")
        }
        try CCPodLocations.makePrivateDirectory(url.deletingLastPathComponent())
        try AtomicFile.write(Data((Self.prefix + raw.base64EncodedString() + "\n").utf8), to: url, mode: 0o600)
        try AtomicFile.write(Data((try recipient.encoded + "\n").utf8), to: pub, mode: 0o600)
    }
}

/// The encrypted export, text and line-oriented:
/// ```
/// ccpod-encrypted-export v1 X25519-HKDF-SHA256-ChaCha20Poly1305
/// recipients <key id> <key id> …
/// recipient <key id> <base64 HPKE encapsulated key> <base64 HPKE-sealed content key>
/// …
/// body
/// <base64 of one ChaCha20-Poly1305 chunk: ciphertext and tag>
/// …
/// ```
/// The first two lines are authenticated by every recipient's sealed key (HPKE associated
/// data) and by every chunk (their SHA-256 in the chunk's associated data, with the chunk's
/// number and whether it is the last one: chunks cannot be dropped, reordered or cut off).
enum ExportEncryption {
    static let magic = "ccpod-encrypted-export v1 X25519-HKDF-SHA256-ChaCha20Poly1305"
    static let info = Data("ccpod session export v1".utf8)
    static let chunkSize = 64 * 1024
    static var suite: HPKE.Ciphersuite { .Curve25519_SHA256_ChachaPoly }

    static func aad(headerDigest: Data, index: UInt64, last: Bool) -> Data {
        var data = headerDigest
        withUnsafeBytes(of: index.bigEndian) { data.append(contentsOf: $0) }
        data.append(last ? 1 : 0)
        return data
    }

    static func nonce(_ index: UInt64) throws -> ChaChaPoly.Nonce {
        var bytes = Data(repeating: 0, count: 4)
        withUnsafeBytes(of: index.bigEndian) { bytes.append(contentsOf: $0) }
        return try ChaChaPoly.Nonce(data: bytes)
    }

    static func isEncrypted(_ firstLine: ArraySlice<UInt8>) -> Bool {
        firstLine.starts(with: Array("ccpod-encrypted-export".utf8))
    }
}

/// Encrypts export lines as they come, 64 KiB per chunk.
struct EncryptingSink: ExportSink {
    private var output: FileSink
    private let key: SymmetricKey
    private let headerDigest: Data
    private var index: UInt64 = 0
    private var pending = [UInt8]()

    init(recipients: [ExportRecipient], output: FileSink) throws {
        self.output = output
        key = SymmetricKey(size: .bits256)
        let core = ExportEncryption.magic + "\n" + "recipients " + recipients.map(\.keyId).joined(separator: " ") + "\n"
        headerDigest = Data(SHA256.hash(data: Data(core.utf8)))
        var header = core
        let keyBytes = key.withUnsafeBytes { Data($0) }
        for recipient in recipients {
            var sender = try HPKE.Sender(recipientKey: try recipient.publicKey, ciphersuite: ExportEncryption.suite, info: ExportEncryption.info)
            let wrapped = try sender.seal(keyBytes, authenticating: Data(core.utf8))
            header += "recipient \(recipient.keyId) \(sender.encapsulatedKey.base64EncodedString()) \(wrapped.base64EncodedString())\n"
        }
        header += "body\n"
        try self.output.write(Array(header.utf8))
    }

    mutating func write(_ bytes: [UInt8]) throws {
        pending.append(contentsOf: bytes)
        // A full chunk is sealed only once more follows, so the last one is known when it is sealed.
        while pending.count > ExportEncryption.chunkSize {
            try seal(pending[0..<ExportEncryption.chunkSize], last: false)
            pending.removeFirst(ExportEncryption.chunkSize)
        }
    }

    mutating func finish() throws {
        try seal(pending[...], last: true)
        pending.removeAll()
        try output.finish()
    }

    private mutating func seal(_ plain: ArraySlice<UInt8>, last: Bool) throws {
        let box = try ChaChaPoly.seal(plain, using: key, nonce: try ExportEncryption.nonce(index),
                                      authenticating: ExportEncryption.aad(headerDigest: headerDigest, index: index, last: last))
        index += 1
        try output.write(Array((box.ciphertext + box.tag).base64EncodedString().utf8) + [0x0A])
    }
}

extension ExportEncryption {
    /// Encrypts the plain export at `source` into `destination` (0600) to `recipients`.
    static func encrypt(source: String, to destination: URL, recipients: [ExportRecipient]) throws {
        try AtomicFile.write(to: destination, mode: 0o600) { fd in
            var sink = try EncryptingSink(recipients: recipients, output: FileSink(fd: fd, path: destination.path))
            try ImportApply.stream(source, from: 0) { try sink.write([UInt8]($0)) }
            try sink.finish()
        }
    }
}
