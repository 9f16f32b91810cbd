import Foundation

/// What `ccpod share pull` did, one entry per other user with an export for the project.
public struct SharePullReport: Sendable, Encodable {
    public struct User: Sendable, Encodable {
        public var user: String
        /// `imported`; `skipped` (encrypted, not to your key); `refused` (the file is not one ccpod accepts).
        public var status: String
        public var detail: String?
        public var sessions: Int
        public var items: [ImportReport.Item]
    }

    public var remote: String
    public var branch: String
    public var project: String
    /// The commit read (nil: the repository is empty).
    public var commit: String?
    public var users: [User] = []

    public var refused: [User] { users.filter { $0.status == "refused" } }
}

extension ShareRun {
    /// Most user folders read from the repository.
    static let maxUsers = 10_000

    /// Fetches the repository and imports every other user's export of this project as
    /// sibling sessions titled "… (from <user>)". Everything read is untrusted: only
    /// `sessions/<name>/<project>/sessions.jsonl` as a regular file of bounded size, read as
    /// an object (never checked out), then imported with all of the import's checks. A user
    /// whose file is refused does not stop the others.
    public func pull(_ options: ShareOptions) throws -> SharePullReport {
        let repo = try ShareRepository.prepare(remote: options.remote, stateDir: options.stateDir, environment: options.environment)
        let scratch = try repo.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let branch = try repo.branch()
        var report = SharePullReport(remote: options.remote, branch: branch, project: options.projectName)
        guard let tip = try repo.fetch(branch: branch) else { return report }
        report.commit = tip
        let mine = try options.identity?.recipient.keyId

        let ownersFile = repo.dir.appendingPathComponent("owners")
        var owners = Self.loadOwners(ownersFile)
        let knownOwners = owners
        defer { if owners != knownOwners { try? Self.saveOwners(owners, to: ownersFile) } }
        let folders = try repo.entries(tip, folder: "sessions/", scratch: scratch).filter { $0.type == "tree" }.sorted { $0.name < $1.name }
        for folder in folders.prefix(Self.maxUsers) where folder.name != options.user {
            func refuse(_ why: String) {
                report.users.append(.init(user: TerminalText.escape(folder.name), status: "refused", detail: why, sessions: 0, items: []))
            }
            guard ShareNames.isValid(folder.name, maxLength: 64) else {
                refuse("sessions/\(TerminalText.escape(folder.name)) is not a user name ccpod accepts")
                continue
            }
            // Trust on first use: the key that owned the folder at the first pull must still own it.
            let ownerEntry = try repo.entries(tip, folder: "sessions/\(folder.name)/", scratch: scratch).first { $0.name == ShareNames.ownerFile }
            let owner = try ownerEntry.flatMap { try Self.readOwner(repo, entry: $0, scratch: scratch) }
            if let known = owners[folder.name], known != owner?.keyId {
                refuse("""
                    sessions/\(folder.name)/ was owned by key \(known) and now \(owner.map { "by \($0.keyId)" } ?? "by no readable key"): \
                    someone else may have written it. If \(folder.name) has a new key, remove the line "\(folder.name) \(known)" from \(ownersFile.path)
                    """)
                continue
            }
            if let owner, owners[folder.name] == nil { owners[folder.name] = owner.keyId }
            let projectFolder = "sessions/\(folder.name)/\(options.projectName)/"
            guard let entry = try repo.entries(tip, folder: projectFolder, scratch: scratch).first(where: { $0.name == ShareNames.exportFile }) else { continue }
            guard entry.isRegularFile else {
                refuse("\(projectFolder)\(ShareNames.exportFile) is not a regular file (mode \(TerminalText.escape(entry.mode)): a symlink or a submodule?)")
                continue
            }
            guard let size = entry.size, size <= ShareRepository.maxExport else {
                refuse("\(projectFolder)\(ShareNames.exportFile) is bigger than \(ShareRepository.maxExport >> 20) MiB")
                continue
            }
            let file = scratch.appendingPathComponent("export-\(folder.name)")
            try repo.readBlob(entry.sha, into: file)
            guard FileStat.of(file.path)?.size == size else {
                refuse("\(projectFolder)\(ShareNames.exportFile) is not the size the repository lists")
                continue
            }
            if let keys = try Self.encryptedTo(file), !keys.isEmpty, !keys.contains(mine ?? "") {
                report.users.append(.init(user: folder.name, status: "skipped",
                                          detail: "encrypted to key(s) \(keys.joined(separator: ", ")), not to yours (\(mine ?? "none: `ccpod keygen`"))",
                                          sessions: 0, items: []))
                continue
            }
            var importOptions = ImportOptions(source: .file(file.path), projectPath: options.projectPath)
            importOptions.siblingsFrom = folder.name
            importOptions.identity = options.identity
            importOptions.identityPath = options.identityPath
            do {
                let imported = try SessionImporter(claudeDir: claudeDir).run(importOptions)
                report.users.append(.init(user: folder.name, status: "imported", detail: nil, sessions: imported.sessions, items: imported.items))
            } catch let error as CCPodError where error.status == .badData || error.status == .usage {
                refuse("\(projectFolder)\(ShareNames.exportFile): \(error.message)")
            }
        }
        if folders.count > Self.maxUsers {
            report.users.append(.init(user: "…", status: "refused", detail: "more than \(Self.maxUsers) user folders; the rest were not read", sessions: 0, items: []))
        }
        return report
    }

    /// The owner key of each user folder seen at earlier pulls: lines `<user> <key id>`.
    static func loadOwners(_ file: URL) -> [String: String] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [:] }
        var owners = [String: String]()
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            if parts.count == 2, ShareNames.isValid(parts[0], maxLength: 64) { owners[parts[0]] = parts[1] }
        }
        return owners
    }

    static func saveOwners(_ owners: [String: String], to file: URL) throws {
        let text = owners.keys.sorted().map { "\($0) \(owners[$0]!)\n" }.joined()
        try AtomicFile.write(Data(text.utf8), to: file)
    }

    /// The key ids an encrypted export is for (nil: not encrypted).
    static func encryptedTo(_ file: URL) throws -> [String]? {
        var reader = try BoundedLineReader(path: file.path, maxLine: 64 << 10)
        defer { reader.close() }
        guard let first = try reader.next(), ExportEncryption.isEncrypted(first.bytes) else { return nil }
        guard let second = try reader.next(), second.terminated else { return [] }
        let line = String(decoding: second.bytes, as: UTF8.self)
        guard line.hasPrefix("recipients ") else { return [] }
        return line.split(separator: " ").dropFirst().map(String.init)
    }
}
