import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether everything a pod keeps is safely home, by hash: each file's SHA-256 on the
/// pod (`PodInventory`) must be the version ccpod agreed on with this machine (the
/// ancestor store for sessions, the artifact state for run outputs), and the local
/// copy must still hold those bytes. Pure: the pod's answer and ccpod's records in,
/// the files that are not safe out. `terminate` and `clean` go on only when there is
/// none.
public struct PodHomeVerification: Sendable, Equatable {
    public struct Problem: Sendable, Equatable, Codable {
        /// The file (pod path relative to the Claude dir, or `<run dir>/<path>`).
        public var path: String
        public var why: String

        public init(path: String, why: String) {
            self.path = path
            self.why = why
        }
    }

    public var verifiedFiles = 0
    public var problems: [Problem] = []
    /// The pod's session-store files that are verified (for `clean`: only these go).
    public var verifiedSessionFiles: [PodInventory.File] = []

    public init() {}

    public var ok: Bool { problems.isEmpty }

    /// Local SHA-256 of the first `length` bytes of `path`; nil when it is missing or shorter.
    public typealias LocalHash = @Sendable (_ path: String, _ length: Int64) -> String?

    public static let hashLocalFile: LocalHash = { path, length in
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int64(st.st_size) >= length else { return nil }
        return try? SHA256Hex.ofFile(path, length: length)
    }

    /// Session-store files and the prompt log against the ancestor store of this pod.
    public mutating func checkSessions(_ inventory: PodInventory, store: AncestorStore, localClaudeDir: String,
                                       localHistory: Data?, hash: LocalHash = PodHomeVerification.hashLocalFile) {
        for line in inventory.unreadable {
            problems.append(Problem(path: line, why: "the pod could not hash it or its name cannot be carried; move or rename it on the pod"))
        }
        for file in inventory.sessionFiles {
            guard let pair = store.pair(pod: file.path) else {
                problems.append(Problem(path: file.path, why: "not brought home (ccpod has no record of it here)"))
                continue
            }
            guard pair.pod.sha256 == file.sha256 else {
                problems.append(Problem(path: file.path, why: "changed on the pod since it was last brought home"))
                continue
            }
            // The local copy may have grown since; the agreed bytes must still be its start.
            guard hash(localClaudeDir + "/" + pair.localPath, pair.local.size) == pair.local.sha256 else {
                problems.append(Problem(path: file.path, why: "the copy here (\(pair.localPath)) is missing or no longer holds those bytes"))
                continue
            }
            verifiedFiles += 1
            verifiedSessionFiles.append(file)
        }
        if let podHistory = inventory.history {
            let known = Set(HistoryLog.lines(of: localHistory ?? Data()).map(HistoryLog.key))
            let missing = HistoryLog.lines(of: podHistory).filter { !known.contains(HistoryLog.key($0)) }.count
            if missing > 0 {
                problems.append(Problem(path: HistoryLog.path, why: "\(missing) prompt(s) of the pod's prompt log are not in the one here"))
            } else {
                verifiedFiles += 1
            }
        }
    }

    /// A run's output files against the artifact state of its pull into `localDirectory`.
    public mutating func checkRun(podDirectory: String, files: [PodInventory.File]?, state: ArtifactState, localDirectory: String,
                                  hash: LocalHash = PodHomeVerification.hashLocalFile) {
        guard let files else {
            problems.append(Problem(path: podDirectory, why: "the run folder is not on the pod"))
            return
        }
        for file in files {
            let name = podDirectory + "/" + file.path
            guard let agreed = state.files[file.path] else {
                problems.append(Problem(path: name, why: "not pulled (`ccpod artifacts pull` skipped or never saw it)"))
                continue
            }
            guard agreed.sha256 == file.sha256 else {
                problems.append(Problem(path: name, why: "changed on the pod since it was pulled"))
                continue
            }
            guard hash(localDirectory + "/" + file.path, agreed.local.size) == agreed.sha256 else {
                problems.append(Problem(path: name, why: "the copy in \(localDirectory) is missing or differs"))
                continue
            }
            verifiedFiles += 1
        }
    }
}
