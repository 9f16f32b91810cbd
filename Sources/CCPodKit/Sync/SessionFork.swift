import Crypto
import Foundation

/// Forks: when both sides moved on, each keeps its session and the other side's
/// continuation arrives as a sibling session (a new id, its lines' `sessionId`
/// rewritten, a custom title "… (from pod)" / "… (from laptop)"). The local sibling
/// is written in the run's one exchange; the pod's goes in a second one.
extension SyncRun {
    /// Both continuations kept: the pod's version of this session arrives here as a new
    /// sibling session (new id, its lines' sessionId rewritten, a custom title appended).
    mutating func forkLocally(_ entry: Entry, podState: AgentRecord.FileState, data: AgentExchange.Answer.DataFile, podDeltaOnly: Bool) throws {
        guard let podId = SyncScope.sessionId(of: entry.podPath), let localId = SyncScope.sessionId(of: entry.localPath) else { return }
        let pair = entry.pair
        let siblingId = UUID().uuidString.lowercased()
        let siblingPath = Self.replaceId(in: entry.localPath, with: siblingId)
        let podRewriter = SessionIdRewriter(from: pair?.podSessionId ?? podId, to: siblingId)
        let deltaComplete = try LocalTree.completeLength(data.file, size: data.length)
        // The pod's version: the agreed prefix (as the local side has it) plus the pod's lines.
        let content = scratch.appendingPathComponent("fork-\(siblingId)").path
        var podVersionHasher = SHA256()
        var podSize: Int64 = 0
        try AtomicFile.write(to: URL(fileURLWithPath: content)) { fd in
            if podDeltaOnly, let pair {
                let prefixRewriter = SessionIdRewriter(from: pair.localSessionId ?? localId, to: siblingId)
                let toPodIds = pair.toPod
                try prefixRewriter.stream(file: claudeDir + "/" + entry.localPath, offset: 0, length: pair.local.size) { chunk in
                    try FileDescriptorIO.writeAll(fd, chunk, path: content)
                }
                if let toPodIds {
                    try toPodIds.stream(file: claudeDir + "/" + entry.localPath, offset: 0, length: pair.local.size) { podVersionHasher.update(data: $0) }
                } else {
                    try FileRanges.feed(&podVersionHasher, claudeDir + "/" + entry.localPath, length: pair.local.size)
                }
                podSize += pair.pod.size
            }
            try podRewriter.stream(file: data.file, offset: 0, length: deltaComplete) { try FileDescriptorIO.writeAll(fd, $0, path: content) }
            try FileRanges.feed(&podVersionHasher, data.file, length: deltaComplete)
            podSize += deltaComplete
        }
        // Named apart in Claude's picker: the session's own title, "(from pod)".
        try Self.appendTitle(to: content, sessionId: siblingId, suffix: "from pod", fallback: "session \(localId.prefix(8))")
        writer.scope.admitSibling(of: siblingPath)
        let written = try writer.write(siblingPath, from: content, length: nil).version
        // A sibling's pair forking again: its agreed bytes differ from the pod's by more
        // than ids, so the pod's hash is the one it said.
        var podSha = SHA256Hex.hex(podVersionHasher.finalize())
        if podDeltaOnly, pair?.toPod != nil, let said = podState.sha256, deltaComplete == data.length, podState.stat?.size == podSize {
            podSha = said
        }
        store.set(AncestorPair(localPath: siblingPath, podPath: entry.podPath, localSessionId: siblingId, podSessionId: pair?.podSessionId ?? podId,
                               local: written, pod: FileVersion(size: podSize, sha256: podSha),
                               localSeen: LocalStat.of(claudeDir + "/" + siblingPath),
                               podSeen: podSize == podState.stat?.size ? podState.stat : nil))
        items.append(.init(path: entry.localPath, action: .forked, lines: podState.lines, bytes: deltaComplete,
                           detail: "both sides moved on: the pod's continuation is now session \(siblingId) here"))
    }

    /// The local version of a forked session goes to the pod as a sibling (second exchange).
    mutating func queuePodSibling(for entry: Entry) throws {
        guard let localId = SyncScope.sessionId(of: entry.localPath), let stat = entry.stat else { return }
        let full = claudeDir + "/" + entry.localPath
        let complete = try LocalTree.completeLength(full, size: stat.size)
        let siblingId = UUID().uuidString.lowercased()
        let podPath = Self.replaceId(in: entry.podPath, with: siblingId)
        let rewriter = SessionIdRewriter(from: entry.pair?.localSessionId ?? localId, to: siblingId)
        let content = scratch.appendingPathComponent("sibling-\(siblingId)").path
        var hasher = SHA256()
        var size: Int64 = 0
        try AtomicFile.write(to: URL(fileURLWithPath: content)) { fd in
            try rewriter.stream(file: full, offset: 0, length: complete) { chunk in
                hasher.update(data: chunk)
                size += Int64(chunk.count)
                try FileDescriptorIO.writeAll(fd, chunk, path: content)
            }
        }
        let localSha = try SHA256Hex.ofFile(full, length: complete)
        let titleLine = try Self.appendTitle(to: content, sessionId: siblingId, suffix: "from laptop", fallback: "session \(localId.prefix(8))")
        hasher.update(data: titleLine)
        size += Int64(titleLine.count)
        let version = FileVersion(size: size, sha256: SHA256Hex.hex(hasher.finalize()))
        let pair = AncestorPair(localPath: entry.localPath, podPath: podPath, localSessionId: entry.pair?.localSessionId ?? localId,
                                podSessionId: siblingId, local: FileVersion(size: complete, sha256: localSha), pod: version,
                                localSeen: stat, podSeen: nil)
        followUps.append(.putSibling(podPath: podPath, file: content, version: version, pair: pair, forkOf: entry.localPath))
    }

    /// The pod paths the second exchange asks about.
    var followUpPaths: [String] {
        followUps.map { followUp in
            switch followUp {
            case .putSibling(let podPath, _, _, _, _), .fetchForFork(let podPath, _): return podPath
            }
        }
    }

    func followUpRequest() -> AgentRequest? {
        guard !followUps.isEmpty else { return nil }
        var files: [AgentFileRequest] = []
        for followUp in followUps {
            switch followUp {
            case .putSibling(let podPath, let file, let version, _, _):
                files.append(AgentFileRequest(path: podPath, seen: nil, ancestor: nil, operation: .put,
                                              payload: .init(file: file, offset: 0, length: version.size, sha256: version.sha256)))
            case .fetchForFork(let podPath, _):
                files.append(AgentFileRequest(path: podPath, seen: nil, ancestor: nil, operation: .check))
            }
        }
        return engine.filesRequest(.sync, files, busySeconds: options.busySeconds)
    }

    mutating func applyFollowUp(_ answer: AgentExchange.Answer) throws {
        let (states, data, said) = try checked(answer, followUp: true)
        warnings += said
        for followUp in followUps {
            switch followUp {
            case .putSibling(let podPath, _, let version, var pair, let forkOf):
                guard let state = states[podPath], state.kind == .written else {
                    warnings.append("the pod did not accept the sibling \(TerminalText.escape(podPath)); the next sync tries again")
                    continue
                }
                pair.podSeen = state.stat
                store.set(pair)
                // The sibling's bytes went up in this second exchange: the summary counts them.
                if let i = items.firstIndex(where: { $0.path == forkOf && $0.action == .forked }) {
                    items[i].detail = (items[i].detail ?? "") + "; this side's continuation is session \(SyncScope.sessionId(of: podPath) ?? "?") on the pod"
                    items[i].sentBytes = (items[i].sentBytes ?? 0) + version.size
                } else {
                    items.append(.init(path: forkOf, action: .forked, detail: "rewritten here: this version is session \(SyncScope.sessionId(of: podPath) ?? "?") on the pod",
                                       sentBytes: version.size))
                }
            case .fetchForFork(let podPath, _):
                guard let state = states[podPath], let d = data[podPath], let entry = entries[podPath] else { continue }
                var detached = entry
                detached.pair = nil
                try forkLocally(detached, podState: state, data: d, podDeltaOnly: false)
            }
        }
    }

    // MARK: - Sibling names and titles

    static func replaceId(in path: String, with id: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts[parts.count - 1] = "\(id).jsonl"
        return parts.joined(separator: "/")
    }

    static func siblingPath(of path: String) -> String {
        replaceId(in: path, with: UUID().uuidString.lowercased())
    }

    /// Appends `{"type":"custom-title",…}` naming a fork's sibling after the session's
    /// title (custom title, else summary, else first prompt) and returns the line.
    @discardableResult
    static func appendTitle(to file: String, sessionId: String, suffix: String, fallback: String) throws -> Data {
        let title = (try? SessionSummary.read(URL(fileURLWithPath: file)).title).flatMap { $0 } ?? fallback
        let short = String(title.split(separator: "\n").first ?? "").prefix(80).trimmingCharacters(in: .whitespaces)
        let line = customTitleLine(title: "\(short.isEmpty ? fallback : short) (\(suffix))", sessionId: sessionId)
        guard let handle = FileHandle(forWritingAtPath: file) else { throw CCPodError.io("cannot write \(file)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
        return line
    }

    static func customTitleLine(title: String, sessionId: String) -> Data {
        let object: [String: String] = ["type": "custom-title", "customTitle": title, "sessionId": sessionId]
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        data.append(0x0A)
        return data
    }
}
