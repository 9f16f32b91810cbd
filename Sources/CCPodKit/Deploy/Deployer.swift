import Foundation

/// What to deploy.
public struct DeployRequest: Sendable {
    /// A folder inside the local git repository.
    public var directory: String
    /// The run's name; default: the project folder's name.
    public var runName: String?
    /// What to deploy; default HEAD (then the working tree must be clean, or `allowDirty`).
    public var ref: String?
    /// Deploy uncommitted changes as a snapshot commit instead of refusing.
    public var allowDirty: Bool
    /// Fast-forward the latest existing run named `runName` instead of creating a run.
    public var update: Bool
    /// The time in the tag and folder names.
    public var now: Date

    public init(directory: String, runName: String? = nil, ref: String? = nil, allowDirty: Bool = false,
                update: Bool = false, now: Date = Date()) {
        self.directory = directory
        self.runName = runName
        self.ref = ref
        self.allowDirty = allowDirty
        self.update = update
        self.now = now
    }
}

/// What a deploy did.
public struct DeployResult: Sendable, Codable {
    public var record: RunRecord
    /// The pod it went to.
    public var pod: String
    /// Bytes of the bundle(s) sent (the wire carries this plus ssh's framing).
    public var bundleBytes: Int64
    /// The commit the pod already had, when only the difference was sent.
    public var base: String?
    /// Whether this fast-forwarded an existing run.
    public var updated: Bool
    /// Nothing was sent: the run is already at this commit.
    public var upToDate: Bool
    /// Submodules, LFS files, a detached HEAD: what the user should know.
    public var warnings: [String]
}

/// `ccpod deploy`: tags a commit, bundles it and builds the run on the pod in one exec.
public struct Deployer: Sendable {
    public let connection: any PodConnection
    /// The pod's state folder here (`CCPodLocations.podStateDir`), for the local run records.
    public let podStateDir: URL
    /// Environment for local git (nil = ccpod's own).
    public let gitEnvironment: [String: String]?

    public init(connection: any PodConnection, podStateDir: URL, gitEnvironment: [String: String]? = nil) {
        self.connection = connection
        self.podStateDir = podStateDir
        self.gitEnvironment = gitEnvironment
    }

    public func deploy(_ request: DeployRequest) throws -> DeployResult {
        let repo = try GitRepository.open(directory: request.directory, environment: gitEnvironment)
        let run = request.runName ?? RunName.defaultName(projectRoot: repo.root)
        try RunName.validate(run)
        var warnings: [String] = []
        var commit = try repo.commit(of: request.ref ?? "HEAD")
        var snapshot = false
        if request.ref == nil {
            // Outputs an earlier `artifacts pull` brought into ./runs/ are not the project's changes.
            if let note = RunsFolder.keepOutOfGit(projectRoot: repo.root, onlyIfPresent: true, environment: gitEnvironment) { warnings.append(note) }
            let changed = try repo.changedFiles()
            if !changed.isEmpty {
                guard request.allowDirty else {
                    let shown = changed.prefix(20).map { "  " + $0 }.joined(separator: "\n")
                    let more = changed.count > 20 ? "\n  … and \(changed.count - 20) more" : ""
                    throw CCPodError.usage("the working tree has uncommitted changes:\n\(shown)\(more)\ncommit them, or deploy them as they are with --allow-dirty (your branch, index and stash stay untouched)")
                }
                commit = try repo.snapshotCommit(parent: commit, message: "ccpod deploy: uncommitted changes of \(run) (\(changed.count) files)")
                snapshot = true
                warnings.append("deployed \(changed.count) uncommitted change(s) as snapshot commit \(commit.prefix(12)), which no branch points to")
            }
            if repo.isDetached { warnings.append("HEAD is detached; deploying its commit \(commit.prefix(12))") }
        }
        let submodules = try repo.submodules(in: commit)
        if !submodules.isEmpty {
            warnings.append("submodules are not deployed (their folders stay empty on the pod): \(submodules.joined(separator: ", ")); deploy each as its own run, or copy them to the pod yourself")
        }
        let lfs = try repo.lfsPointers(in: commit)
        if !lfs.isEmpty {
            let shown = lfs.prefix(10).joined(separator: ", ") + (lfs.count > 10 ? ", … (\(lfs.count) files)" : "")
            warnings.append("Git LFS files arrive as pointer files, not their content: \(shown); copy them to the run's code/ yourself (or run `git lfs pull` there with credentials of your own)")
        }

        // Two deploys of one run within a second get distinct names (-2, -3, …).
        var stamp = RunName.stamp(request.now)
        let base0 = stamp
        var n = 1
        while repo.hasTag("ccpod/\(run)-\(stamp)") {
            n += 1
            stamp = "\(base0)-\(n)"
        }
        let tag = "ccpod/\(run)-\(stamp)"
        let now = RunName.iso(request.now)
        let local = LocalRunRecords(podStateDir: podStateDir)
        var record: RunRecord
        var base: String?
        if request.update {
            guard let existing = try existingRun(named: run, local: local) else {
                throw CCPodError.usage("there is no run named \(run) on \(connection.displayName) to update; deploy it first without --update")
            }
            if existing.commit == commit {
                return DeployResult(record: existing, pod: connection.displayName, bundleBytes: 0, base: commit,
                                    updated: true, upToDate: true, warnings: warnings)
            }
            base = repo.hasCommit(existing.commit) ? existing.commit : nil
            record = existing
            record.deployed = now
        } else {
            let folder = "\(run)_\(stamp)"
            record = RunRecord(name: run, folder: folder, directory: connection.paths.workspace + "/runs/" + folder,
                               created: now, deployed: now, tag: tag, commit: commit, project: repo.root, snapshot: snapshot)
        }
        record.tag = tag
        record.commit = commit
        record.snapshot = snapshot
        record.project = repo.root

        try repo.createTag(tag, commit: commit, message: "ccpod deploy of run \(run) to \(connection.displayName)")
        do {
            let scratch = try TemporaryFolder(prefix: "ccpod-bundle")
            defer { scratch.remove() }
            var sent: Int64 = 0
            var output = try send(repo: repo, record: record, base: base, update: request.update, scratch: scratch, sent: &sent)
            if output.status == DeployScript.Status.baseMissing.rawValue && base != nil {
                // The pod's clone lacks what we believed it had: send everything (a second exec, rare).
                base = nil
                output = try send(repo: repo, record: record, base: nil, update: request.update, scratch: scratch, sent: &sent)
            }
            try check(output, record: record)
            try local.remember(record)
            return DeployResult(record: record, pod: connection.displayName, bundleBytes: sent, base: base,
                                updated: request.update, upToDate: false, warnings: warnings)
        } catch {
            repo.deleteTag(tag)
            throw error
        }
    }

    /// The latest run named `name`: from the local records when this machine deployed
    /// it (no exec), else from the pod's registry (one small exec).
    func existingRun(named name: String, local: LocalRunRecords) throws -> RunRecord? {
        if let mine = local.load().filter({ $0.name == name }).latest { return mine }
        return try PodRuns.records(connection: connection).filter { $0.exists && $0.record.name == name }.map(\.record).latest
    }

    /// Bundles and sends; one exec.
    func send(repo: GitRepository, record: RunRecord, base: String?, update: Bool,
              scratch: TemporaryFolder, sent: inout Int64) throws -> ChildProcess.Output {
        let bundle = scratch.path + "/run.bundle"
        try? FileManager.default.removeItem(atPath: bundle)
        try repo.createBundle(tag: record.tag, excluding: base, to: bundle)
        let size = ((try? FileManager.default.attributesOfItem(atPath: bundle))?[.size] as? NSNumber)?.int64Value ?? 0
        sent += size
        let paths = connection.paths
        var args = [connection.rootPrefix, paths.workspace, paths.persistentDir, record.folder, record.tag, record.commit,
                    try record.jsonLine().base64EncodedString()]
        if update { args.append(base ?? "") }
        return try connection.runCommand(DeployScript.remoteCommand(update ? "update" : "deploy", args), stdinPath: bundle)
    }

    /// Turns the script's failure into an error a user can act on.
    func check(_ output: ChildProcess.Output, record: RunRecord) throws {
        if output.status == 0 {
            guard output.stdoutText.hasPrefix("OK\t") else {
                throw CCPodError.badData("the pod's answer to the deploy was not understood: \(output.stdoutText.prefix(200))")
            }
            return
        }
        let reason = DeployScript.reason(output.stderrText)
        let pod = connection.displayName
        if DeployScript.saysDiskFull(output.stderrText) {
            throw CCPodError.io("the pod \(pod) ran out of disk space while deploying \(record.folder) (\(reason)); free space under \(connection.paths.workspace) (see `df -h`) and deploy again. Nothing was left behind.")
        }
        switch DeployScript.Status(rawValue: output.status) {
        case .noGit: throw CCPodError.unavailable("pod \(pod): \(reason)")
        case .runConflict: throw CCPodError.usage("pod \(pod): \(reason)")
        case .notFastForward: throw CCPodError.failure("pod \(pod): \(reason)")
        case .baseMissing: throw CCPodError.failure("pod \(pod): \(reason)")
        case nil: throw CCPodError.failure("deploy to \(pod) failed: \(reason). Nothing was left behind.")
        }
    }
}
