import Foundation

/// What a pod keeps that ccpod brings home, with the pod's own SHA-256 of every file:
/// its Claude session store (`projects/`, `file-history/`, `todos/`, `tasks/`), its
/// prompt log, and the outputs of runs (`artifacts/ logs/ checkpoints/ results/`).
/// One exec; the answer is the pod's, so it is checked like any other.
public struct PodInventory: Sendable, Equatable {
    /// Folders of the Claude dir that hold the session store.
    public static let sessionFolders = ["projects", "file-history", "todos", "tasks"]

    public struct File: Sendable, Equatable {
        public var path: String
        public var sha256: String
    }

    /// Whether the pod has its Claude dir at all.
    public var claudeDirExists = false
    /// Session-store files, relative to the pod's Claude dir.
    public var sessionFiles: [File] = []
    /// `history.jsonl` as it was hashed (nil when absent or not asked for).
    public var history: Data?
    public var historySHA256: String?
    /// Per run directory (pod path): its output files, relative to it; absent when the
    /// folder does not exist.
    public var runs: [String: [File]] = [:]
    /// Lines the pod sent that name no file ccpod can check (an unusual name, an
    /// unreadable file), escaped for people.
    public var unreadable: [String] = []

    public init() {}

    /// The most files an answer may list, and the largest prompt log it may carry.
    static let maxFiles = 2_000_000
    static let maxHistory = 64 << 20

    /// The command: `sh -c SCRIPT ccpod-inventory ROOT CLAUDE HISTORY RUN…`.
    public static func command(rootPrefix: String, claudeDir: String, history: Bool, runDirectories: [String]) -> String {
        InlineScript.command(Array(script.utf8), name: "ccpod-inventory",
                             arguments: [rootPrefix, claudeDir, history ? "1" : "0"] + runDirectories)
    }

    /// Reads the pod's inventory (bounded: 8 MiB of listing plus the prompt log).
    public static func read(connection: any PodConnection, history: Bool, runDirectories: [String]) throws -> PodInventory {
        let command = command(rootPrefix: connection.rootPrefix, claudeDir: connection.paths.claudeDir, history: history,
                              runDirectories: runDirectories)
        let out = try connection.runCommand(command, activity: "hashing what is on the pod", outputLimit: maxHistory + (8 << 20))
        guard out.status == 0 else {
            let why = out.stderrText.split(whereSeparator: \.isNewline).last.map(String.init) ?? "status \(out.status)"
            throw CCPodError.unavailable("cannot hash the files on \(connection.displayName): \(why.prefix(300))")
        }
        return try parse(out.stdout, runDirectories: runDirectories)
    }

    /// Parses the answer: `C`, `F <sha256>  <path>` (sha256sum's line), `R <dir>`,
    /// `M <dir>`, and last `Z <size> <sha256>` followed by exactly size bytes.
    public static func parse(_ answer: Data, runDirectories: [String]) throws -> PodInventory {
        var inventory = PodInventory()
        var run: String?
        var offset = answer.startIndex
        var count = 0
        func bad(_ why: String) -> CCPodError { .badData("the pod sent an invalid inventory (\(why)); nothing was changed") }
        while offset < answer.endIndex {
            guard let newline = answer[offset...].firstIndex(of: 0x0A) else { throw bad("an unfinished line") }
            let line = String(decoding: answer[offset..<newline], as: UTF8.self)
            offset = answer.index(after: newline)
            count += 1
            guard count <= maxFiles else { throw bad("more than \(maxFiles) lines") }
            if line == "C" {
                // The session store follows the runs.
                inventory.claudeDirExists = true
                run = nil
            } else if line.hasPrefix("R ") || line.hasPrefix("M ") {
                let dir = String(line.dropFirst(2))
                guard runDirectories.contains(dir) else { throw bad("a run folder that was not asked for") }
                run = line.hasPrefix("R ") ? dir : nil
                if line.hasPrefix("R ") { inventory.runs[dir] = [] }
            } else if line.hasPrefix("F ") {
                let body = line.dropFirst(2)
                let sha = String(body.prefix(64))
                let path = String(body.dropFirst(66))
                guard sha.count == 64, sha.allSatisfy(\.isHexDigit), body.dropFirst(64).hasPrefix("  "),
                      PodPathCheck.isSafeRelative(path) else {
                    inventory.unreadable.append(TerminalText.escape(String(body.prefix(300))))
                    continue
                }
                let file = File(path: path, sha256: sha.lowercased())
                if let run {
                    inventory.runs[run, default: []].append(file)
                } else {
                    guard let top = path.split(separator: "/").first, sessionFolders.contains(String(top)) else {
                        throw bad("a file outside the session store")
                    }
                    inventory.sessionFiles.append(file)
                }
            } else if line.hasPrefix("Z ") {
                let f = line.split(separator: " ")
                guard f.count == 3, let size = Int(f[1]), size >= 0, size <= maxHistory, f[2].count == 64, f[2].allSatisfy(\.isHexDigit),
                      answer.distance(from: offset, to: answer.endIndex) == size else {
                    throw bad("a prompt log whose size is not what was sent")
                }
                let history = Data(answer[offset...])
                guard SHA256Hex.of(history) == f[2].lowercased() else { throw bad("a prompt log that does not match its hash") }
                inventory.history = history
                inventory.historySHA256 = f[2].lowercased()
                return inventory
            } else if line.hasPrefix("W ") {
                inventory.unreadable.append(TerminalText.escape(String(line.dropFirst(2).prefix(300))))
            } else {
                throw bad("an unknown line")
            }
        }
        return inventory
    }

    /// Hashes on the pod with `sha256sum`, relative paths, links never followed below
    /// the folder itself; ccpod's own part files and a killed sync's stage folders
    /// (copies of what came from here) left out; `ccpod-alive` on stderr every 5 s, as
    /// the other pod scripts.
    static let script = #"""
    # ccpod inventory: the pod's SHA-256 of its Claude session store, its prompt log
    # and the outputs of the named runs. Args: ROOT CLAUDE HISTORY(0|1) RUNDIR...
    # Output: C when the Claude dir exists; F <sha256>  <path> (sha256sum's line) per
    # file; R <dir> (then its files, relative to it) or M <dir> per run; W <message>;
    # last, when asked, Z <size> <sha256> and exactly size bytes of history.jsonl.
    export LC_ALL=C
    umask 077
    root=$1 claude=$2 history=$3
    shift 3
    ( while sleep 5; do printf 'ccpod-alive\n' >&2 || exit 0; done ) </dev/null >/dev/null &
    ticker=$!
    trap 'kill "$ticker" 2>/dev/null' EXIT
    hash_tops() { # folder...
        for top in "$@"; do
            [ -d "$top/" ] || continue
            find "$top/" -type f ! -name '.*.ccpod-part' ! -path '*/.ccpod-*.ccpod-stage/*' -exec sha256sum -- {} + 2>/dev/null \
                | sed -e 's|^\([0-9a-f]*  \)\([^/]*\)//*|F \1\2/|' -e t -e 's/^/F /'
        done
    }
    for dir in "$@"; do
        if [ -d "$root$dir" ]; then
            printf 'R %s\n' "$dir"
            (cd "$root$dir" && hash_tops artifacts logs checkpoints results)
        else
            printf 'M %s\n' "$dir"
        fi
    done
    cd "$root$claude" 2>/dev/null || exit 0
    printf 'C\n'
    hash_tops projects file-history todos tasks
    if [ "$history" = 1 ] && [ -f history.jsonl ]; then
        tmp=$(mktemp) || exit 4
        if cp history.jsonl "$tmp"; then
            size=$(wc -c < "$tmp" | tr -d ' ')
            sum=$(sha256sum < "$tmp")
            printf 'Z %s %s\n' "$size" "${sum%% *}"
            cat "$tmp"
        else
            printf 'W cannot read history.jsonl\n'
        fi
        rm -f "$tmp"
    fi
    """#
}
