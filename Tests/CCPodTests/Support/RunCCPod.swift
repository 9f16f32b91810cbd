@testable import CCPodCLI
import Foundation

/// Runs a ccpod command line in this process, as the binary would, with `env` as its
/// whole environment and nobody at a terminal to answer questions.
func runCCPod(_ args: [String], _ env: [String: String]) throws {
    try CLIContext.$interactiveOverride.withValue(false) {
        try CLIContext.$environment.withValue(env) {
            var command = try CCPodCommand.parseAsRoot(args)
            try command.run()
        }
    }
}
