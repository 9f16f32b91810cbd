import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod share push|pull`: sessions through the team's git repository.
struct ShareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share",
        abstract: "Share this project's sessions with your team through a git repository.",
        discussion: """
        The repository (remote under [share] in config.toml, or --remote) holds one export per \
        person and project: sessions/<user>/<project>/sessions.jsonl. push writes yours (scrubbed, \
        encrypted to [share] recipients when set); pull imports everyone else's as sessions titled \
        "… (from <user>)". ccpod writes only your own folder.
        """,
        subcommands: [SharePushCommand.self, SharePullCommand.self])
}

/// What push and pull share.
struct ShareArguments: ParsableArguments {
    @Option(help: ArgumentHelp("The team's git repository (default: remote under [share] in config.toml).", valueName: "git-url"))
    var remote: String?

    @Option(help: ArgumentHelp("The project directory (default: the git root of the current directory, else the directory).", valueName: "path"))
    var project: String?

    @Option(help: ArgumentHelp("The project's folder in the repository (default: the name of its origin remote's repository, else of its directory).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Your ccpod key (default: identity in ccpod's config dir).", valueName: "file"))
    var identity: String?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @OptionGroup var claude: ClaudeDirOption

    func resolve() throws -> (options: ShareOptions, claudeDir: URL, locations: CCPodLocations) {
        let env = ProcessInfo.processInfo.environment
        let locations = CCPodLocations.resolve(environment: env)
        let config = try CCPodConfig.load(from: locations)
        guard let remote = remote ?? config.share.remote else {
            throw CCPodError.usage("no share repository: pass --remote GIT_URL, or set `remote = \"GIT_URL\"` under [share] in \(locations.configFile.path)")
        }
        let root = try claude.resolve()
        let projectPath = ProjectSlug.resolvedPath(URL(fileURLWithPath: try project.map(SessionsCommand.absolutePath) ?? SessionsCommand.defaultProject()))
        let projectName: String
        if let name {
            guard ShareNames.isValid(name) else { throw CCPodError.usage("\(name) is not a folder name ccpod uses: letters, digits, '.', '_' and '-', starting with a letter or digit") }
            projectName = name
        } else {
            guard let derived = ShareNames.project(path: projectPath) else {
                throw CCPodError.usage("cannot name \(projectPath) in the share repository; pass --name NAME")
            }
            projectName = derived
        }
        var options = ShareOptions(remote: remote, user: try ShareNames.user(settings: config.share, environment: env),
                                   projectPath: projectPath, projectName: projectName, stateDir: locations.stateDir)
        options.recipients = try config.share.recipients.map { given in
            try ExportRecipient.parse(given.hasPrefix("~/") ? SessionsCommand.absolutePath(given) : given)
        }
        let keyURL = identity.map { URL(fileURLWithPath: SessionsCommand.absolutePath($0)) } ?? ExportIdentity.defaultURL(locations)
        options.identityPath = keyURL.path
        if identity != nil || FileStat.of(keyURL.path) != nil {
            options.identity = try ExportIdentity.load(keyURL)
        }
        return (options, root, locations)
    }

    static func encoded<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}

struct SharePushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Export this project's sessions into your folder of the share repository, commit and push.",
        discussion: """
        Writes sessions/<user>/<project>/sessions.jsonl (secrets scrubbed; encrypted to [share] \
        recipients and you when recipients are set) and sessions/<user>/owner (your public key), \
        commits and pushes. When others pushed meanwhile, ccpod fetches and commits again on top \
        (up to 5 times). Sessions you pulled from others are not pushed back. A folder another \
        key owns is refused (exit 77).
        """
    )

    @OptionGroup var arguments: ShareArguments

    func run() throws {
        let (options, root, locations) = try arguments.resolve()
        let locks = try OperationLock.acquire([.share(options.remote)], stateDir: locations.stateDir, purpose: "share push") { Console.note("waiting for \($0)") }
        defer { locks.forEach { $0.release() } }
        let summary = try ShareRun(claudeDir: root).push(options)
        for note in summary.skipped { Console.note("skipped \(note)") }
        if arguments.json {
            Console.out(try ShareArguments.encoded(summary))
            return
        }
        let commit = summary.commit.map { " (commit \($0.prefix(10)))" } ?? ""
        var line = summary.action == "pushed"
            ? "pushed \(summary.sessions) session(s), \(summary.lines) line(s) to \(summary.path) in \(summary.remote), branch \(summary.branch)\(commit)"
            : "unchanged: \(summary.path) in \(summary.remote) already holds these \(summary.sessions) session(s)\(commit)"
        if summary.action == "pushed" {
            if !summary.encryptedTo.isEmpty { line += ", encrypted to \(summary.encryptedTo.joined(separator: ", "))" }
            line += "; \(summary.redactions.values.reduce(0, +)) secret(s) replaced by placeholders"
        }
        if !summary.leftOut.isEmpty { line += "; \(summary.leftOut.count) session(s) pulled from others left out" }
        Console.note(line)
    }
}

struct SharePullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Import everyone else's sessions of this project from the share repository.",
        discussion: """
        Fetches the repository and imports sessions/<user>/<project>/sessions.jsonl of every other \
        user as sessions titled "… (from <user>)"; pulling again changes nothing, and a session \
        that grew there grows here. Exports encrypted to others are skipped. A file ccpod does not \
        accept (not a regular file, too big, malformed) is refused, the others still imported (exit 65).
        """
    )

    @OptionGroup var arguments: ShareArguments

    func run() throws {
        let (options, root, locations) = try arguments.resolve()
        let locks = try OperationLock.acquire([.share(options.remote), .claudeDir(root.path)], stateDir: locations.stateDir,
                                              purpose: "share pull") { Console.note("waiting for \($0)") }
        defer { locks.forEach { $0.release() } }
        let report = try ShareRun(claudeDir: root).pull(options)
        if arguments.json {
            Console.out(try ShareArguments.encoded(report))
        } else {
            var text = ""
            for user in report.users {
                for item in user.items where item.action != "unchanged" {
                    text += "\(item.action.padding(toLength: 10, withPad: " ", startingAt: 0)) \(item.path)\(item.detail.map { "  (\($0))" } ?? "")\n"
                }
            }
            Console.out(text)
            if report.commit == nil { Console.note("the share repository \(report.remote) is empty: nothing to pull") }
            for user in report.users {
                switch user.status {
                case "imported":
                    let written = user.items.filter { ["created", "appended", "sibling"].contains($0.action) }.count
                    Console.note("\(user.user): \(user.sessions) session(s), \(written) file(s) written")
                default:
                    Console.note("\(user.user): \(user.status): \(user.detail ?? "")")
                }
            }
            if report.commit != nil && report.users.isEmpty { Console.note("nobody else has shared sessions of \(report.project) yet") }
        }
        if !report.refused.isEmpty {
            throw CCPodError.badData("refused the exports of \(report.refused.map(\.user).joined(separator: ", ")) (see above); the others were imported")
        }
    }
}
