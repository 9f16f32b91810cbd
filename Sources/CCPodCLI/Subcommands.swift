import ArgumentParser

extension CCPodCommand {
    /// Every subcommand, in the order `ccpod --help` shows them.
    static let allSubcommands: [ParsableCommand.Type] = [
        PushCommand.self,
        PullCommand.self,
        SyncCommand.self,
        StatusCommand.self,
        ResolveCommand.self,
        SessionsCommand.self,
        ArchiveCommand.self,
        ResumeCommand.self,
        PodsCommand.self,
        DoctorCommand.self,
        HooksCommand.self,
        HookCommand.self,
        WatchCommand.self,
        PodCommand.self,
        CheckCommand.self,
        SetupCommand.self,
        CleanCommand.self,
        LaunchCommand.self,
        AttachCommand.self,
        DeployCommand.self,
        RunsCommand.self,
        ArtifactsCommand.self,
        CostCommand.self,
        ExportCommand.self,
        ImportCommand.self,
        KeygenCommand.self,
        ShareCommand.self,
    ]
}
