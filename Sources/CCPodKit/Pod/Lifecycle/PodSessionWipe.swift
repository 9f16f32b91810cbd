import Foundation

/// `ccpod clean`: removes from the pod's Claude dir the session-store files (and the
/// prompt log) that `PodHomeVerification` found safely home, and nothing else.
///
/// Scope, checked twice: here every path must be relative, without `..`, inside
/// `projects/`, `file-history/`, `todos/`, `tasks/` or be `history.jsonl`; on the pod
/// each file must be a regular file (not a link) whose real folder lies inside the
/// real folder of its top folder under the Claude dir (setup links `projects/` into
/// the persistent dir: that is the store), and must still have the hash that was
/// verified, else it is kept and named. Empty folders left behind go too.
public struct PodSessionWipe: Sendable {
    public struct Outcome: Sendable, Equatable {
        public var removed: [String] = []
        /// Files kept, with why (changed since they were verified, outside the store, …).
        public var kept: [(path: String, why: String)] = []

        public static func == (a: Outcome, b: Outcome) -> Bool {
            a.removed == b.removed && a.kept.map(\.path) == b.kept.map(\.path) && a.kept.map(\.why) == b.kept.map(\.why)
        }
    }

    public let connection: any PodConnection

    public init(connection: any PodConnection) {
        self.connection = connection
    }

    /// Whether ccpod may ever remove `path` (relative to the pod's Claude dir).
    public static func isInScope(_ path: String) -> Bool {
        guard PodPathCheck.isSafeRelative(path), !path.contains("\t") else { return false }
        if path == HistoryLog.path { return true }
        let parts = path.split(separator: "/")
        return parts.count >= 2 && PodInventory.sessionFolders.contains(String(parts[0]))
    }

    /// Removes `files` (each only if it still has its hash); `historySHA256`: the prompt
    /// log too, if it still has that hash.
    public func run(files: [PodInventory.File], historySHA256: String?) throws -> Outcome {
        var list = files
        if let historySHA256 { list.append(PodInventory.File(path: HistoryLog.path, sha256: historySHA256)) }
        if let outside = list.first(where: { !Self.isInScope($0.path) }) {
            throw CCPodError.failure("ccpod refuses to remove \(TerminalText.escape(outside.path)) from the pod: it is not in the Claude session store")
        }
        guard !list.isEmpty else { return Outcome() }
        let input = Data(list.map { "\($0.sha256)\t\($0.path)\n" }.joined().utf8)
        let command = InlineScript.command(Array(Self.script.utf8), name: "ccpod-clean",
                                           arguments: [connection.rootPrefix, connection.paths.claudeDir])
        let out = try connection.runCommand(command, input: input, activity: "cleaning the Claude dir")
        guard out.status == 0 else {
            let why = out.stderrText.split(whereSeparator: \.isNewline).last.map(String.init) ?? "status \(out.status)"
            throw CCPodError.unavailable("cleaning the Claude dir on \(connection.displayName) failed: \(TerminalText.escape(String(why.prefix(300))))")
        }
        let asked = Set(list.map(\.path))
        var outcome = Outcome()
        for line in out.stdoutText.split(separator: "\n") {
            let f = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 2, asked.contains(f[1]) else { continue }
            if f[0] == "D" { outcome.removed.append(f[1]) }
            if f[0] == "K" { outcome.kept.append((f[1], TerminalText.escape(f.count > 2 ? String(f[2].prefix(200)) : "kept"))) }
        }
        return outcome
    }

    static let script = #"""
    # ccpod clean: removes verified files from the Claude session store.
    # Args: ROOT CLAUDE. Stdin: <sha256> TAB <path> per file (relative to CLAUDE).
    # Output: D TAB path (removed) or K TAB path TAB why (kept) per file.
    export LC_ALL=C
    root=$1 claude=$2
    cd "$root$claude" || { echo "no Claude dir at $claude" >&2; exit 3; }
    base=$(pwd -P)
    tab=$(printf '\t')
    while IFS="$tab" read -r sum rel; do
        case $rel in
            ''|/*|*/../*|../*|*/..|..|*//*|-*) printf 'K\t%s\tnot a path in the store\n' "$rel"; continue ;;
            history.jsonl) top=. ;;
            projects/*|file-history/*|todos/*|tasks/*) top=${rel%%/*} ;;
            *) printf 'K\t%s\toutside the session store\n' "$rel"; continue ;;
        esac
        if [ -L "$rel" ] || [ ! -f "$rel" ]; then printf 'K\t%s\tnot a regular file\n' "$rel"; continue; fi
        allowed=$(cd "$top/" 2>/dev/null && pwd -P) || { printf 'K\t%s\tno store folder\n' "$rel"; continue; }
        dir=$(cd "$(dirname -- "$rel")" 2>/dev/null && pwd -P) || { printf 'K\t%s\tno folder\n' "$rel"; continue; }
        [ "$top" = . ] && allowed=$base
        case $dir/ in
            "$allowed"/*) ;;
            *) printf 'K\t%s\toutside the store (a link leads elsewhere)\n' "$rel"; continue ;;
        esac
        now=$(sha256sum < "$rel") || { printf 'K\t%s\tunreadable\n' "$rel"; continue; }
        if [ "${now%% *}" != "$sum" ]; then printf 'K\t%s\tchanged since it was verified\n' "$rel"; continue; fi
        rm -f -- "$rel" && printf 'D\t%s\n' "$rel"
    done
    for top in projects file-history todos tasks; do
        [ -d "$top/" ] && find "$top/" -mindepth 1 -depth -type d -empty -exec rmdir -- {} + 2>/dev/null
    done
    exit 0
    """#
}
