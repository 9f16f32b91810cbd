import Dispatch

/// Reads the local files that changed since the last sync, on all cores: each file
/// once, for its complete length (a transcript's bytes up to its last newline), its
/// hashes and newline counts (`SHA256Hex.scan`). Unchanged files are never read; a
/// new file that is about to be sent only has its last line looked for (it is hashed
/// as it is sent).
enum ChangedFileScan {
    struct Job: Sendable {
        /// The file's absolute path.
        var file: String
        var size: Int64
        /// A transcript: only its complete lines count.
        var isLog: Bool
        /// Bytes both sides agreed on (0 for a new file): hashed apart too.
        var prefix: Int64
        /// Hash it now (false: only its complete length).
        var hash = true
    }

    struct Scanned: Sendable {
        var complete: Int64
        var scan: SHA256Hex.Scan?
    }

    static func run(_ jobs: [Job]) -> [Result<Scanned, any Error>] {
        let results = Locked([Result<Scanned, any Error>?](repeating: nil, count: jobs.count))
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            let job = jobs[i]
            let result = Result<Scanned, any Error> {
                let complete = job.isLog ? try LocalTree.completeLength(job.file, size: job.size) : job.size
                guard job.hash else { return Scanned(complete: complete, scan: nil) }
                return Scanned(complete: complete, scan: try SHA256Hex.scan(job.file, prefix: job.prefix, whole: complete))
            }
            results.withLock { $0[i] = result }
        }
        return results.current.map { $0! }
    }
}
