import Crypto
import Foundation

extension ExportEncryption {
    /// Decrypts the encrypted export at `source` into `destination` (0600) with `identity`.
    /// A key the file was not encrypted to, a changed byte, a dropped or reordered chunk and a
    /// cut-off end are errors (exit 65); nothing decrypted is kept then.
    static func decrypt(source: String, to destination: URL, identity: ExportIdentity?, identityPath: String) throws {
        var reader = try BoundedLineReader(path: source, maxLine: 1 << 20)
        defer { reader.close() }
        func damaged(_ what: String) -> CCPodError {
            CCPodError.badData("cannot decrypt \(source): \(what); the file was changed or damaged after it was encrypted")
        }
        func line() throws -> String? {
            guard let (bytes, terminated) = try reader.next() else { return nil }
            guard terminated || reader.finished else { throw damaged("a line is too long") }
            return String(decoding: bytes, as: UTF8.self)
        }
        guard try line() == magic else {
            throw CCPodError.badData("\(source) is an encrypted export of a format this ccpod (\(CCPodVersion.string)) does not read")
        }
        guard let recipientsLine = try line(), recipientsLine.hasPrefix("recipients ") else { throw damaged("no recipients line") }
        let core = magic + "\n" + recipientsLine + "\n"
        let listed = recipientsLine.split(separator: " ").dropFirst().map(String.init)
        guard let identity else {
            throw CCPodError.usage("\(source) is encrypted (to key \(listed.joined(separator: ", "))); pass --identity FILE with your ccpod key, or create one with `ccpod keygen` and ask for an export to it")
        }
        let mine = try identity.recipient.keyId
        var wrapped: (enc: Data, sealed: Data)?
        while let l = try line(), l != "body" {
            let parts = l.split(separator: " ").map(String.init)
            guard parts.count == 4, parts[0] == "recipient" else { throw damaged("an unexpected header line") }
            if parts[1] == mine, let enc = ExportRecipient.strictBase64(parts[2]), let sealed = ExportRecipient.strictBase64(parts[3]) {
                wrapped = (enc, sealed)
            }
        }
        guard listed.contains(mine), let wrapped else {
            throw CCPodError.badData("\(source) is encrypted to key(s) \(listed.joined(separator: ", ")); your key \(mine) (\(identityPath)) is not one of them")
        }
        let keyBytes: Data
        do {
            var recipient = try HPKE.Recipient(privateKey: try identity.privateKey, ciphersuite: suite, info: info, encapsulatedKey: wrapped.enc)
            keyBytes = try recipient.open(wrapped.sealed, authenticating: Data(core.utf8))
        } catch {
            throw damaged("the key for \(mine) does not open")
        }
        guard keyBytes.count == 32 else { throw damaged("the content key has the wrong size") }
        let key = SymmetricKey(data: keyBytes)
        let digest = Data(SHA256.hash(data: Data(core.utf8)))
        try AtomicFile.write(to: destination, mode: 0o600) { fd in
            var out = FileSink(fd: fd, path: destination.path)
            var index: UInt64 = 0
            var current = try line()
            var sawLast = false
            while let text = current {
                let next = try line()
                guard !sawLast else { throw damaged("there is data after the last chunk") }
                guard let data = ExportRecipient.strictBase64(text), data.count >= 16 else { throw damaged("chunk \(index + 1) is not base64") }
                let last = next == nil
                do {
                    let box = try ChaChaPoly.SealedBox(nonce: try nonce(index), ciphertext: data.dropLast(16), tag: data.suffix(16))
                    let plain = try ChaChaPoly.open(box, using: key, authenticating: aad(headerDigest: digest, index: index, last: last))
                    try out.write([UInt8](plain))
                } catch let error as CCPodError {
                    throw error
                } catch {
                    throw damaged(last ? "the last chunk does not authenticate (changed, or the file was cut off)" : "chunk \(index + 1) does not authenticate")
                }
                sawLast = last
                index += 1
                current = next
            }
            guard sawLast else { throw damaged("the file ends before its first chunk") }
            try out.finish()
        }
    }
}
