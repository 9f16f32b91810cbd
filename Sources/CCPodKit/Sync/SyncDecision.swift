import Foundation

/// How the local side of a file compares with what both sides last agreed on.
enum LocalChange: Sendable, Equatable {
    /// No agreement yet: its complete length and hash (empty until it was hashed as it was sent).
    case new(complete: Int64, sha: String)
    case unchanged
    /// The agreed bytes plus complete lines.
    case grew(complete: Int64, sha: String)
    /// Anything else: shrunk, or other bytes in the agreed part.
    case rewritten(complete: Int64, sha: String)
    case deleted
}

/// What to do with one file: the README's semantics table ("What happens to each
/// file") as a pure function of this side's change, the pod's state record and the
/// options. No disk, no process: what needs reading a file is asked first
/// (`probe`) and its answer passed in.
enum SyncDecision {
    /// One file of the plan as the pod answered about it.
    struct File: Sendable, Equatable {
        var localPath: String
        var change: LocalChange
        /// Changed here in the last seconds or open in a running claude.
        var busy = false
        /// The agreed sizes (nil: no agreement yet).
        var agreedLocalSize: Int64?
        var agreedPodSize: Int64?
        /// What the pod holds once the payload sent lands, and that payload's lines and bytes.
        var podVersion: FileVersion?
        var payloadLines = 0
        var payloadBytes: Int64 = 0
        /// The pod's state record (nil: the pod said nothing, as for an unchanged file).
        var podKind: AgentRecord.FileState.Kind?
        var podStat: PodStat?
        var podSha: String?
        var podLines = 0
        /// Whether the pod sent data for it.
        var hasData = false
        /// The local file has bytes after its last complete line (a line being written,
        /// or torn): on first contact it is no one's prefix.
        var localTail = false
        /// Answers to `probe` (nil: not asked).
        var localStartsWithPod: Bool?
        var sameGrowth: Bool?
    }

    /// What a decision needs read from disk first.
    enum Probe: Sendable, Equatable {
        case none
        /// A session log new on both sides, the pod's shorter: is the pod's whole file this
        /// side's first `length` bytes, ending with a complete line?
        case localStartsWithPod(length: Int64)
        /// Both grew: are the pod's new lines exactly this side's new lines?
        case sameGrowth
    }

    /// What happens to one file.
    enum Step: Sendable, Equatable {
        /// Nothing changes: a line of the report.
        case report(SyncItem)
        /// Nothing changes; the item's lines are counted between two offsets of the local file.
        case reportCountingLines(SyncItem, from: Int64, to: Int64)
        /// Both sides hold these versions now: a new agreement.
        case recordAgreement(local: FileVersion, pod: FileVersion, podSeen: PodStat?, SyncItem)
        /// First contact, one copy the other's first complete lines: both sides agree on
        /// `common` (a stand-in ancestor); the item's lines are counted between two offsets
        /// of the local file when they differ.
        case agreeOnPrefix(common: FileVersion, podSeen: PodStat?, SyncItem, countFrom: Int64, to: Int64)
        /// First contact, the pod's copy was this side's first complete lines: the rest was
        /// appended there. The item's bytes are those of its last `lines` lines.
        case recordExtendedOnPod(complete: Int64, sha: String, SyncItem)
        /// Still agreed: the stats seen are remembered (the file is not read next time).
        case refreshSeen(SyncItem)
        /// The pod appended this side's new lines.
        case recordPushedAppend(complete: Int64, sha: String, SyncItem)
        /// The pod took this side's whole file.
        case recordReplacedOnPod(complete: Int64, sha: String, SyncItem)
        /// Both sides grew by the same lines (an earlier run cut off before recording them).
        case recordSameGrowth(complete: Int64, sha: String)
        /// The agreement is forgotten (the file is gone on both sides).
        case forget(SyncItem)
        /// Deleted on the pod and `--delete`: the local file goes to the backups folder.
        case deleteHere(SyncItem)
        /// The pod's new complete lines are appended here.
        case pullAppend
        /// The pod's whole file replaces the local one (not a transcript).
        case replaceLocal
        /// Both continuations kept: the pod's version arrives here as a sibling session,
        /// this side's goes to the pod as one.
        case fork(podDeltaOnly: Bool)
        /// Rewritten here, unchanged on the pod: the pod's version is fetched in a second
        /// exchange to be kept here as a sibling, and this side's goes to the pod as one.
        case forkFetchingPodVersion
        /// Left for `ccpod resolve`.
        case conflict(SyncItem)
    }

    struct Context: Sendable, Equatable {
        var options: SyncOptions
        /// Config comes home (`--config both`).
        var receivesConfig: Bool
    }

    static let wouldFork = "both sides moved on: each would keep its session and get the other's continuation as a sibling session"

    /// What must be read before `decide` for this file.
    static func probe(_ f: File) -> Probe {
        switch (f.change, f.podKind) {
        case (.new(let complete, let sha), .rewritten?) where f.localPath.hasSuffix(".jsonl") && f.podSha != nil && f.podSha != sha:
            guard let size = f.podStat?.size, size >= 0, size < complete else { return .none }
            return .localStartsWithPod(length: size)
        case (.grew, .grew?) where f.hasData:
            return .sameGrowth
        default:
            return .none
        }
    }

    // Long: one switch is the table, row by row in the README's order; split, it would no longer read as one.
    // swiftlint:disable:next cyclomatic_complexity function_body_length
    static func decide(_ f: File, _ c: Context) -> Step {
        let path = f.localPath
        let o = c.options
        let transcript = SyncScope.isTranscript(path)
        let receivesThis = c.receivesConfig || !SyncScope.isUserConfig(path)
        func item(_ action: SyncItem.Action, lines: Int = 0, bytes: Int64 = 0, _ detail: String? = nil) -> SyncItem {
            SyncItem(path: path, action: action, lines: lines, bytes: bytes, detail: detail)
        }
        if f.busy {
            return .report(item(.busy, "changed in the last few seconds or open in a running claude; it moves next time"))
        }
        if f.podKind == .busy {
            return .report(item(.busy, "changed on the pod in the last few seconds or open in a running claude; it moves next time"))
        }
        if !receivesThis, f.change == .unchanged, f.podKind == .grew || f.podKind == .rewritten {
            return .report(item(.podAhead, "changed on the pod; user config is pushed only (--config both brings it home)"))
        }
        let wouldPush = o.dryRun && o.direction != .pull
        let wouldPull = o.dryRun && o.direction != .push
        let forks = transcript && o.direction == .sync && !o.dryRun
        // `sync --dry-run` tells what `sync` would do with a diverged session: fork it.
        let wouldFork = transcript && o.direction == .sync && o.dryRun
        switch (f.change, f.podKind) {
        // Local new file.
        case (.new(let complete, let sha), .written?):
            let local = FileVersion(size: complete, sha256: sha)
            return .recordAgreement(local: local, pod: f.podVersion ?? local, podSeen: f.podStat,
                                    item(.copiedToPod, lines: f.payloadLines, bytes: complete))
        case (.new(let complete, let sha), .identical?):
            let local = FileVersion(size: complete, sha256: sha)
            return .recordAgreement(local: local, pod: f.podVersion ?? local, podSeen: f.podStat, item(.inSync))
        case (.new(let complete, let sha), .rewritten?) where f.podSha == sha,
             (.new(let complete, let sha), .same?):
            // Same content both sides (`same`: this side's lines, sent as a stand-in ancestor).
            let version = FileVersion(size: complete, sha256: sha)
            return .recordAgreement(local: version, pod: version, podSeen: f.podStat, item(.inSync))

        // First contact, one copy the other's first complete lines: a fast-forward.
        case (.new(let complete, let sha), .grew?) where f.localPath.hasSuffix(".jsonl") && !f.localTail:
            // The pod's copy is this one and more lines.
            if o.receives && f.hasData { return .pullAppend }
            return .agreeOnPrefix(common: FileVersion(size: complete, sha256: sha), podSeen: nil,
                                  item(wouldPull ? .pulled : .podAhead, lines: f.podLines, bytes: max(0, (f.podStat?.size ?? 0) - complete)),
                                  countFrom: complete, to: complete)
        case (.new(let complete, let sha), .appended?):
            // The pod's copy was this one's first lines: the rest was appended there.
            return .recordExtendedOnPod(complete: complete, sha: sha, item(.pushed, lines: min(f.podLines, f.payloadLines)))
        case (.new(let complete, _), .rewritten?) where f.localStartsWithPod == true:
            // This copy is the pod's and more lines.
            guard let podStat = f.podStat, let podSha = f.podSha else { break }
            return .agreeOnPrefix(common: FileVersion(size: podStat.size, sha256: podSha), podSeen: podStat,
                                  item(wouldPush ? .pushed : .localAhead, bytes: complete - podStat.size),
                                  countFrom: podStat.size, to: complete)
        case (.new, .conflict?), (.new, .rewritten?), (.new, .grew?):
            return .conflict(item(.conflict, "both sides have this file with different contents and no common history; run `ccpod resolve`"))
        case (.new(let complete, _), .gone?), (.new(let complete, _), nil):
            return .report(item(wouldPush ? .copiedToPod : .localOnly, lines: f.payloadLines, bytes: complete))

        // Known file, pod unchanged.
        case (.unchanged, nil):
            return .report(item(.inSync))
        case (.unchanged, .same?):
            return .refreshSeen(item(.inSync))
        case (.grew(let complete, let sha), .appended?):
            return .recordPushedAppend(complete: complete, sha: sha, item(.pushed, lines: f.payloadLines, bytes: f.payloadBytes))
        case (.grew(let complete, _), nil), (.grew(let complete, _), .same?):
            let from = f.agreedLocalSize ?? 0
            return .reportCountingLines(item(wouldPush ? .pushed : .localAhead, bytes: complete - from), from: from, to: complete)
        case (.rewritten(let complete, let sha), .written?), (.grew(let complete, let sha), .written?):
            return .recordReplacedOnPod(complete: complete, sha: sha, item(.replacedOnPod, bytes: complete))
        case (.rewritten, nil), (.rewritten, .same?):
            if forks { return .forkFetchingPodVersion }
            if wouldFork { return .report(item(.forked, Self.wouldFork)) }
            return .report(item(.diverged, "changed here other than by appending; `ccpod sync` keeps both versions"))
        case (.deleted, nil), (.deleted, .same?):
            return .report(item(.deletedLocally, "kept on the pod; --delete removes it there"))
        case (.deleted, .deleted?):
            return .forget(item(.deletedFromPod))
        case (.deleted, .gone?):
            return .forget(item(.inSync, "deleted on both sides"))
        case (_, .gone?):
            if o.delete && o.receives && receivesThis {
                return .deleteHere(item(.deletedHere, "deleted on the pod; the local copy was moved to the backups folder"))
            }
            return .report(item(.deletedOnPod, "kept here; --delete removes it here too"))

        // The pod moved on.
        case (.unchanged, .grew?):
            if o.receives && f.hasData { return .pullAppend }
            return .report(item(wouldPull ? .pulled : .podAhead, lines: f.podLines,
                                bytes: (f.podStat?.size ?? 0) - (f.agreedPodSize ?? 0)))
        case (.unchanged, .rewritten?):
            if transcript {
                if forks && f.hasData { return .fork(podDeltaOnly: false) }
                if wouldFork { return .report(item(.forked, Self.wouldFork)) }
                return .report(item(.diverged, "rewritten on the pod; `ccpod sync` keeps both versions"))
            }
            if o.receives && f.hasData { return .replaceLocal }
            return .report(item(.podAhead, bytes: f.podStat?.size ?? 0))
        case (.deleted, .grew?), (.deleted, .rewritten?):
            return .report(item(.deletedLocally, "deleted here but changed on the pod; kept on the pod"))
        case (.grew(let complete, let sha), .grew?) where f.hasData && f.sameGrowth == true:
            return .recordSameGrowth(complete: complete, sha: sha)
        case (.grew, .grew?), (.grew, .rewritten?), (.rewritten, .grew?), (.rewritten, .rewritten?):
            if forks && f.hasData { return .fork(podDeltaOnly: f.podKind == .grew) }
            if wouldFork { return .report(item(.forked, Self.wouldFork)) }
            if transcript {
                return .report(item(.diverged, "both sides moved on; `ccpod sync` keeps both as sibling sessions"))
            }
            return .conflict(item(.conflict, "changed on both sides; run `ccpod resolve`"))
        case (_, .failed?):
            return .report(item(.failed, "the pod could not verify the append; the next run repairs it"))
        default:
            break
        }
        return .report(item(.failed, "unexpected answer \(f.podKind?.rawValue ?? "none") from the pod"))
    }

    /// A file only the pod has (not in this side's plan).
    struct PodOnlyFile: Sendable, Equatable {
        /// Its local path (the pod path with the project's slug swapped).
        var localPath: String
        var podKind: AgentRecord.FileState.Kind
        var podSize: Int64?
        var hasData: Bool
        /// This command may write the path (`WriteScope`).
        var writable: Bool
        /// A local file or an agreement already holds the local path.
        var taken: Bool
    }

    enum PodOnlyStep: Sendable, Equatable {
        /// Said nothing about (not new, or out of this command's reach).
        case ignore
        case report(SyncItem)
        /// The pod's file is written here, as a sibling session with a new id when its path is taken.
        case copy(asSibling: Bool)
        case conflict(SyncItem)
    }

    static func decidePodOnly(_ f: PodOnlyFile, _ c: Context) -> PodOnlyStep {
        let o = c.options
        guard f.podKind == .new, c.receivesConfig || !SyncScope.isUserConfig(f.localPath) else { return .ignore }
        if !o.receives || !f.hasData {
            return .report(SyncItem(path: f.localPath, action: o.dryRun && o.direction != .push ? .copiedFromPod : .podOnly,
                                    bytes: f.podSize ?? 0))
        }
        guard f.writable, f.podSize != nil else { return .ignore }
        guard f.taken else { return .copy(asSibling: false) }
        guard SyncScope.isTranscript(f.localPath) else {
            return .conflict(SyncItem(path: f.localPath, action: .conflict,
                                      detail: "the pod has a different file at this path; run `ccpod resolve`"))
        }
        return .copy(asSibling: true)
    }
}
