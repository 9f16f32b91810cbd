import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod keygen`: a key pair for encrypted exports.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create a key for encrypted session exports and print its public key.",
        discussion: """
        Writes the private key (0600) to `identity` in ccpod's config dir, or to FILE, and the \
        public key beside it (FILE.pub), and prints the public key (ccpodpk1…): others pass it to \
        `ccpod export --to`, and `ccpod import` decrypts with the private key. An existing key is \
        never replaced.
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the private key here.", valueName: "file"))
    var output: String?

    func run() throws {
        let locations = CCPodLocations.resolve(environment: ProcessInfo.processInfo.environment)
        let url = output.map { URL(fileURLWithPath: SessionsCommand.absolutePath($0)) } ?? ExportIdentity.defaultURL(locations)
        let identity = ExportIdentity.generate()
        try identity.write(to: url)
        let recipient = try identity.recipient
        Console.out(recipient.encoded + "\n")
        Console.note("key \(recipient.keyId): private key in \(url.path), public key in \(url.path).pub; share the public key, keep the private one")
    }
}
