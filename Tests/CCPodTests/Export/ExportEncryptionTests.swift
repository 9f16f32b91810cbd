@testable import CCPodKit
import Foundation
import Testing

/// `--to`: HPKE (X25519, HKDF-SHA256, ChaCha20-Poly1305) to ccpod keys; wrong keys and changed bytes are clear errors.
@Suite struct ExportEncryptionTests {
    static let id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

    static func bedWithKeys() throws -> (ExportBed, alice: URL, bob: URL) {
        let bed = try ExportBed()
        var content = Data()
        for n in 0..<300 { content += ExportBed.turn(id, n, prompt: "Step \(n) of the sweep", answer: String(repeating: "result \(n) ", count: 40)) }
        try bed.write(content, "\(id).jsonl")
        let alice = bed.tmp.url.appendingPathComponent("keys/alice")
        let bob = bed.tmp.url.appendingPathComponent("keys/bob")
        try ExportIdentity.generate().write(to: alice)
        try ExportIdentity.generate().write(to: bob)
        return (bed, alice, bob)
    }

    @Test("Encrypted to a key: the owner imports the same sessions as from a plain file; keys are 0600 and never replaced")
    func roundTrip() throws {
        let (bed, alice, _) = try Self.bedWithKeys()
        let recipient = try ExportRecipient.parse(alice.path + ".pub")
        let summary = try bed.export { $0.recipients = [recipient] }
        #expect(summary.encryptedTo == [recipient.keyId])
        let encrypted = String(decoding: try Data(contentsOf: bed.exportFile), as: UTF8.self)
        #expect(encrypted.hasPrefix(ExportEncryption.magic + "\nrecipients \(recipient.keyId)\n"))
        #expect(!encrypted.contains("Step 12 of the sweep"))
        #expect(encrypted.split(separator: "\n").count > 6, "several chunks expected")

        let report = try bed.importOther { $0.identity = try? ExportIdentity.load(alice) }
        #expect(report.count("created") == 1)
        #expect(bed.read("\(Self.id).jsonl", in: bed.otherSlugDir) == bed.read("\(Self.id).jsonl"))
        #expect(FileStat.of(alice.path)?.permissions == 0o600)
        #expect(throws: CCPodError.self) { try ExportIdentity.generate().write(to: alice) }
        // The public key string works as well as its file; ssh keys other than ssh-ed25519 are explained, not accepted.
        #expect(try ExportRecipient.parse(recipient.encoded) == recipient)
        #expect((try? ExportRecipient.parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop")) != nil)
        let ssh = try #require(throws: CCPodError.self) { try ExportRecipient.parse("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 me@laptop") }
        #expect(ssh.message.contains("ccpod keygen") && ssh.message.contains("ssh-ed25519"))
    }

    @Test("A key the file was not encrypted to, a flipped byte anywhere, a cut-off file: exit 65, nothing imported")
    func wrongKeyAndDamage() throws {
        let (bed, alice, bob) = try Self.bedWithKeys()
        try bed.export { $0.recipients = [try! ExportRecipient.parse(alice.path + ".pub")] }
        let wrong = try #require(throws: CCPodError.self) { try bed.importOther { $0.identity = try? ExportIdentity.load(bob) } }
        #expect(wrong.status == .badData && wrong.message.contains("not one of them"), "\(wrong.message)")
        let none = try #require(throws: CCPodError.self) { try bed.importOther() }
        #expect(none.message.contains("--identity"))

        let original = try Data(contentsOf: bed.exportFile)
        let text = String(decoding: original, as: UTF8.self)
        let bodyStart = try #require(text.range(of: "\nbody\n")).upperBound.utf16Offset(in: text)
        let recipientLine = try #require(text.range(of: "\nrecipient ")).upperBound.utf16Offset(in: text)
        // In the recipients' key ids, the wrapped key, the first chunk, a middle chunk, and the last chunk.
        let positions = [40, recipientLine + 60, bodyStart + 10, bodyStart + (original.count - bodyStart) / 2, original.count - 5]
        for position in positions {
            var damaged = original
            damaged[position] = damaged[position] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let file = bed.tmp.url.appendingPathComponent("damaged-\(position)")
            try damaged.write(to: file)
            let error = try #require(throws: CCPodError.self, "flip at \(position)") {
                try bed.importOther(.file(file.path)) { $0.identity = try? ExportIdentity.load(alice) }
            }
            #expect(error.status == .badData, "flip at \(position): \(error.message)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast(2)
        let cut = bed.tmp.url.appendingPathComponent("cut")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: cut)
        let error = try #require(throws: CCPodError.self) { try bed.importOther(.file(cut.path)) { $0.identity = try? ExportIdentity.load(alice) } }
        #expect(error.status == .badData && error.message.contains("cut off"), "\(error.message)")
        #expect(ExportBed.files(under: bed.otherSlugDir).isEmpty)
    }
}
