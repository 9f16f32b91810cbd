import Foundation

/// Settles what a sync left for the user: files that differ on both sides with no
/// common history. One side's version wins, and the version it replaces is backed
/// up first under the pod's state folder (`backups/<time>/local|pod/<path>`).
public struct ConflictResolver: Sendable {
    public enum Side: String, Sendable, CaseIterable { case local, pod }

    public let engine: SyncEngine

    public init(engine: SyncEngine) { self.engine = engine }

    /// Conflicts left by earlier syncs (paths relative to the local Claude dir).
    public func conflicts() -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(contentsOf: engine.conflictsFile))) ?? []
    }

    public struct Outcome: Sendable {
        public var path: String
        public var took: Side
        /// Where the replaced version was saved.
        public var backup: String
    }

    /// Makes `side`'s version of `path` the version of both sides. Two exchanges: one
    /// to fetch the pod's version (kept as a backup or taken), one to replace it when
    /// the local version wins.
    public func take(_ side: Side, path: String, scope: SyncScope) throws -> Outcome {
        guard PodPathCheck.isSafeRelative(path) else { throw CCPodError.usage("\(path) is not a path inside the Claude dir") }
        let claudeDir = engine.claudeDir
        let local = claudeDir + "/" + path
        let podPath = scope.podPath(forLocal: path)
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let backups = engine.stateDir.appendingPathComponent("backups/\(stamp)")
        let scratch = engine.stateDir.appendingPathComponent("scratch-resolve-\(UUID().uuidString.prefix(8))")
        try CCPodLocations.makePrivateDirectory(scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }

        // The pod's version as it is now.
        let fetch = AgentRequest(mode: .pull, rootPrefix: engine.connection.rootPrefix, paths: engine.connection.paths,
                                 scope: [], sessionIds: [], files: [AgentFileRequest(path: podPath, seen: nil, ancestor: nil, operation: .check)],
                                 busySeconds: 0, accept: engine.accepted)
        let answer = try engine.exchange(fetch, scratch: scratch)
        let index = answer.index
        let podState = index.states[podPath]
        let podData = index.data[podPath]?.file
        var store = try AncestorStore(file: engine.ancestorsFile)
        let outcome: Outcome
        switch side {
        case .local:
            guard let stat = LocalStat.of(local) else { throw CCPodError.usage("\(local) does not exist; take the pod's version instead") }
            var ancestor: FileVersion?
            if let podState, let podData, let size = podState.stat?.size, let sha = podState.sha256 {
                let backup = backups.appendingPathComponent("pod/\(path)")
                try CCPodLocations.makePrivateDirectory(backup.deletingLastPathComponent())
                try FileManager.default.copyItem(atPath: podData, toPath: backup.path)
                ancestor = FileVersion(size: size, sha256: sha)
            }
            let sha = try SHA256Hex.ofFile(local, length: stat.size)
            let payload = AgentFileRequest.Payload(file: local, offset: 0, length: stat.size, sha256: sha)
            let request = AgentFileRequest(path: podPath, seen: nil, ancestor: ancestor,
                                           operation: ancestor == nil ? .put : .replace, payload: payload)
            let put = try engine.exchange(AgentRequest(mode: .push, rootPrefix: engine.connection.rootPrefix, paths: engine.connection.paths,
                                                       scope: [], sessionIds: [], files: [request], busySeconds: 0,
                                                       accept: engine.accepted), scratch: scratch)
            guard let written = put.index.states[podPath], written.kind == .written else {
                throw CCPodError.failure("the pod's copy of \(path) changed again while resolving; run `ccpod resolve` again")
            }
            let version = FileVersion(size: stat.size, sha256: sha)
            store.set(AncestorPair(localPath: path, podPath: podPath, local: version, pod: version, localSeen: stat, podSeen: written.stat))
            outcome = Outcome(path: path, took: .local, backup: backups.appendingPathComponent("pod/\(path)").path)
        case .pod:
            guard let podState, let podData, let size = podState.stat?.size, let sha = podState.sha256 else {
                throw CCPodError.usage("the pod has no \(podPath); take the local version instead")
            }
            let backup = backups.appendingPathComponent("local/\(path)")
            if FileManager.default.fileExists(atPath: local) {
                try CCPodLocations.makePrivateDirectory(backup.deletingLastPathComponent())
                try FileManager.default.copyItem(atPath: local, toPath: backup.path)
            }
            try SafeFolders.make(relative: (path as NSString).deletingLastPathComponent, under: claudeDir)
            try AtomicFile.write(to: URL(fileURLWithPath: local)) { fd in
                try SyncRun.copy(file: podData, length: size) { try FileDescriptorIO.writeAll(fd, $0, path: local) }
            }
            let version = FileVersion(size: size, sha256: sha)
            store.set(AncestorPair(localPath: path, podPath: podPath, local: version, pod: version,
                                   localSeen: LocalStat.of(local), podSeen: podState.stat))
            outcome = Outcome(path: path, took: .pod, backup: backup.path)
        }
        try store.save()
        let remaining = conflicts().filter { $0 != path }
        if remaining.isEmpty {
            try? FileManager.default.removeItem(at: engine.conflictsFile)
        } else {
            try AtomicFile.write(try JSONEncoder().encode(remaining), to: engine.conflictsFile)
        }
        return outcome
    }
}
