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
    /// Local lines the pod may lack (local form), known when the file was read.
    var candidates: [Data]
    /// Set when the local file was read at planning.
    var read: (lines: [Data], complete: Int64, sha: String)?
    var sentPayload: AgentFileRequest.Payload?
    var translation: HistoryTranslation
}

extension SyncRun {
    var historyFile: String { claudeDir + "/" + HistoryLog.path }

    /// Reads the local log's complete lines; nil when there is none.
    func readLocalHistory() throws -> (lines: [Data], complete: Int64, sha: String, stat: LocalStat)? {
        guard let stat = LocalStat.of(historyFile) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: historyFile))
        let complete = data.lastIndex(of: 0x0A).map { Int64($0 - data.startIndex + 1) } ?? 0
        let prefix = data.prefix(Int(complete))
        return (HistoryLog.lines(of: prefix), complete, SHA256Hex.of(prefix), stat)
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
        var plan = HistoryPlan(pair: pair, stat: stat, extends: pair != nil, candidates: [], read: nil,
                               sentPayload: nil, translation: translation)
        if stat != nil, stat != pair?.localSeen, let local = try readLocalHistory() {
            plan.stat = local.stat
            plan.read = (local.lines, local.complete, local.sha)
            var basis: [Data] = []
            if let pair, local.complete >= pair.local.size,
               let prefix = try? FileRanges.hash(historyFile, length: pair.local.size), prefix == pair.local.sha256 {
                // Lines after the agreed prefix, less the prompts the prefix already has.
                var size: Int64 = 0
                var cut = 0
                while cut < local.lines.count, size < pair.local.size {
                    size += Int64(local.lines[cut].count + 1)
                    cut += 1
                }
                basis = Array(local.lines[..<cut])
                plan.candidates = HistoryLog.missing(Array(local.lines[cut...]), from: Set(basis.map(HistoryLog.key)))
            } else {
                plan.extends = false
                plan.candidates = HistoryLog.missing(local.lines, from: [])
            }
        }
        var request = AgentFileRequest(path: path, seen: plan.extends ? pair?.podSeen : nil,
                                       ancestor: plan.extends ? pair?.pod : nil, operation: .merge)
        if options.sends, !plan.candidates.isEmpty {
            let payload = AgentFileRequest.Payload(data: HistoryLog.content(plan.candidates.map(translation.toPod)))
            request.payload = payload
            plan.sentPayload = payload
        }
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
            if !plan.candidates.isEmpty {
                items.append(.init(path: path, action: options.dryRun && options.direction != .pull ? .copiedToPod : .localOnly,
                                   lines: plan.candidates.count, detail: detail))
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
        var podHasAllLocal = (plan.sentPayload != nil || plan.candidates.isEmpty) && (!plan.extends || podKeptAncestor)
        // Every prompt of the pod is here: it had nothing new, or its new ones were merged here.
        var localHasAllPod = podWasAtAncestor
        var localVersion = plan.read.map { FileVersion(size: $0.complete, sha256: $0.sha) } ?? plan.pair?.local
        var localSeen = plan.stat

        if let payload = plan.sentPayload, state.lines > 0 {
            items.append(.init(path: path, action: .pushed, lines: state.lines, bytes: payload.length, detail: detail))
        }
        if !podWasAtAncestor, let data, options.receives {
            // The pod's prompts since the ancestor (all of them after a rewrite), in local form.
            let bytes = try FileRanges.data(data.file, length: data.length)
            let incoming = HistoryLog.lines(of: bytes).map(plan.translation.toLocal)
            let local = try readLocalHistory()
            // Lines written here since planning did not travel this time.
            if local?.stat != plan.stat { podHasAllLocal = false }
            if let local {
                localVersion = FileVersion(size: local.complete, sha256: local.sha)
                localSeen = local.stat
            }
            let merge = HistoryLog.merge(own: local?.lines ?? [], incoming: incoming)
            if merge.added.isEmpty {
                localHasAllPod = true
            } else if let written = try writeLocalHistory(merge, local: local) {
                localHasAllPod = true
                localVersion = written
                localSeen = LocalStat.of(historyFile)
                items.append(.init(path: path, action: .pulled, lines: merge.added.count, bytes: data.length, detail: detail))
            } else {
                items.append(.init(path: path, action: .busy, detail: "prompt history is being written here; the pod's prompts are merged next time"))
            }
        } else if !podWasAtAncestor {
            items.append(.init(path: path, action: options.dryRun && options.direction != .push ? .pulled : .podAhead,
                               lines: plan.sentPayload == nil ? state.lines : 0,
                               detail: "the pod has prompts of its own; `ccpod pull` or `ccpod sync` merges them here"))
        }
        if plan.sentPayload == nil, !plan.candidates.isEmpty {
            items.append(.init(path: path, action: options.dryRun && options.direction != .pull ? .pushed : .localAhead,
                               lines: plan.candidates.count, detail: detail))
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
    private func writeLocalHistory(_ merge: HistoryLog.Merge, local: (lines: [Data], complete: Int64, sha: String, stat: LocalStat)?) throws -> FileVersion? {
        let target = URL(fileURLWithPath: historyFile)
        guard let local else {
            let content = merge.content
            try writer.replace(HistoryLog.path, with: content)
            return FileVersion(size: Int64(content.count), sha256: SHA256Hex.of(content))
        }
        // A line being written now: leave the file alone this time.
        guard local.stat.size == local.complete else { return nil }
        if merge.isAppend {
            let added = HistoryLog.content(merge.added)
            let payload = scratch.appendingPathComponent("history-\(UUID().uuidString.prefix(8))")
            try AtomicFile.write(added, to: payload)
            do {
                return try writer.append(HistoryLog.path, expectedSize: local.complete, expectedSha: local.sha,
                                         payloadFile: payload.path, length: Int64(added.count))
            } catch let error as CCPodError where error.status == .failure && LocalStat.of(historyFile) != local.stat {
                return nil
            }
        }
        let content = merge.content
        do {
            try writer.replace(HistoryLog.path, with: content) {
                // Claude appended since the file was read: its line must not be lost.
                guard LocalStat.of(target.path) == local.stat else { throw HistoryChanged() }
            }
        } catch is HistoryChanged {
            return nil
        }
        return FileVersion(size: Int64(content.count), sha256: SHA256Hex.of(content))
    }

    struct HistoryChanged: Error {}
}
