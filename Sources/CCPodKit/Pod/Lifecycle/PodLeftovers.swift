import Foundation

/// Something that would stay only on a pod if it stopped now: a session the pull
/// could not bring home, a Claude Code still running there, a run's outputs newer
/// than its last pull. `ccpod pod stop` lists them and stops only with `--force`.
public struct PodLeftover: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case session, claude, artifacts
    }

    public var kind: Kind
    /// The file, tmux session or run.
    public var what: String
    public var why: String

    public init(kind: Kind, what: String, why: String) {
        self.kind = kind
        self.what = what
        self.why = why
    }
}

/// Turns what the pull, the pod's status and the artifact dry runs said into
/// leftovers. Pure.
public enum PodLeftovers {
    /// Files the pull did not bring home, and why.
    public static func sessions(_ report: SyncReport) -> [PodLeftover] {
        report.items.compactMap { item in
            let why: String
            switch item.action {
            case .busy: why = "busy: a Claude Code on the pod has it open, or it changed just now"
            case .diverged: why = "changed on both sides; `ccpod sync` keeps both versions"
            case .conflict: why = "in conflict; `ccpod resolve`"
            case .failed: why = item.detail.map { "failed: \($0)" } ?? "failed to come home"
            case .podAhead, .podOnly: why = "only on the pod"
            default: return nil
            }
            return PodLeftover(kind: .session, what: item.path, why: why)
        }
    }

    /// ccpod's tmux sessions on the pod (`ccpod launch` runs Claude Code in them).
    public static func claudes(_ tmuxSessions: [TmuxSession]) -> [PodLeftover] {
        tmuxSessions.map {
            PodLeftover(kind: .claude, what: $0.name,
                        why: "Claude Code runs in this tmux session on the pod\($0.attached > 0 ? " (someone is attached)" : "")")
        }
    }

    /// A run whose outputs a pull would still bring (a dry run's report).
    public static func artifacts(run: String, _ report: ArtifactReport) -> [PodLeftover] {
        let pending = report.actions.filter { [.new, .grown, .replaced, .resumed, .pending, .conflict].contains($0.kind) }
        guard !pending.isEmpty else { return [] }
        let bytes = pending.reduce(Int64(0)) { $0 &+ max(0, $1.bytes) }
        let names = pending.prefix(3).map { TerminalText.escape($0.path) }.joined(separator: ", ") + (pending.count > 3 ? ", …" : "")
        return [PodLeftover(kind: .artifacts, what: run,
                            why: "\(pending.count) output file(s) (\(bytes) bytes) newer than its last pull: \(names); `ccpod artifacts pull --run \(run)`")]
    }
}
