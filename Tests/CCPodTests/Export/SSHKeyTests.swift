@testable import CCPodKit
import Crypto
import Foundation
import Testing

/// ssh-ed25519 keys as export keys: the Edwards → Montgomery map, OpenSSH private keys, ssh-keygen's own keys.
@Suite struct SSHKeyTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out = [UInt8]()
        var chars = Array(hex)
        while chars.count >= 2 { out.append(UInt8(String(chars[0..<2]), radix: 16)!); chars.removeFirst(2) }
        return out
    }

    /// Computed with Python's `cryptography` (Ed25519 key from the seed; X25519 key from the
    /// clamped first half of SHA-512(seed), and its public key). The second seed is RFC 8032's test 1.
    static let vectors: [(seed: String, ed25519: String, x25519Private: String, x25519Public: String)] = [
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
         "3894eea49c580aef816935762be049559d6d1440dede12e6a125f1841fff8e6f",
         "4701d08488451f545a409fb58ae3e58581ca40ac3f7f114698cd71deac73ca01"),
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
         "307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f",
         "d85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e"),
    ]

    @Test("Known vectors: the Ed25519 public key maps to the X25519 public key of the clamped SHA-512 of the seed")
    func knownVectors() throws {
        for v in Self.vectors {
            #expect(Field25519.montgomeryU(ed25519: Self.bytes(v.ed25519)) == Self.bytes(v.x25519Public), "\(v.seed)")
            #expect([UInt8](SSHEd25519Keys.x25519Private(seed: Data(Self.bytes(v.seed)))) == Self.bytes(v.x25519Private))
        }
        // y = 1 (the neutral point) has no u; a non-canonical y is refused.
        var one = [UInt8](repeating: 0, count: 32)
        one[0] = 1
        #expect(Field25519.montgomeryU(ed25519: one) == nil)
        #expect(Field25519.montgomeryU(ed25519: [UInt8](repeating: 0xFF, count: 32)) == nil)
    }

    @Test("Random keys: the map agrees with swift-crypto's X25519 for the same secret")
    func agreesWithSwiftCrypto() throws {
        for _ in 0..<50 {
            let signing = Curve25519.Signing.PrivateKey()
            let agreement = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: SSHEd25519Keys.x25519Private(seed: signing.rawRepresentation))
            #expect(Field25519.montgomeryU(ed25519: [UInt8](signing.publicKey.rawRepresentation)) == [UInt8](agreement.publicKey.rawRepresentation))
        }
        let a = Field25519(littleEndian: Self.bytes("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
        #expect(a == Field25519.zero, "p is zero")
        let x = Field25519(littleEndian: Self.bytes("0900000000000000000000000000000000000000000000000000000000000000"))
        #expect(x * x.inverse == Field25519.one && (Field25519.zero - x) + x == Field25519.zero)
    }

    @Test("ssh-keygen's ed25519 key: export --to its .pub, import --identity its private key; a passphrase is a clear error (exit 64)",
          .enabled(if: ChildProcess.exists("ssh-keygen"), "ssh-keygen is not installed"))
    func sshKeygenRoundTrip() throws {
        let bed = try ExportBed()
        let id = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
        try bed.write(ExportBed.turn(id, 1, prompt: "Chart the trench", answer: "Charted."), "\(id).jsonl")
        let key = bed.tmp.url.appendingPathComponent("id_ed25519").path
        let protected = bed.tmp.url.appendingPathComponent("id_protected").path
        for (file, passphrase) in [(key, ""), (protected, "hunter22")] {
            let out = try ChildProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "me@bed", "-f", file])
            #expect(out.status == 0, "\(out.stderrText)")
        }
        let recipient = try ExportRecipient.parse(key + ".pub")
        let line = try String(contentsOfFile: key + ".pub", encoding: .utf8)
        #expect(try ExportRecipient.parse(line) == recipient)
        let identity = try ExportIdentity.load(URL(fileURLWithPath: key))
        #expect(try identity.recipient == recipient, "the private key's X25519 form matches the public key's")

        try bed.export { $0.recipients = [recipient] }
        let report = try bed.importOther { $0.identity = identity }
        #expect(report.count("created") == 1)
        #expect(bed.read("\(id).jsonl", in: bed.otherSlugDir) == bed.read("\(id).jsonl"))

        let error = try #require(throws: CCPodError.self) { try ExportIdentity.load(URL(fileURLWithPath: protected)) }
        #expect(error.status == .usage && error.message.contains("passphrase") && error.message.contains("ccpod keygen"), "\(error.message)")

        guard let binary = ClaudeTestPaths.ccpodBinary else { return }
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": bed.tmp.url.path,
                   "XDG_STATE_HOME": bed.tmp.url.appendingPathComponent("state").path, "XDG_CONFIG_HOME": bed.tmp.url.appendingPathComponent("config").path]
        let sealed = bed.tmp.url.appendingPathComponent("sealed.jsonl").path
        let export = try ChildProcess.run(binary.path, ["export", "--to", key + ".pub", "-o", sealed, "--claude-dir", bed.claude.path], environment: env, directory: bed.project)
        #expect(export.status == 0, "\(export.stderrText)")
        let other = bed.tmp.url.appendingPathComponent("third/app")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        let imported = try ChildProcess.run(binary.path, ["import", sealed, "--identity", key, "--project", other.path, "--claude-dir", bed.otherClaude.path],
                                            environment: env, directory: bed.project)
        #expect(imported.status == 0, "\(imported.stderrText)")
        let refused = try ChildProcess.run(binary.path, ["import", sealed, "--identity", protected, "--project", other.path, "--claude-dir", bed.otherClaude.path],
                                           environment: env, directory: bed.project)
        #expect(refused.status == 64 && refused.stderrText.contains("passphrase"), "\(refused.stderrText)")
    }
}
