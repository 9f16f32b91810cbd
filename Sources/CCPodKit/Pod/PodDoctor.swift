import Foundation

/// `ccpod doctor --pod`: a bounded check of the pod's Claude dir in one exec. The script
/// reads every session transcript there once (one awk for all) and reports lines that are
/// not a JSON object's shape, torn last lines, and whether the Claude dir is writable;
/// at most 1,000 findings. Everything it says is checked here and escaped when printed.
public enum PodDoctor {
    public struct Report: Sendable, Codable, Equatable {
        public var pod: String
        public var claudeDir: String
        public var exists: Bool
        public var writable: Bool
        public var filesChecked: Int
        public var findings: [Finding]
        /// Findings past the first 1,000, counted.
        public var findingsLeftOut: Int

        public var isClean: Bool { exists && writable && findings.isEmpty }
    }

    public struct Finding: Sendable, Codable, Equatable {
        /// Relative to the pod's Claude dir.
        public var file: String
        /// 1-based; nil for a torn last line.
        public var line: Int?
        public var problem: String
    }

    /// The script: `C exists writable`, `F files`, `B path line` (a line that does not start
    /// with `{` and end with `}`), `T path` (no newline at the end), `END`.
    static let script = """
        cd "$1" 2>/dev/null || { printf 'C\\tno\\tno\\nF\\t0\\nEND\\n'; exit 0; }
        w=no; [ -w . ] && w=yes
        printf 'C\\tyes\\t%s\\n' "$w"
        find projects -mindepth 2 -maxdepth 2 -type f -name '*.jsonl' ! -name '*
        *' 2>/dev/null | sort > "${TMPDIR:-/tmp}/ccpod-doctor.$$"
        printf 'F\\t%s\\n' "$(wc -l < "${TMPDIR:-/tmp}/ccpod-doctor.$$" | tr -d ' ')"
        tr '\\n' '\\0' < "${TMPDIR:-/tmp}/ccpod-doctor.$$" | xargs -0 -r awk -v T="$(printf '\\t')" '
            $0 !~ /^[ \\t]*\\{/ || $0 !~ /\\}[ \\t\\r]*$/ { if (shown < 1000) print "B" T FILENAME T FNR; shown++ }' | head -n 1000
        while IFS= read -r f; do
            [ -s "$f" ] && [ "$(tail -c 1 "$f" | wc -l | tr -d ' ')" = 0 ] && printf 'T\\t%s\\n' "$f"
        done < "${TMPDIR:-/tmp}/ccpod-doctor.$$" | head -n 1000
        rm -f "${TMPDIR:-/tmp}/ccpod-doctor.$$"
        printf 'END\\n'
        """

    public static func check(connection: any PodConnection) throws -> Report {
        let dir = connection.rootPrefix + connection.paths.claudeDir
        let out = try connection.runCommand(InlineScript.command(Array(script.utf8), name: "ccpod-doctor", arguments: [dir]),
                                            activity: "checking the Claude dir")
        return try parse(out.stdoutText, pod: connection.displayName, claudeDir: connection.paths.claudeDir, status: out.status)
    }

    static func parse(_ text: String, pod: String, claudeDir: String, status: Int32) throws -> Report {
        func bad(_ why: String) -> CCPodError {
            CCPodError.badData("the Claude dir check on \(pod) answered what ccpod cannot read (\(why)); status \(status)")
        }
        var report = Report(pod: pod, claudeDir: claudeDir, exists: false, writable: false, filesChecked: 0, findings: [], findingsLeftOut: 0)
        var ended = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).prefix(3000) {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch f.first {
            case "C" where f.count == 3:
                report.exists = f[1] == "yes"
                report.writable = f[2] == "yes"
            case "F" where f.count == 2:
                guard let n = Int(f[1]), n >= 0, n < 100_000_000 else { throw bad("a file count \(f[1].prefix(20))") }
                report.filesChecked = n
            case "B" where f.count == 3, "T" where f.count == 2:
                guard f[1].utf8.count <= 4096, PodPathCheck.isSafeRelative(f[1]), f[1].hasPrefix("projects/") else {
                    throw bad("an unsafe path")
                }
                var finding = Finding(file: f[1], line: nil, problem: "the last line is incomplete (no newline at the end)")
                if f[0] == "B" {
                    guard let n = Int(f[2]), n > 0 else { throw bad("a line number \(f[2].prefix(20))") }
                    finding.line = n
                    finding.problem = "not a JSON object"
                }
                if report.findings.count < 1000 { report.findings.append(finding) } else { report.findingsLeftOut += 1 }
            case "END" where f.count == 1:
                ended = true
            default:
                throw bad("an unknown line")
            }
        }
        guard ended else { throw bad("it ended early") }
        return report
    }
}
