@testable import CCPodKit
import Foundation
import Testing

/// The README's semantics table ("What happens to each file") and its edge cases,
/// row by row, against the pure decision: no disk, no process.
@Suite("The sync decision, as a table")
struct SyncDecisionTests {
    typealias Kind = AgentRecord.FileState.Kind
    typealias Step = SyncDecision.Step

    static let transcript = "projects/-p/11111111-2222-4333-8444-555555555555.jsonl"
    static let toolResult = "projects/-p/11111111-2222-4333-8444-555555555555/tool-results/x.txt"
    static let sha = String(repeating: "a", count: 64)
    static let podSha = String(repeating: "b", count: 64)
    static let stat = PodStat(size: 150, mtime: "1764000000.5")

    static func file(_ change: LocalChange, _ kind: Kind?, path: String = transcript, busy: Bool = false, data: Bool = false,
                     podSha: String? = nil, podStat: PodStat? = nil, localTail: Bool = false, localStartsWithPod: Bool? = nil,
                     sameGrowth: Bool? = nil) -> SyncDecision.File {
        SyncDecision.File(localPath: path, change: change, busy: busy, agreedLocalSize: 100, agreedPodSize: 100,
                          podVersion: nil, payloadLines: 2, payloadBytes: 20, podKind: kind, podStat: kind == nil ? nil : podStat ?? stat,
                          podSha: podSha, podLines: 3, hasData: data, localTail: localTail, localStartsWithPod: localStartsWithPod,
                          sameGrowth: sameGrowth)
    }

    /// First contact: the pod's copy shorter than this side's 120 bytes.
    static let shorterStat = PodStat(size: 100, mtime: "1764000000.5")
    /// First contact with no history: new files have no agreed sizes.
    static func firstContact(_ kind: Kind?, path: String = transcript, data: Bool = false, podSha: String? = nil, podStat: PodStat? = nil,
                             localTail: Bool = false, localStartsWithPod: Bool? = nil) -> SyncDecision.File {
        var f = file(new, kind, path: path, data: data, podSha: podSha, podStat: podStat, localTail: localTail,
                     localStartsWithPod: localStartsWithPod)
        f.agreedLocalSize = nil
        f.agreedPodSize = nil
        return f
    }

    static func ctx(_ direction: SyncOptions.Direction, dryRun: Bool = false, delete: Bool = false, configBoth: Bool = false) -> SyncDecision.Context {
        SyncDecision.Context(options: SyncOptions(direction: direction, dryRun: dryRun, delete: delete), receivesConfig: configBoth)
    }

    static func item(_ action: SyncItem.Action, path: String = transcript, lines: Int = 0, bytes: Int64 = 0) -> SyncItem {
        SyncItem(path: path, action: action, lines: lines, bytes: bytes)
    }

    static let v120 = FileVersion(size: 120, sha256: sha)

    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var file: SyncDecision.File
        var context: SyncDecision.Context
        var expected: Step
        /// A word the item's sentence must hold (the sentences are for people; the table checks their gist).
        var detail: String?
        var testDescription: String { name }
    }

    static let grew = LocalChange.grew(complete: 120, sha: sha)
    static let rewritten = LocalChange.rewritten(complete: 120, sha: sha)
    static let new = LocalChange.new(complete: 120, sha: sha)

    static let rows: [Row] = [
        // here unchanged × pod unchanged: nothing is read.
        Row(name: "unchanged, pod silent", file: file(.unchanged, nil), context: ctx(.sync), expected: .report(item(.inSync))),
        Row(name: "unchanged, pod same", file: file(.unchanged, .same), context: ctx(.push), expected: .refreshSeen(item(.inSync))),
        // grew × unchanged: appended on the pod.
        Row(name: "grew, pod appended (push)", file: file(grew, .appended), context: ctx(.push),
            expected: .recordPushedAppend(complete: 120, sha: sha, item(.pushed, lines: 2, bytes: 20))),
        Row(name: "grew, pod same (pull): local ahead", file: file(grew, .same), context: ctx(.pull),
            expected: .reportCountingLines(item(.localAhead, bytes: 20), from: 100, to: 120)),
        Row(name: "grew, pod silent (status): local ahead", file: file(grew, nil), context: ctx(.status),
            expected: .reportCountingLines(item(.localAhead, bytes: 20), from: 100, to: 120)),
        Row(name: "grew, push --dry-run: would push", file: file(grew, .same), context: ctx(.push, dryRun: true),
            expected: .reportCountingLines(item(.pushed, bytes: 20), from: 100, to: 120)),
        Row(name: "grew, pull --dry-run: local ahead", file: file(grew, .same), context: ctx(.pull, dryRun: true),
            expected: .reportCountingLines(item(.localAhead, bytes: 20), from: 100, to: 120)),
        // unchanged × grew: appended here.
        Row(name: "pod grew (pull)", file: file(.unchanged, .grew, data: true), context: ctx(.pull), expected: .pullAppend),
        Row(name: "pod grew (sync)", file: file(.unchanged, .grew, data: true), context: ctx(.sync), expected: .pullAppend),
        Row(name: "pod grew (push): pod ahead", file: file(.unchanged, .grew), context: ctx(.push),
            expected: .report(item(.podAhead, lines: 3, bytes: 50))),
        Row(name: "pod grew (status): pod ahead", file: file(.unchanged, .grew), context: ctx(.status),
            expected: .report(item(.podAhead, lines: 3, bytes: 50))),
        Row(name: "pod grew (pull --dry-run): would pull", file: file(.unchanged, .grew), context: ctx(.pull, dryRun: true),
            expected: .report(item(.pulled, lines: 3, bytes: 50))),
        Row(name: "pod grew (pull) without data: pod ahead", file: file(.unchanged, .grew), context: ctx(.pull),
            expected: .report(item(.podAhead, lines: 3, bytes: 50))),
        // grew × grew: fork with sync; diverged otherwise.
        Row(name: "both grew (sync): fork", file: file(grew, .grew, data: true, sameGrowth: false), context: ctx(.sync),
            expected: .fork(podDeltaOnly: true)),
        Row(name: "both grew (push): diverged", file: file(grew, .grew), context: ctx(.push), expected: .report(item(.diverged)),
            detail: "ccpod sync"),
        Row(name: "both grew (pull): diverged", file: file(grew, .grew, data: true, sameGrowth: false), context: ctx(.pull),
            expected: .report(item(.diverged))),
        Row(name: "both grew (status): diverged", file: file(grew, .grew), context: ctx(.status), expected: .report(item(.diverged))),
        Row(name: "both grew (sync --dry-run): would fork", file: file(grew, .grew), context: ctx(.sync, dryRun: true),
            expected: .report(item(.forked)), detail: "sibling"),
        Row(name: "both grew (push --dry-run): diverged", file: file(grew, .grew), context: ctx(.push, dryRun: true),
            expected: .report(item(.diverged)), detail: "ccpod sync"),
        Row(name: "both grew by the same lines: agreed", file: file(grew, .grew, data: true, sameGrowth: true), context: ctx(.pull),
            expected: .recordSameGrowth(complete: 120, sha: sha)),
        Row(name: "both grew, not a transcript: conflict", file: file(grew, .grew, path: toolResult, data: true, sameGrowth: false),
            context: ctx(.sync), expected: .conflict(item(.conflict, path: toolResult)), detail: "resolve"),
        // rewritten or shrunk × any: both versions kept (sync).
        Row(name: "rewritten, pod silent (sync): fork fetching the pod's version", file: file(rewritten, nil), context: ctx(.sync),
            expected: .forkFetchingPodVersion),
        Row(name: "rewritten, pod same (push): diverged", file: file(rewritten, .same), context: ctx(.push),
            expected: .report(item(.diverged))),
        Row(name: "rewritten, pod silent (sync --dry-run): would fork", file: file(rewritten, nil), context: ctx(.sync, dryRun: true),
            expected: .report(item(.forked)), detail: "would keep"),
        Row(name: "pod rewritten (sync --dry-run): would fork", file: file(.unchanged, .rewritten), context: ctx(.sync, dryRun: true),
            expected: .report(item(.forked)), detail: "would keep"),
        Row(name: "tool result rewritten on both (sync --dry-run): conflict, not a fork",
            file: file(rewritten, .rewritten, path: toolResult), context: ctx(.sync, dryRun: true),
            expected: .conflict(item(.conflict, path: toolResult))),
        Row(name: "rewritten both (sync): fork", file: file(rewritten, .rewritten, data: true), context: ctx(.sync),
            expected: .fork(podDeltaOnly: false)),
        Row(name: "rewritten here, pod grew (sync): fork", file: file(rewritten, .grew, data: true), context: ctx(.sync),
            expected: .fork(podDeltaOnly: true)),
        Row(name: "pod rewritten (sync): fork", file: file(.unchanged, .rewritten, data: true), context: ctx(.sync),
            expected: .fork(podDeltaOnly: false)),
        Row(name: "pod rewritten (pull): diverged", file: file(.unchanged, .rewritten, data: true), context: ctx(.pull),
            expected: .report(item(.diverged))),
        Row(name: "pod rewrote a tool result (pull): replaced here", file: file(.unchanged, .rewritten, path: toolResult, data: true),
            context: ctx(.pull), expected: .replaceLocal),
        Row(name: "pod rewrote a tool result (push): pod ahead", file: file(.unchanged, .rewritten, path: toolResult), context: ctx(.push),
            expected: .report(item(.podAhead, path: toolResult, bytes: 150))),
        Row(name: "tool result rewritten here (push): replaced on the pod", file: file(rewritten, .written, path: toolResult),
            context: ctx(.push), expected: .recordReplacedOnPod(complete: 120, sha: sha, item(.replacedOnPod, path: toolResult, bytes: 120))),
        // new × absent: copied.
        Row(name: "new, written on the pod (push)", file: file(new, .written), context: ctx(.push),
            expected: .recordAgreement(local: v120, pod: v120, podSeen: stat, item(.copiedToPod, lines: 2, bytes: 120))),
        Row(name: "new, identical on the pod", file: file(new, .identical), context: ctx(.sync),
            expected: .recordAgreement(local: v120, pod: v120, podSeen: stat, item(.inSync))),
        Row(name: "new, absent (pull): local only", file: file(new, .gone), context: ctx(.pull), expected: .report(item(.localOnly, lines: 2, bytes: 120))),
        Row(name: "new, absent (status): local only", file: file(new, nil), context: ctx(.status), expected: .report(item(.localOnly, lines: 2, bytes: 120))),
        Row(name: "new, absent (push --dry-run): would copy", file: file(new, .gone), context: ctx(.push, dryRun: true),
            expected: .report(item(.copiedToPod, lines: 2, bytes: 120))),
        // no history, different: a conflict.
        Row(name: "new on both, same bytes", file: file(new, .rewritten, podSha: sha), context: ctx(.sync),
            expected: .recordAgreement(local: v120, pod: v120, podSeen: stat, item(.inSync))),
        Row(name: "new on both, different: conflict", file: firstContact(.rewritten, data: true, podSha: podSha, localStartsWithPod: false),
            context: ctx(.sync), expected: .conflict(item(.conflict)), detail: "no common history"),
        // No history, one copy the other's first complete lines: a fast-forward, in every command.
        Row(name: "first contact, same lines (pull: the stand-in ancestor is the pod's)", file: firstContact(.same), context: ctx(.pull),
            expected: .recordAgreement(local: v120, pod: v120, podSeen: stat, item(.inSync))),
        Row(name: "first contact, same lines (status)", file: firstContact(.same), context: ctx(.status),
            expected: .recordAgreement(local: v120, pod: v120, podSeen: stat, item(.inSync))),
        Row(name: "first contact, the pod's is this one and more (pull): appended here", file: firstContact(.grew, data: true),
            context: ctx(.pull), expected: .pullAppend),
        Row(name: "first contact, the pod's is this one and more (sync): appended here", file: firstContact(.grew, data: true),
            context: ctx(.sync), expected: .pullAppend),
        Row(name: "first contact, the pod's is this one and more (push): pod ahead, prefix agreed", file: firstContact(.grew),
            context: ctx(.push), expected: .agreeOnPrefix(common: v120, podSeen: nil, item(.podAhead, lines: 3, bytes: 30), countFrom: 120, to: 120)),
        Row(name: "first contact, the pod's is this one and more (status): pod ahead", file: firstContact(.grew),
            context: ctx(.status), expected: .agreeOnPrefix(common: v120, podSeen: nil, item(.podAhead, lines: 3, bytes: 30), countFrom: 120, to: 120)),
        Row(name: "first contact, the pod's is this one and more (pull --dry-run): would pull", file: firstContact(.grew),
            context: ctx(.pull, dryRun: true), expected: .agreeOnPrefix(common: v120, podSeen: nil, item(.pulled, lines: 3, bytes: 30), countFrom: 120, to: 120)),
        Row(name: "first contact, the pod's starts with this one's complete lines, this one ends mid-line: conflict",
            file: firstContact(.grew, data: true, localTail: true), context: ctx(.sync), expected: .conflict(item(.conflict))),
        Row(name: "first contact, a tool result the pod's starts with: conflict (only logs fast-forward)",
            file: firstContact(.grew, path: toolResult, data: true), context: ctx(.pull), expected: .conflict(item(.conflict, path: toolResult))),
        Row(name: "first contact, the pod's was this one's first lines (push): the rest appended there", file: firstContact(.appended),
            context: ctx(.push), expected: .recordExtendedOnPod(complete: 120, sha: sha, item(.pushed, lines: 2))),
        Row(name: "first contact, the pod's was this one's first lines (sync): the rest appended there", file: firstContact(.appended),
            context: ctx(.sync), expected: .recordExtendedOnPod(complete: 120, sha: sha, item(.pushed, lines: 2))),
        Row(name: "first contact, this one is the pod's and more (pull): local ahead, prefix agreed",
            file: firstContact(.rewritten, data: true, podSha: podSha, podStat: shorterStat, localStartsWithPod: true), context: ctx(.pull),
            expected: .agreeOnPrefix(common: FileVersion(size: 100, sha256: podSha), podSeen: shorterStat, item(.localAhead, bytes: 20),
                                     countFrom: 100, to: 120)),
        Row(name: "first contact, this one is the pod's and more (status): local ahead",
            file: firstContact(.rewritten, podSha: podSha, podStat: shorterStat, localStartsWithPod: true), context: ctx(.status),
            expected: .agreeOnPrefix(common: FileVersion(size: 100, sha256: podSha), podSeen: shorterStat, item(.localAhead, bytes: 20),
                                     countFrom: 100, to: 120)),
        Row(name: "first contact, this one is the pod's and more (push --dry-run): would push",
            file: firstContact(.rewritten, podSha: podSha, podStat: shorterStat, localStartsWithPod: true), context: ctx(.push, dryRun: true),
            expected: .agreeOnPrefix(common: FileVersion(size: 100, sha256: podSha), podSeen: shorterStat, item(.pushed, bytes: 20),
                                     countFrom: 100, to: 120)),
        Row(name: "first contact, the pod's shorter but not this one's first lines (status): conflict",
            file: firstContact(.rewritten, podSha: podSha, podStat: shorterStat, localStartsWithPod: false), context: ctx(.status),
            expected: .conflict(item(.conflict)), detail: "no common history"),
        Row(name: "new on both, the pod says conflict", file: file(new, .conflict), context: ctx(.push), expected: .conflict(item(.conflict))),
        // deleted × any: kept on the other side unless --delete.
        Row(name: "deleted here, pod silent", file: file(.deleted, nil), context: ctx(.sync), expected: .report(item(.deletedLocally)),
            detail: "--delete"),
        Row(name: "deleted here, --delete: deleted on the pod", file: file(.deleted, .deleted), context: ctx(.push, delete: true),
            expected: .forget(item(.deletedFromPod))),
        Row(name: "deleted on both sides", file: file(.deleted, .gone), context: ctx(.sync), expected: .forget(item(.inSync))),
        Row(name: "deleted here, grew on the pod: kept there", file: file(.deleted, .grew), context: ctx(.sync, delete: true),
            expected: .report(item(.deletedLocally)), detail: "changed on the pod"),
        Row(name: "deleted on the pod (pull --delete): backed up here", file: file(.unchanged, .gone), context: ctx(.pull, delete: true),
            expected: .deleteHere(item(.deletedHere)), detail: "backups"),
        Row(name: "deleted on the pod (pull): kept here", file: file(.unchanged, .gone), context: ctx(.pull),
            expected: .report(item(.deletedOnPod))),
        Row(name: "deleted on the pod (push --delete): kept here", file: file(grew, .gone), context: ctx(.push, delete: true),
            expected: .report(item(.deletedOnPod))),
        Row(name: "deleted on the pod (sync --delete --dry-run): kept here", file: file(.unchanged, .gone),
            context: ctx(.sync, dryRun: true, delete: true), expected: .report(item(.deletedOnPod))),
        // busy.
        Row(name: "busy here", file: file(grew, .grew, busy: true, data: true), context: ctx(.sync), expected: .report(item(.busy)),
            detail: "running claude"),
        Row(name: "busy on the pod", file: file(grew, .busy), context: ctx(.sync), expected: .report(item(.busy)), detail: "on the pod"),
        // config: pushed only unless --config both.
        Row(name: "config changed on the pod, pushed only", file: file(.unchanged, .rewritten, path: "settings.json", data: true),
            context: ctx(.sync), expected: .report(item(.podAhead, path: "settings.json")), detail: "--config both"),
        Row(name: "config grew on the pod, pushed only", file: file(.unchanged, .grew, path: "CLAUDE.md", data: true),
            context: ctx(.pull), expected: .report(item(.podAhead, path: "CLAUDE.md"))),
        Row(name: "config changed on the pod, --config both", file: file(.unchanged, .rewritten, path: "settings.json", data: true),
            context: ctx(.pull, configBoth: true), expected: .replaceLocal),
        Row(name: "config deleted on the pod, pushed only: never deleted here",
            file: file(.unchanged, .gone, path: "commands/x.md"), context: ctx(.sync, delete: true), expected: .report(item(.deletedOnPod, path: "commands/x.md"))),
        Row(name: "config deleted on the pod, --config both --delete", file: file(.unchanged, .gone, path: "commands/x.md"),
            context: ctx(.sync, delete: true, configBoth: true), expected: .deleteHere(item(.deletedHere, path: "commands/x.md"))),
        // The pod's failures and nonsense.
        Row(name: "the pod failed", file: file(grew, .failed), context: ctx(.push), expected: .report(item(.failed)), detail: "repairs"),
        Row(name: "an answer that makes no sense", file: file(.unchanged, .written), context: ctx(.push), expected: .report(item(.failed)),
            detail: "unexpected answer written"),
        Row(name: "a new file the pod calls deleted", file: file(new, .deleted), context: ctx(.push), expected: .report(item(.failed))),
    ]

    /// The step with its item's sentence left out (checked apart, by `detail`).
    static func withoutDetail(_ step: Step) -> (Step, String?) {
        func strip(_ item: SyncItem) -> SyncItem { var i = item; i.detail = nil; return i }
        switch step {
        case .report(let i): return (.report(strip(i)), i.detail)
        case .reportCountingLines(let i, let from, let to): return (.reportCountingLines(strip(i), from: from, to: to), i.detail)
        case .recordAgreement(let l, let p, let s, let i): return (.recordAgreement(local: l, pod: p, podSeen: s, strip(i)), i.detail)
        case .refreshSeen(let i): return (.refreshSeen(strip(i)), i.detail)
        case .recordPushedAppend(let c, let s, let i): return (.recordPushedAppend(complete: c, sha: s, strip(i)), i.detail)
        case .recordReplacedOnPod(let c, let s, let i): return (.recordReplacedOnPod(complete: c, sha: s, strip(i)), i.detail)
        case .forget(let i): return (.forget(strip(i)), i.detail)
        case .deleteHere(let i): return (.deleteHere(strip(i)), i.detail)
        case .conflict(let i): return (.conflict(strip(i)), i.detail)
        case .agreeOnPrefix(let v, let s, let i, let from, let to):
            return (.agreeOnPrefix(common: v, podSeen: s, strip(i), countFrom: from, to: to), i.detail)
        case .recordExtendedOnPod(let c, let s, let i): return (.recordExtendedOnPod(complete: c, sha: s, strip(i)), i.detail)
        case .recordSameGrowth, .pullAppend, .replaceLocal, .fork, .forkFetchingPodVersion: return (step, nil)
        }
    }

    @Test(arguments: rows)
    func row(_ row: Row) {
        let (step, detail) = Self.withoutDetail(SyncDecision.decide(row.file, row.context))
        #expect(step == row.expected)
        if let word = row.detail { #expect(detail?.contains(word) == true, "\(detail ?? "no sentence")") }
    }

    @Test func theTableCoversEveryPodStateAndDirection() {
        let kinds = Set(Self.rows.compactMap(\.file.podKind))
        for kind in [Kind.same, .grew, .rewritten, .gone, .busy, .failed, .appended, .written, .identical, .conflict, .deleted] {
            #expect(kinds.contains(kind), "\(kind)")
        }
        let directions = Set(Self.rows.map(\.context.options.direction.rawValue))
        #expect(directions == ["push", "pull", "sync", "status"])
        #expect(Self.rows.count >= 40)
    }

    @Test func probesAskOnlyWhatTheDecisionNeeds() {
        // The pod's copy shorter and different: is it this side's first lines? (No data needed: status asks too.)
        #expect(SyncDecision.probe(Self.firstContact(.rewritten, podSha: Self.podSha, podStat: Self.shorterStat)) == .localStartsWithPod(length: 100))
        #expect(SyncDecision.probe(Self.firstContact(.rewritten, data: true, podSha: Self.podSha, podStat: Self.shorterStat))
                == .localStartsWithPod(length: 100))
        #expect(SyncDecision.probe(Self.firstContact(.rewritten, podSha: Self.sha, podStat: Self.shorterStat)) == .none)
        // Longer or as long: it would have said grew or same had it started with this side's lines.
        #expect(SyncDecision.probe(Self.firstContact(.rewritten, data: true, podSha: Self.podSha)) == .none)
        #expect(SyncDecision.probe(Self.firstContact(.rewritten, path: Self.toolResult, podSha: Self.podSha, podStat: Self.shorterStat)) == .none)
        #expect(SyncDecision.probe(Self.file(Self.grew, .grew, data: true)) == .sameGrowth)
        #expect(SyncDecision.probe(Self.file(Self.grew, .grew, data: false)) == .none)
        #expect(SyncDecision.probe(Self.file(.unchanged, .grew, data: true)) == .none)
    }

    // MARK: - Files only the pod has

    static func podOnly(_ path: String = transcript, kind: Kind = .new, data: Bool = true, writable: Bool = true, taken: Bool = false,
                        size: Int64? = 150) -> SyncDecision.PodOnlyFile {
        SyncDecision.PodOnlyFile(localPath: path, podKind: kind, podSize: size, hasData: data, writable: writable, taken: taken)
    }

    @Test func podOnlyFiles() {
        typealias P = SyncDecision.PodOnlyStep
        let rows: [(String, SyncDecision.PodOnlyFile, SyncDecision.Context, P)] = [
            ("new (pull): copied", Self.podOnly(), Self.ctx(.pull), .copy(asSibling: false)),
            ("new (sync): copied", Self.podOnly(), Self.ctx(.sync), .copy(asSibling: false)),
            ("new, path taken: a sibling", Self.podOnly(taken: true), Self.ctx(.pull), .copy(asSibling: true)),
            ("new, path taken, not a transcript: conflict", Self.podOnly(Self.toolResult, taken: true), Self.ctx(.pull),
             .conflict(SyncItem(path: Self.toolResult, action: .conflict, detail: "the pod has a different file at this path; run `ccpod resolve`"))),
            ("new (push): pod only", Self.podOnly(data: false), Self.ctx(.push), .report(Self.item(.podOnly, bytes: 150))),
            ("new (status): pod only", Self.podOnly(data: false), Self.ctx(.status), .report(Self.item(.podOnly, bytes: 150))),
            ("new (pull --dry-run): would copy", Self.podOnly(data: false), Self.ctx(.pull, dryRun: true),
             .report(Self.item(.copiedFromPod, bytes: 150))),
            ("new (push --dry-run): pod only", Self.podOnly(data: false), Self.ctx(.push, dryRun: true), .report(Self.item(.podOnly, bytes: 150))),
            ("new, outside what this command writes", Self.podOnly(writable: false), Self.ctx(.pull), .ignore),
            ("new without a stat", Self.podOnly(size: nil), Self.ctx(.pull), .ignore),
            ("config, pushed only", Self.podOnly("settings.json"), Self.ctx(.sync), .ignore),
            ("config, --config both", Self.podOnly("settings.json"), Self.ctx(.pull, configBoth: true), .copy(asSibling: false)),
            ("not new", Self.podOnly(kind: .grew), Self.ctx(.pull), .ignore),
        ]
        for (name, file, context, expected) in rows {
            #expect(SyncDecision.decidePodOnly(file, context) == expected, "\(name)")
        }
    }

    @Test func theAgentModeIsTotal() {
        for direction in [SyncOptions.Direction.push, .pull, .sync, .status] {
            #expect(SyncOptions(direction: direction).agentMode.rawValue == direction.rawValue)
            #expect(SyncOptions(direction: direction, dryRun: true).agentMode == .status)
        }
    }
}
