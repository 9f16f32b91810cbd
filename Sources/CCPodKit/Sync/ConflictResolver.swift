import Foundation

/// Settles what a sync left for the user: files that differ on both sides with no
/// common history. One side's version wins, and the version it replaces is backed
/// up first under the pod's state folder (`backups/<time>/local|pod/<path>`); or,
/// for a session, both are kept as sibling sessions on both sides.
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

    /// What keeping both versions of a session created.
    public struct KeptBoth: Sendable {
        public var path: String
        /// The pod's version, here: a new session (local path and id).
        public var localSibling: String
        public var localSiblingId: String
        /// This side's version, on the pod: a new session (pod path and id).
        public var podSibling: String
        public var podSiblingId: String
    }

    /// The conflict path for `argument`: a path as `conflicts()` lists it, or a session id.
    public func conflictPath(for argument: String) -> String? {
        let known = conflicts()
        if known.contains(argument) { return argument }
        return known.first { SyncScope.isTranscript($0) && SyncScope.sessionId(of: $0) == argument.lowercased() }
    }

    /// Keeps both versions of a conflicting session, as a fork does: the pod's version
    /// arrives here as a new sibling session and this side's version goes to the pod
    /// as one (new session id, its lines' `sessionId` rewritten, a `custom-title`
    /// "(from pod)" / "(from laptop)"), so both are resumable on both sides. Nothing is
    /// replaced. One exchange: it fetches the pod's version and puts the sibling there.
    public func keepBoth(path: String, scope: SyncScope) throws -> KeptBoth {
        guard PodPathCheck.isSafeRelative(path) else { throw CCPodError.usage("\(path) is not a path inside the Claude dir") }
        guard SyncScope.isTranscript(path), let id = SyncScope.sessionId(of: path) else {
            throw CCPodError.usage("only a session transcript can be kept twice; for \(path) take one side: `ccpod resolve --take local|pod \(path)`")
        }
        let claudeDir = engine.claudeDir
        let local = claudeDir + "/" + path
        guard let stat = LocalStat.of(local) else {
            throw CCPodError.usage("\(local) does not exist; take the pod's version instead: `ccpod resolve --take pod \(path)`")
        }
        let podPath = scope.podPath(forLocal: path)
        let scratch = engine.stateDir.appendingPathComponent("scratch-resolve-\(UUID().uuidString.prefix(8))")
        try CCPodLocations.makePrivateDirectory(scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }

        // This side's version as a new session for the pod.
        let podSiblingId = UUID().uuidString.lowercased()
        let podSibling = SyncRun.replaceId(in: podPath, with: podSiblingId)
        let localComplete = try LocalTree.completeLength(local, size: stat.size)
        let localVersion = FileVersion(size: localComplete, sha256: try SHA256Hex.ofFile(local, length: localComplete))
        let outgoing = scratch.appendingPathComponent("sibling-\(podSiblingId)").path
        try AtomicFile.write(to: URL(fileURLWithPath: outgoing)) { fd in
            try SessionIdRewriter(from: id, to: podSiblingId).stream(file: local, offset: 0, length: localComplete) {
                try FileDescriptorIO.writeAll(fd, $0, path: outgoing)
            }
        }
        try SyncRun.appendTitle(to: outgoing, sessionId: podSiblingId, suffix: "from laptop", fallback: "session \(id.prefix(8))")
        let outgoingSize = try LocalTree.completeLength(outgoing, size: Int64(FileManager.default.attributesOfItem(atPath: outgoing)[.size] as? Int ?? 0))
        let outgoingVersion = FileVersion(size: outgoingSize, sha256: try SHA256Hex.ofFile(outgoing, length: outgoingSize))

        let request = engine.filesRequest(.sync, [
            AgentFileRequest(path: podPath, seen: nil, ancestor: nil, operation: .check),
            AgentFileRequest(path: podSibling, seen: nil, ancestor: nil, operation: .put,
                             payload: .init(file: outgoing, offset: 0, length: outgoingVersion.size, sha256: outgoingVersion.sha256)),
        ])
        let index = try engine.exchange(request, scratch: scratch).index
        guard let podState = index.states[podPath], let podData = index.data[podPath], podData.offset == 0, podState.stat != nil else {
            throw CCPodError.usage("the pod has no \(podPath) any more; `ccpod sync` copies this side's version there")
        }
        guard let put = index.states[podSibling], put.kind == .written else {
            throw CCPodError.failure("the pod did not accept the new session \(podSiblingId); nothing was changed here; run `ccpod resolve --keep-both \(id)` again")
        }

        // The pod's version as a new session here.
        let localSiblingId = UUID().uuidString.lowercased()
        let localSibling = SyncRun.replaceId(in: path, with: localSiblingId)
        let podComplete = try LocalTree.completeLength(podData.file, size: podData.length)
        let podVersion = FileVersion(size: podComplete, sha256: try SHA256Hex.ofFile(podData.file, length: podComplete))
        let incoming = scratch.appendingPathComponent("sibling-\(localSiblingId)").path
        try AtomicFile.write(to: URL(fileURLWithPath: incoming)) { fd in
            try SessionIdRewriter(from: id, to: localSiblingId).stream(file: podData.file, offset: 0, length: podComplete) {
                try FileDescriptorIO.writeAll(fd, $0, path: incoming)
            }
        }
        try SyncRun.appendTitle(to: incoming, sessionId: localSiblingId, suffix: "from pod", fallback: "session \(id.prefix(8))")
        let target = claudeDir + "/" + localSibling
        try SafeFolders.make(relative: (localSibling as NSString).deletingLastPathComponent, under: claudeDir)
        let incomingSize = Int64(try FileManager.default.attributesOfItem(atPath: incoming)[.size] as? Int ?? 0)
        try AtomicFile.write(to: URL(fileURLWithPath: target)) { fd in
            try FileRanges.copy(incoming, length: incomingSize, to: fd, outPath: target)
        }

        var store = try AncestorStore(file: engine.ancestorsFile)
        store.set(AncestorPair(localPath: path, podPath: podSibling, localSessionId: id, podSessionId: podSiblingId,
                               local: localVersion, pod: outgoingVersion,
                               localSeen: localComplete == stat.size ? stat : nil, podSeen: put.stat))
        store.set(AncestorPair(localPath: localSibling, podPath: podPath, localSessionId: localSiblingId, podSessionId: id,
                               local: FileVersion(size: incomingSize, sha256: try SHA256Hex.ofFile(target, length: incomingSize)),
                               pod: podVersion, localSeen: LocalStat.of(target),
                               podSeen: podComplete == podState.stat?.size ? podState.stat : nil))
        try store.save()
        try forget(path)
        return KeptBoth(path: path, localSibling: localSibling, localSiblingId: localSiblingId,
                        podSibling: podSibling, podSiblingId: podSiblingId)
    }

    private func forget(_ path: String) throws {
        let remaining = conflicts().filter { $0 != path }
        if remaining.isEmpty {
            try? FileManager.default.removeItem(at: engine.conflictsFile)
        } else {
            try AtomicFile.write(try JSONEncoder().encode(remaining), to: engine.conflictsFile)
        }
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
        let fetch = engine.filesRequest(.pull, [AgentFileRequest(path: podPath, seen: nil, ancestor: nil, operation: .check)])
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
            let put = try engine.exchange(engine.filesRequest(.push, [request]), scratch: scratch)
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
                try FileRanges.copy(podData, length: size, to: fd, outPath: local)
            }
            let version = FileVersion(size: size, sha256: sha)
            store.set(AncestorPair(localPath: path, podPath: podPath, local: version, pod: version,
                                   localSeen: LocalStat.of(local), podSeen: podState.stat))
            outcome = Outcome(path: path, took: .pod, backup: backup.path)
        }
        try store.save()
        try forget(path)
        return outcome
    }
}
