import ArgumentParser

extension CCPodCommand {
    /// Every subcommand, in the order `ccpod --help` shows them.
    static let allSubcommands: [ParsableCommand.Type] = [
        PodCommand.self,
        CheckCommand.self,
    ]
}
