import Foundation

/// What `ccpod share push` and `pull` work with.
public struct ShareOptions: Sendable {
    /// The git repository (URL or path).
    public var remote: String
    /// Your folder: `sessions/<user>/`.
    public var user: String
    /// The project here (symlinks resolved) and its name in the repository.
    public var projectPath: String
    public var projectName: String
    /// Push: encrypt to these keys (and yours) when any are given.
    public var recipients: [ExportRecipient] = []
    /// Your key: it owns your folder (push) and opens exports encrypted to you (pull).
    public var identity: ExportIdentity?
    public var identityPath = ""
    /// ccpod's state dir (the local copy of the repository lives in `share/`).
    public var stateDir: URL
    /// The environment git runs with (nil: ccpod's own).
    public var environment: [String: String]

    public init(remote: String, user: String, projectPath: String, projectName: String, stateDir: URL,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.remote = remote
        self.user = user
        self.projectPath = projectPath
        self.projectName = projectName
        self.stateDir = stateDir
        self.environment = environment
    }

    /// `sessions/<user>/`.
    var userFolder: String { "sessions/\(user)/" }
    var exportPath: String { "sessions/\(user)/\(projectName)/\(ShareNames.exportFile)" }
}

/// What `ccpod share push` did.
public struct SharePushSummary: Sendable, Encodable {
    /// `pushed`, or `unchanged` when the repository already holds these sessions.
    public var action: String
    public var remote: String
    public var branch: String
    /// The file in the repository.
    public var path: String
    public var commit: String?
    public var sessions: Int
    public var lines: Int
    public var redactions: [String: Int]
    public var encryptedTo: [String]
    /// Sessions left out: imported from others (titled "… (from …)").
    public var leftOut: [String]
    public var skipped: [String]
    /// Pushes tried (more than one when others pushed at the same time).
    public var attempts: Int
}

/// `ccpod share push` and `pull`: sessions through a team's git repository, each person
/// writing only `sessions/<their name>/`.
public struct ShareRun: Sendable {
    public var claudeDir: URL
    /// Tries before giving up when others keep pushing at the same time.
    static let maxAttempts = 5
    /// Runs before each push with its attempt number (tests: another push in between).
    var beforePush: (@Sendable (Int) throws -> Void)?

    public init(claudeDir: URL) {
        self.claudeDir = claudeDir
    }

    /// Exports this project's sessions (scrubbed, encrypted when recipients are given) to
    /// `sessions/<user>/<project>/sessions.jsonl`, commits and pushes; when the remote moved
    /// on, fetches and builds the commit again on top (each writes only their own folder, so
    /// this never conflicts).
    public func push(_ options: ShareOptions) throws -> SharePushSummary {
        guard let identity = options.identity else {
            throw CCPodError.usage("share push needs your ccpod key (it marks sessions/\(options.user)/ as yours): create one with `ccpod keygen`, or pass --identity FILE")
        }
        let me = try identity.recipient
        let repo = try ShareRepository.prepare(remote: options.remote, stateDir: options.stateDir, environment: options.environment)
        let scratch = try repo.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }

        let store = ClaudeStore(root: claudeDir)
        let slug = ProjectSlug.of(options.projectPath)
        guard let project = store.project(slug: slug) else {
            throw CCPodError.failure("no sessions for \(options.projectPath) (looked in \(store.projectsDir.path)/\(slug)); nothing to share")
        }
        let leftOut = try store.sessions(in: project).filter { try Self.isImportedSibling($0) }.map(\.id).sorted()
        let plain = scratch.appendingPathComponent("plain")
        var exportOptions = ExportOptions(selection: .project, projectPath: options.projectPath, output: plain)
        exportOptions.exclude = Set(leftOut)
        let exported = try SessionExporter(claudeDir: claudeDir).export(exportOptions)

        var file = plain
        var recipients = options.recipients
        if !recipients.isEmpty {
            if !recipients.contains(me) { recipients.append(me) }
            file = scratch.appendingPathComponent("sealed")
            try ExportEncryption.encrypt(source: plain.path, to: file, recipients: recipients)
        }
        let owner = scratch.appendingPathComponent("owner")
        try AtomicFile.write(Data((me.encoded + "\n").utf8), to: owner)
        // An encrypted export differs on every run: what was pushed last is remembered by its plain text.
        let fingerprint = try SHA256Hex.ofFile(plain.path) + " " + recipients.map(\.keyId).sorted().joined(separator: ",")
        let record = repo.dir.appendingPathComponent("pushed-\(options.user)-\(options.projectName)")

        let branch = try repo.branch()
        var summary = SharePushSummary(action: "unchanged", remote: options.remote, branch: branch, path: options.exportPath, commit: nil,
                                       sessions: exported.sessions, lines: exported.lines, redactions: exported.redactions,
                                       encryptedTo: recipients.map(\.keyId), leftOut: leftOut, skipped: exported.skipped, attempts: 0)
        for attempt in 1...Self.maxAttempts {
            summary.attempts = attempt
            let tip = try repo.fetch(branch: branch)
            if let tip {
                try checkOwner(repo, tip: tip, options: options, me: me, scratch: scratch)
                let current = try repo.entries(tip, folder: "sessions/\(options.user)/\(options.projectName)/", scratch: scratch)
                    .first { $0.name == ShareNames.exportFile }
                if !recipients.isEmpty, let current, let remembered = try? String(contentsOf: record, encoding: .utf8),
                   remembered == fingerprint + " " + current.sha + "\n" {
                    summary.commit = tip
                    return summary
                }
            }
            let message = "ccpod share: \(options.user) \(options.projectName), \(exported.sessions) session(s)"
            guard let commit = try repo.commit(parent: tip, files: [(options.exportPath, file), (options.userFolder + ShareNames.ownerFile, owner)],
                                               message: message, author: options.user, scratch: scratch) else {
                summary.commit = tip
                return summary
            }
            // Only the user's own folder changes, whatever the fetched tree held.
            let changed = try repo.changedPaths(from: tip, to: commit)
            if let other = changed.first(where: { !$0.hasPrefix(options.userFolder) }) {
                throw CCPodError.failure("refusing to push: the commit would change \(TerminalText.escape(other)), outside \(options.userFolder)")
            }
            try beforePush?(attempt)
            switch try repo.push(commit, branch: branch) {
            case .pushed:
                let blob = try repo.run(["rev-parse", "\(commit):\(options.exportPath)"], "cannot read the commit just pushed")
                try? AtomicFile.write(Data((fingerprint + " " + blob + "\n").utf8), to: record)
                summary.action = "pushed"
                summary.commit = commit
                return summary
            case .rejected:
                continue
            }
        }
        throw CCPodError(.busy, "the share repository \(TerminalText.escape(options.remote)) kept changing while ccpod pushed (\(Self.maxAttempts) tries); run `ccpod share push` again")
    }

    /// Refuses to write a folder another key owns (`sessions/<user>/owner`).
    private func checkOwner(_ repo: ShareRepository, tip: String, options: ShareOptions, me: ExportRecipient, scratch: URL) throws {
        guard let entry = try repo.entries(tip, folder: options.userFolder, scratch: scratch).first(where: { $0.name == ShareNames.ownerFile }) else { return }
        let owner = try Self.readOwner(repo, entry: entry, scratch: scratch)
        guard owner != me else { return }
        throw CCPodError(.notPermitted, """
            \(options.userFolder) in the share repository belongs to another key (\(owner.map(\.keyId) ?? "unreadable")), \
            not yours (\(me.keyId), \(options.identityPath)); ccpod writes only your own folder. Set `user = "NAME"` under \
            [share] in config.toml to your own name, or pass --identity with the key that owns it
            """)
    }

    /// The key in an `owner` file of the repository (nil when it is not one).
    static func readOwner(_ repo: ShareRepository, entry: ShareRepository.Entry, scratch: URL) throws -> ExportRecipient? {
        guard entry.isRegularFile, let size = entry.size, size <= 4096 else { return nil }
        let file = scratch.appendingPathComponent("owner-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: file) }
        try repo.readBlob(entry.sha, into: file)
        let text = (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard text.hasPrefix(ExportRecipient.prefix) else { return nil }
        return try? ExportRecipient.parse(text)
    }

    /// Whether ccpod imported this session as a sibling of someone else's ("… (from …)"):
    /// its transcript holds the title line an import wrote for it.
    static func isImportedSibling(_ ref: SessionRef) throws -> Bool {
        let head = Array("{\"customTitle\":".utf8)
        let tail = Array("\",\"sessionId\":\"\(ref.id)\",\"type\":\"custom-title\"}".utf8)
        let from = Array(" (from ".utf8)
        var reader = try BoundedLineReader(path: ref.transcript.path, maxLine: 1 << 20)
        defer { reader.close() }
        var atLineStart = true
        while let (bytes, terminated) = try reader.next() {
            defer { atLineStart = terminated }
            guard atLineStart, terminated, bytes.count < 4096, bytes.starts(with: head), bytes.reversed().starts(with: tail.reversed()) else { continue }
            let inner = Array(bytes)
            if inner.indices.contains(where: { inner[$0...].starts(with: from) }) { return true }
        }
        return false
    }
}
