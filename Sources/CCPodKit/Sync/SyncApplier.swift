import Crypto
import Foundation

/// The effects of the pod's answer: the answer checked whole against the command's
/// scope, then per file `SyncDecision` decides and the step is carried out here
/// (agreements recorded, local writes through `LocalWriter`, forks through
/// `SessionFork.swift`).
extension SyncRun {
    /// The answer's records by pod path, once every path in it was found inside what the
    /// request asked about: nothing is written when one is not. `followUp`: an answer
    /// about named files only.
    func checked(_ answer: AgentExchange.Answer, followUp: Bool = false) throws
        -> (states: [String: AgentRecord.FileState], data: [String: AgentExchange.Answer.DataFile], warnings: [String]) {
        let index = answer.index
        let asked = Set(followUp ? followUpPaths : files.map(\.path))
        var allowed = WriteScope(answersTo: scope, options: options, sessionIds: sessionIds, history: history != nil)
        if !followUp {
            // The pod's own sessions in scope bring their per-session folders.
            for podPath in index.states.keys { allowed.admitSession(of: scope.localPath(forPod: podPath)) }
        }
        for podPath in Set(index.states.keys).union(index.data.keys) where !asked.contains(podPath) {
            guard !followUp, allowed.allows(scope.localPath(forPod: podPath)) else {
                throw WriteScope.refusal(pod: engine.connection.displayName, path: podPath)
            }
        }
        return (index.states, index.data, index.warnings.map { TerminalText.escape($0) })
    }

    mutating func apply(_ answer: AgentExchange.Answer) throws {
        let (states, data, said) = try checked(answer)
        try adoptSent(answer.sent)
        warnings += said
        // The pod's new sessions in scope bring their per-session files.
        for (podPath, state) in states where state.kind == .new && entries[podPath] == nil {
            writer.scope.admitSession(of: scope.localPath(forPod: podPath))
        }
        // The pod's new files, received whole, are flushed all at once before they
        // are renamed into place (one by one, each would wait for the disk).
        writer.flushedData = ParallelFlush.paths(data.compactMap { podPath, file in
            entries[podPath] == nil && states[podPath]?.kind == .new ? file.file : nil
        })
        for podPath in entries.keys.sorted() {
            try settle(podPath: podPath, state: states[podPath], data: data[podPath])
        }
        try applyHistory(state: states[HistoryLog.path], data: data[HistoryLog.path])
        // Files only the pod has.
        for (podPath, state) in states.sorted(by: { $0.key < $1.key }) where entries[podPath] == nil && podPath != HistoryLog.path {
            try settlePodOnly(podPath: podPath, state: state, data: data[podPath])
        }
        writer.flushRenamedFolders()
    }

    /// The hashes and newline counts of new files that were hashed as they were sent.
    private mutating func adoptSent(_ sent: [String: AgentExchange.Answer.Sent]) throws {
        for (podPath, entry) in entries {
            guard case .new(let complete, let sha) = entry.change, sha.isEmpty, entry.sent == .put else { continue }
            guard let s = sent[podPath] else {
                throw CCPodError.failure("\(TerminalText.escape(entry.localPath)) was not sent whole; run the command again")
            }
            var e = entry
            e.change = .new(complete: complete, sha: s.sha256)
            e.podVersion = FileVersion(size: complete, sha256: s.sha256)
            e.payloadLines = s.lines
            entries[podPath] = e
        }
    }

    var decisionContext: SyncDecision.Context {
        SyncDecision.Context(options: options, receivesConfig: scope.userConfig == .both)
    }

    private mutating func settle(podPath: String, state: AgentRecord.FileState?, data: AgentExchange.Answer.DataFile?) throws {
        guard let entry = entries[podPath] else { return }
        var file = SyncDecision.File(
            localPath: entry.localPath, change: entry.change, busy: entry.busy,
            agreedLocalSize: entry.pair?.local.size, agreedPodSize: entry.pair?.pod.size, podVersion: entry.podVersion,
            payloadLines: entry.payloadLines, payloadBytes: entry.payloadBytes,
            podKind: state?.kind, podStat: state?.stat, podSha: state?.sha256, podLines: state?.lines ?? 0, hasData: data != nil)
        if case .new(let complete, _) = entry.change, let size = entry.stat?.size { file.localTail = size > complete }
        switch SyncDecision.probe(file) {
        case .none: break
        case .localStartsWithPod(let length):
            file.localStartsWithPod = (try? startsWithLines(claudeDir + "/" + entry.localPath, length: length, sha256: state?.sha256)) == true
        case .sameGrowth:
            if case .grew(let complete, _) = entry.change, let data { file.sameGrowth = (try? sameGrowth(entry, complete: complete, data: data)) == true }
        }
        try perform(SyncDecision.decide(file, decisionContext), entry: entry, podPath: podPath, state: state, data: data)
    }

    private mutating func perform(_ step: SyncDecision.Step, entry: Entry, podPath: String,
                                  state: AgentRecord.FileState?, data: AgentExchange.Answer.DataFile?) throws {
        let path = entry.localPath
        switch step {
        case .report(let item):
            items.append(item)
        case .reportCountingLines(var item, let from, let to):
            item.lines = try FileRanges.newlines(claudeDir + "/" + path, offset: from, length: to - from)
            items.append(item)
        case .recordAgreement(let local, let pod, let podSeen, let item):
            store.set(AncestorPair(localPath: entry.localPath, podPath: entry.podPath,
                                   localSessionId: entry.pair?.localSessionId, podSessionId: entry.pair?.podSessionId,
                                   local: local, pod: pod, localSeen: entry.stat, podSeen: podSeen))
            items.append(item)
        case .agreeOnPrefix(let common, let podSeen, var item, let from, let to):
            // The local file is seen as it was when this agreement holds only when it is the common part.
            let whole = entry.stat?.size == common.size
            store.set(AncestorPair(localPath: entry.localPath, podPath: entry.podPath, local: common, pod: common,
                                   localSeen: whole ? entry.stat : nil, podSeen: podSeen))
            if to > from { item.lines = try FileRanges.newlines(claudeDir + "/" + path, offset: from, length: to - from) }
            items.append(item)
        case .recordExtendedOnPod(let complete, let sha, var item):
            let version = FileVersion(size: complete, sha256: sha)
            store.set(AncestorPair(localPath: entry.localPath, podPath: entry.podPath, local: version, pod: version,
                                   localSeen: entry.stat, podSeen: state?.stat?.size == complete ? state?.stat : nil))
            item.bytes = complete - (try Self.startOfLastLines(claudeDir + "/" + path, end: complete, lines: item.lines))
            items.append(item)
        case .refreshSeen(let item):
            if var pair = entry.pair { pair.podSeen = state?.stat; pair.localSeen = entry.stat; store.set(pair) }
            items.append(item)
        case .recordPushedAppend(let complete, let sha, let item):
            guard var pair = entry.pair else { return }
            let podSize = pair.pod.size + entry.payloadBytes
            let podSha: String
            if pair.toPod != nil {
                // A sibling's pair: the sides differ by more than ids; the pod said its hash.
                guard let said = state?.sha256, state?.stat?.size == podSize else {
                    items.append(.init(path: path, action: .failed, detail: "the pod did not confirm the appended lines; the next run checks again"))
                    return
                }
                podSha = said
            } else {
                podSha = try podHash(of: entry, localComplete: complete, localSha: sha)
            }
            pair.local = FileVersion(size: complete, sha256: sha)
            pair.pod = FileVersion(size: podSize, sha256: podSha)
            pair.localSeen = entry.stat
            pair.podSeen = state?.stat
            store.set(pair)
            items.append(item)
        case .recordReplacedOnPod(let complete, let sha, let item):
            guard var pair = entry.pair else { return }
            pair.local = FileVersion(size: complete, sha256: sha)
            pair.pod = entry.podVersion ?? pair.local
            pair.localSeen = entry.stat
            pair.podSeen = state?.stat
            store.set(pair)
            items.append(item)
        case .recordSameGrowth(let complete, let sha):
            guard var pair = entry.pair, let data else { return }
            if pair.toPod != nil {
                // A sibling's pair: the pod's hash as it said it (its delta was all it sent).
                guard let said = state?.sha256, let size = state?.stat?.size, size == pair.pod.size + data.length else {
                    items.append(.init(path: path, action: .inSync, detail: "the pod's new line is not complete yet"))
                    return
                }
                pair.pod = FileVersion(size: size, sha256: said)
            } else {
                pair.pod = FileVersion(size: pair.pod.size + (complete - pair.local.size),
                                       sha256: try Self.extendHash(ofPodVersion: pair, localPath: claudeDir + "/" + path, podDelta: data.file,
                                                                   length: complete - pair.local.size))
            }
            pair.local = FileVersion(size: complete, sha256: sha)
            pair.localSeen = entry.stat
            pair.podSeen = state?.stat?.size == pair.pod.size ? state?.stat : nil
            store.set(pair)
            items.append(.init(path: path, action: .inSync))
        case .forget(let item):
            store.remove(local: path)
            items.append(item)
        case .deleteHere(let item):
            try writer.backup(path)
            store.remove(local: path)
            items.append(item)
        case .pullAppend:
            guard let state, let data else { return }
            var entry = entry
            if entry.pair == nil, case .new(let complete, let sha) = entry.change {
                // First contact, the pod's copy this one and more lines: this one stands in for the ancestor.
                let common = FileVersion(size: complete, sha256: sha)
                entry.pair = AncestorPair(localPath: entry.localPath, podPath: entry.podPath, local: common, pod: common,
                                          localSeen: nil, podSeen: nil)
            }
            try pullAppend(entry, state: state, data: data)
        case .replaceLocal:
            guard let state, let data else { return }
            try replaceLocal(entry, state: state, data: data)
        case .fork(let podDeltaOnly):
            guard let state, let data else { return }
            try forkLocally(entry, podState: state, data: data, podDeltaOnly: podDeltaOnly)
            try queuePodSibling(for: entry)
        case .forkFetchingPodVersion:
            followUps.append(.fetchForFork(podPath: podPath, localPath: path))
            try queuePodSibling(for: entry)
        case .conflict(let item):
            conflicts.append(path)
            items.append(item)
        }
    }

    /// Whether the first `length` bytes of `file` hash to `sha256` and end with a complete line.
    func startsWithLines(_ file: String, length: Int64, sha256: String?) throws -> Bool {
        guard let sha256, length >= 0 else { return false }
        if length > 0 {
            var last = Data()
            try FileRanges.read(file, offset: length - 1, length: 1) { last.append($0) }
            guard last.first == 0x0A else { return false }
        }
        return try FileRanges.hash(file, length: length) == sha256
    }

    /// Where the last `lines` complete lines before `end` begin in `file` (`end` is a line boundary).
    static func startOfLastLines(_ file: String, end: Int64, lines: Int) throws -> Int64 {
        guard lines > 0, end > 0 else { return end }
        // Newlines from the start: the one ending the line before the last `lines` ones.
        let total = try FileRanges.newlines(file, offset: 0, length: end)
        let keep = total - lines
        guard keep > 0 else { return 0 }
        var seen = 0
        var offset: Int64 = 0
        var start: Int64 = 0
        try FileRanges.read(file, offset: 0, length: end) { chunk in
            guard seen < keep else { return }
            for (i, byte) in chunk.enumerated() where byte == 0x0A {
                seen += 1
                if seen == keep { start = offset + Int64(i) + 1; break }
            }
            offset += Int64(chunk.count)
        }
        return start
    }

    /// Whether the pod's new lines are exactly this side's new lines (ids mapped).
    private func sameGrowth(_ entry: Entry, complete: Int64, data: AgentExchange.Answer.DataFile) throws -> Bool {
        guard let pair = entry.pair, data.offset == pair.pod.size else { return false }
        let localDelta = complete - pair.local.size
        let podDelta = try LocalTree.completeLength(data.file, size: data.length)
        let full = claudeDir + "/" + entry.localPath
        let podHash = try FileRanges.hash(data.file, length: podDelta)
        guard let rewriter = pair.toPod else {
            guard localDelta == podDelta, localDelta > 0 else { return false }
            return try FileRanges.hash(full, offset: pair.local.size, length: localDelta) == podHash
        }
        // A sibling's pair: this side's new lines as they went (ids rewritten, titles kept here).
        var hasher = SHA256()
        var sent: Int64 = 0
        var titles = SiblingTitles()
        try rewriter.stream(file: full, offset: pair.local.size, length: localDelta) { chunk in
            titles.feed(chunk) { hasher.update(data: $0); sent += Int64($0.count) }
        }
        titles.finish { hasher.update(data: $0); sent += Int64($0.count) }
        return sent == podDelta && sent > 0 && SHA256Hex.hex(hasher.finalize()) == podHash
    }

    private mutating func settlePodOnly(podPath: String, state: AgentRecord.FileState, data: AgentExchange.Answer.DataFile?) throws {
        var localPath = scope.localPath(forPod: podPath)
        // An archived session's copy on the pod is neither new here nor a deletion there.
        if let id = SyncScope.sessionId(of: localPath), options.archivedSessions.contains(id) || leftAlone.contains(id) { return }
        let taken = FileManager.default.fileExists(atPath: claudeDir + "/" + localPath) || store.pair(local: localPath) != nil
        let file = SyncDecision.PodOnlyFile(localPath: localPath, podKind: state.kind, podSize: state.stat?.size, hasData: data != nil,
                                            writable: writer.scope.allows(localPath), taken: taken)
        var rewriter: SessionIdRewriter?
        var localId: String?
        var podId: String?
        switch SyncDecision.decidePodOnly(file, decisionContext) {
        case .ignore:
            return
        case .report(let item):
            items.append(item)
            return
        case .conflict(let item):
            conflicts.append(localPath)
            items.append(item)
            return
        case .copy(let asSibling):
            // The local path is taken by another session: arrive as a sibling.
            if asSibling, let id = SyncScope.sessionId(of: localPath) {
                let newId = UUID().uuidString.lowercased()
                localPath = Self.replaceId(in: localPath, with: newId)
                rewriter = SessionIdRewriter(from: id, to: newId)
                localId = newId
                podId = id
                writer.scope.admitSibling(of: localPath)
            }
        }
        guard let data, let podStat = state.stat else { return }
        let isLog = podPath.hasSuffix(".jsonl")
        let complete = isLog ? try LocalTree.completeLength(data.file, size: data.length) : data.length
        var (written, lines) = (FileVersion(size: complete, sha256: data.sha256), data.lines)
        // The verified data as it is (no ids to rewrite, no partial line) is renamed into place.
        let adopted = try rewriter == nil && complete == data.length && writer.adopt(localPath, from: data.file)
        if !adopted {
            (written, lines) = try writer.write(localPath, from: data.file, length: complete, rewriter: rewriter)
        }
        // Without a rewriter the bytes written are the pod's; with one, the pod's are the
        // data as it arrived (hashed then, when it is kept whole).
        let podVersion = rewriter == nil ? written
            : complete == data.length && !data.sha256.isEmpty ? FileVersion(size: complete, sha256: data.sha256)
            : FileVersion(size: complete, sha256: try SHA256Hex.ofFile(data.file, length: complete))
        store.set(AncestorPair(localPath: localPath, podPath: podPath, localSessionId: localId, podSessionId: podId,
                               local: written, pod: podVersion, localSeen: LocalStat.of(claudeDir + "/" + localPath),
                               podSeen: complete == podStat.size ? podStat : nil))
        items.append(.init(path: localPath, action: .copiedFromPod, lines: lines, bytes: complete))
    }

    // MARK: - Local writes

    private mutating func pullAppend(_ entry: Entry, state: AgentRecord.FileState, data: AgentExchange.Answer.DataFile) throws {
        guard var pair = entry.pair, data.offset == pair.pod.size else {
            items.append(.init(path: entry.localPath, action: .failed, detail: "the pod sent data at an unexpected offset"))
            return
        }
        let isLog = entry.localPath.hasSuffix(".jsonl")
        let usable = isLog ? try LocalTree.completeLength(data.file, size: data.length) : data.length
        if usable == 0 {
            items.append(.init(path: entry.localPath, action: .inSync, detail: "the pod's new line is not complete yet"))
            return
        }
        let payloadFile: String
        var length = usable
        let podPrefixHash: String
        if let rewriter = pair.toLocal {
            // A sibling's pair: the pod said its hash (its bytes are not this side's with
            // other ids); the lines come with ids rewritten and without title lines.
            guard let said = state.sha256, usable == data.length, state.stat?.size == pair.pod.size + usable else {
                items.append(.init(path: entry.localPath, action: .inSync, detail: "the pod's new line is not complete yet"))
                return
            }
            podPrefixHash = said
            payloadFile = scratch.appendingPathComponent("rewritten-\(UUID().uuidString.prefix(8))").path
            length = 0
            var titles = SiblingTitles()
            try AtomicFile.write(to: URL(fileURLWithPath: payloadFile)) { fd in
                func put(_ chunk: Data) throws {
                    length += Int64(chunk.count)
                    try FileDescriptorIO.writeAll(fd, chunk, path: payloadFile)
                }
                try rewriter.stream(file: data.file, offset: 0, length: usable) { try titles.feed($0, put) }
                try titles.finish(put)
            }
        } else {
            payloadFile = data.file
            podPrefixHash = try Self.extendHash(ofPodVersion: pair, localPath: claudeDir + "/" + entry.localPath, podDelta: data.file, length: usable)
        }
        if length > 0 {
            pair.local = try writer.append(entry.localPath, expectedSize: pair.local.size, expectedSha: pair.local.sha256,
                                           payloadFile: payloadFile, length: length)
        }
        pair.pod = FileVersion(size: pair.pod.size + usable, sha256: podPrefixHash)
        pair.localSeen = LocalStat.of(claudeDir + "/" + entry.localPath)
        pair.podSeen = (pair.pod.size == state.stat?.size) ? state.stat : nil
        store.set(pair)
        items.append(.init(path: entry.localPath, action: .pulled, lines: try FileRanges.newlines(data.file, length: usable), bytes: usable))
    }

    private mutating func replaceLocal(_ entry: Entry, state: AgentRecord.FileState, data: AgentExchange.Answer.DataFile) throws {
        guard var pair = entry.pair, data.offset == 0 else { return }
        let written = try writer.write(entry.localPath, from: data.file, length: data.length).version
        pair.local = written
        pair.pod = written
        pair.localSeen = LocalStat.of(claudeDir + "/" + entry.localPath)
        pair.podSeen = state.stat
        store.set(pair)
        items.append(.init(path: entry.localPath, action: .replacedLocally, bytes: data.length))
    }

    // MARK: - Hashes of the pod's side

    /// The pod's hash after an append: the pod's agreed bytes plus the appended payload.
    private func podHash(of entry: Entry, localComplete: Int64, localSha: String) throws -> String {
        guard let pair = entry.pair, let rewriter = pair.toPod else { return localSha }
        var hasher = SHA256()
        try rewriter.stream(file: claudeDir + "/" + entry.localPath, offset: 0, length: localComplete) { hasher.update(data: $0) }
        return SHA256Hex.hex(hasher.finalize())
    }

    /// The hash of the pod's file after `length` bytes of `podDelta` were appended to its agreed version.
    static func extendHash(ofPodVersion pair: AncestorPair, localPath: String, podDelta: String, length: Int64) throws -> String {
        var hasher = SHA256()
        if let rewriter = pair.toPod {
            try rewriter.stream(file: localPath, offset: 0, length: pair.local.size) { hasher.update(data: $0) }
        } else {
            try FileRanges.feed(&hasher, localPath, length: pair.pod.size)
        }
        try FileRanges.feed(&hasher, podDelta, length: length)
        return SHA256Hex.hex(hasher.finalize())
    }
}
