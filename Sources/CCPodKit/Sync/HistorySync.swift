import Crypto
import Foundation

/// What a run knows of the local prompt log (`history.jsonl`) and what it asked the pod.
///
/// The log is carried in the run's one exchange with op M (merge lines): the request
/// carries the local lines the pod may lack; the agent adds those whose key it lacks
/// and sends back its own lines newer than the ancestor; this side adds those whose
/// key it lacks. Both sides keep every line they have. The ancestor pair records the
/// two files only when both hold the same prompts afterwards (a sync, or a push or
/// pull that found nothing on the other side), so a one-way run never hides a line
/// from the next run in the other direction; lines that travel again are dropped by
/// key, so repeated or interrupted runs never duplicate one.
struct HistoryPlan {
    var pair: AncestorPair?
    /// The local file's stat when planned (nil: no local log).
    var stat: LocalStat?
    /// Whether the local file is its agreed version plus lines (or unchanged).
    var extends: Bool
    /// How many local lines the pod may lack, known when the file was read.
    var candidates: Int
    /// Set when the local file was read at planning.
    var read: (complete: Int64, sha: String)?
    var sentPayload: AgentFileRequest.Payload?
    var translation: HistoryTranslation
}

extension SyncRun {
    var historyFile: String { claudeDir + "/" + HistoryLog.path }

    /// Reads the local log for the request, line by line: its complete length and hash,
    /// whether it extends the agreed version, and the lines the pod may lack (after the
    /// agreed prefix, less the prompts the prefix has; all of them without one), counted,
    /// and written in the pod's form to `payloadFile` when it is given.
    func readLocalHistory(pair: AncestorPair?, translation: HistoryTranslation, payloadFile: String?) throws
        -> (stat: LocalStat, complete: Int64, sha: String, extends: Bool, candidates: Int, payload: AgentFileRequest.Payload?)? {
        guard let stat = LocalStat.of(historyFile) else { return nil }
        let complete = try LocalTree.completeLength(historyFile, size: stat.size)
        let sha = try FileRanges.hash(historyFile, length: complete)
        var extends = false
        if let pair, complete >= pair.local.size, (try? FileRanges.hash(historyFile, length: pair.local.size)) == pair.local.sha256 {
            extends = true
        }
        let cut = extends ? pair?.local.size ?? 0 : 0
        var keys = Set<HistoryStream.Key>()
        var count = 0
        var hasher = SHA256()
        var size: Int64 = 0
        let out = payloadFile.map { FileHandle(forWritingAtPath: $0) ?? nil } ?? nil
        if let payloadFile, out == nil { throw CCPodError.io("cannot write \(payloadFile)") }
        defer { try? out?.close() }
        func put(_ chunk: Data) throws {
            hasher.update(data: chunk)
            size += Int64(chunk.count)
            try out?.write(contentsOf: chunk)
        }
        try HistoryStream.forEachLine(historyFile, length: complete) { line in
            let key = HistoryStream.key(line, translated: nil)
            if line.offset < cut {
                keys.insert(key)
                return
            }
            guard keys.insert(key).inserted else { return }
            count += 1
            guard out != nil else { return }
            if let bytes = line.bytes {
                try put(translation.toPod(bytes))
            } else {
                try FileRanges.read(historyFile, offset: line.offset, length: line.length, put)
            }
            try put(Data([0x0A]))
        }
        let payload = payloadFile.map { AgentFileRequest.Payload(file: $0, offset: 0, length: size, sha256: SHA256Hex.hex(hasher.finalize())) }
        return (stat, complete, sha, extends, count, payload)
    }

    /// Adds the prompt log to the request (not for a single session).
    mutating func planHistory() throws {
        guard scope.sessionId == nil else { return }
        let path = HistoryLog.path
        let pair = store.pair(local: path)
        // Project paths of the mapped projects, this run's and the ones remembered for this pod.
        let translation = HistoryTranslation(mappings: scope.projects + MappingMemory(stateDir: engine.stateDir).load())
        let stat = LocalStat.of(historyFile)
        if stat == nil, pair != nil {
            items.append(.init(path: path, action: .deletedLocally, detail: "prompt history deleted here; kept on the pod"))
            return
        }
        var plan = HistoryPlan(pair: pair, stat: stat, extends: pair != nil, candidates: 0, read: nil,
                               sentPayload: nil, translation: translation)
        var request = AgentFileRequest(path: path, seen: nil, ancestor: nil, operation: .merge)
        if stat != nil, stat != pair?.localSeen {
            var payloadFile: String?
            if options.sends {
                payloadFile = scratch.appendingPathComponent("history-out-\(UUID().uuidString.prefix(8))").path
                _ = FileManager.default.createFile(atPath: payloadFile!, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            if let local = try readLocalHistory(pair: pair, translation: translation, payloadFile: payloadFile) {
                plan.stat = local.stat
                plan.read = (local.complete, local.sha)
                plan.extends = local.extends
                plan.candidates = local.candidates
                if local.candidates > 0, let payload = local.payload {
                    request.payload = payload
                    plan.sentPayload = payload
                }
            }
        }
        request.seen = plan.extends ? pair?.podSeen : nil
        request.ancestor = plan.extends ? pair?.pod : nil
        history = plan
        files.append(request)
    }

    /// Settles the prompt log from the pod's answer: adds the pod's new prompts here
    /// (pull, sync), reports what moved, and records an agreement only when both sides
    /// now hold the same prompts.
    mutating func applyHistory(state: AgentRecord.FileState?, data: AgentExchange.Answer.DataFile?) throws {
        guard let plan = history, let state else { return }
        let path = HistoryLog.path
        let detail = "prompt history, merged by line"
        switch state.kind {
        case .gone:
            if plan.candidates > 0 {
                items.append(.init(path: path, action: options.dryRun && options.direction != .pull ? .copiedToPod : .localOnly,
                                   lines: plan.candidates, detail: detail))
            }
            return
        case .busy:
            items.append(.init(path: path, action: .busy, detail: "prompt history is being written on the pod; it is merged next time"))
            return
        case .merged, .mergedChanged:
            break
        default:
            items.append(.init(path: path, action: .failed, detail: "unexpected answer \(state.kind.rawValue) from the pod for the prompt history"))
            return
        }
        guard let podSize = state.stat?.size, let podSha = state.sha256 else {
            items.append(.init(path: path, action: .failed, detail: "the pod's answer for the prompt history has no size or hash"))
            return
        }
        let podWasAtAncestor = state.kind == .merged
        // The pod's log no longer starts with the agreed prompts (rewritten there).
        let podRewritten = plan.extends && !podWasAtAncestor && (plan.pair?.pod.size ?? 0) > 0 && data.map { $0.offset == 0 } == true
        let podKeptAncestor = podWasAtAncestor || (data.map { $0.offset > 0 } ?? false)
        // Every local prompt is on the pod now: the ones after the agreed prefix were sent
        // (or there were none), and the pod still has the agreed ones.
        var podHasAllLocal = (plan.sentPayload != nil || plan.candidates == 0) && (!plan.extends || podKeptAncestor)
        // Every prompt of the pod is here: it had nothing new, or its new ones were merged here.
        var localHasAllPod = podWasAtAncestor
        var localVersion = plan.read.map { FileVersion(size: $0.complete, sha256: $0.sha) } ?? plan.pair?.local
        var localSeen = plan.stat

        if let payload = plan.sentPayload, state.lines > 0 {
            items.append(.init(path: path, action: .pushed, lines: state.lines, bytes: payload.length, detail: detail))
        }
        if !podWasAtAncestor, let data, options.receives {
            // The pod's prompts since the ancestor (all of them after a rewrite), in local form.
            let local = try HistoryStream.readLocal(historyFile)
            // Lines written here since planning did not travel this time.
            if local?.stat != plan.stat { podHasAllLocal = false }
            if let local {
                localVersion = FileVersion(size: local.complete, sha256: local.sha)
                localSeen = local.stat
            }
            var keys = local?.keys ?? []
            let adding = try HistoryStream.missing(in: data.file, length: data.length, from: &keys, translation: plan.translation)
            if adding.isEmpty {
                localHasAllPod = true
            } else if let written = try writeLocalHistory(adding, from: data.file, translation: plan.translation, local: local) {
                localHasAllPod = true
                localVersion = written
                localSeen = LocalStat.of(historyFile)
                items.append(.init(path: path, action: .pulled, lines: adding.count, bytes: data.length, detail: detail))
            } else {
                items.append(.init(path: path, action: .busy, detail: "prompt history is being written here; the pod's prompts are merged next time"))
            }
        } else if !podWasAtAncestor {
            items.append(.init(path: path, action: options.dryRun && options.direction != .push ? .pulled : .podAhead,
                               lines: plan.sentPayload == nil ? state.lines : 0,
                               detail: "the pod has prompts of its own; `ccpod pull` or `ccpod sync` merges them here"))
        }
        if plan.sentPayload == nil, plan.candidates > 0 {
            items.append(.init(path: path, action: options.dryRun && options.direction != .pull ? .pushed : .localAhead,
                               lines: plan.candidates, detail: detail))
        }

        let agreed = podHasAllLocal && localHasAllPod
        if agreed, !items.contains(where: { $0.path == path }) { items.append(.init(path: path, action: .inSync)) }
        guard !options.dryRun, options.direction != .status else { return }
        if agreed, let localVersion {
            let pair = AncestorPair(localPath: path, podPath: path, local: localVersion, pod: FileVersion(size: podSize, sha256: podSha),
                                    localSeen: localSeen, podSeen: state.stat.flatMap { PodStat.isWellFormed(mtime: $0.mtime) ? $0 : nil })
            if pair != plan.pair { store.set(pair) }
        } else if podRewritten {
            // Start over: next time both whole logs are compared by key (nothing is duplicated).
            store.remove(local: path)
        }
    }

    /// Writes the merged log here: an append through the journal when every new line is
    /// later than the local ones, else a whole new file (temporary file, fsync, rename) as
    /// long as no claude appended meanwhile. Nil when the file is being written now.
    private func writeLocalHistory(_ adding: [HistoryStream.Incoming], from podFile: String, translation: HistoryTranslation,
                                   local: HistoryStream.LocalState?) throws -> FileVersion? {
        func added(_ put: (Data) throws -> Void) throws {
            for line in adding { try HistoryStream.write(line, from: podFile, translation: translation, put) }
        }
        guard let local else { return try writer.replace(HistoryLog.path, added) }
        // A line being written now: leave the file alone this time.
        guard local.stat.size == local.complete else { return nil }
        if let first = adding.first, first.timestamp >= local.latest {
            // Every added line is as late as the local ones: an append.
            let payload = scratch.appendingPathComponent("history-\(UUID().uuidString.prefix(8))")
            var length: Int64 = 0
            try AtomicFile.write(to: payload) { fd in
                try added { chunk in
                    length += Int64(chunk.count)
                    try FileDescriptorIO.writeAll(fd, chunk, path: payload.path)
                }
            }
            do {
                return try writer.append(HistoryLog.path, expectedSize: local.complete, expectedSha: local.sha,
                                         payloadFile: payload.path, length: length)
            } catch let error as CCPodError where error.status == .failure && LocalStat.of(historyFile) != local.stat {
                return nil
            }
        }
        do {
            return try writer.replace(HistoryLog.path, beforeRename: {
                // Claude appended since the file was read: its line must not be lost.
                guard LocalStat.of(historyFile) == local.stat else { throw HistoryChanged() }
            }) { put in
                try HistoryStream.merge(own: historyFile, length: local.complete, incoming: adding, from: podFile,
                                        translation: translation, put)
            }
        } catch is HistoryChanged {
            return nil
        }
    }

    struct HistoryChanged: Error {}
}
