import Foundation

/// fsyncs many files or folders at once, so the disk takes their writes together
/// instead of one flush waiting for the one before (hundreds of new files pulled).
enum ParallelFlush {
    /// Flushes every path (a file or a folder) on up to `threads` threads; returns the
    /// ones that were flushed (a path that cannot be opened or flushed is left out).
    static func paths(_ paths: [String], threads: Int = 8) -> Set<String> {
        guard !paths.isEmpty else { return [] }
        let flushed = Locked<Set<String>>([])
        let next = Locked(0)
        let group = DispatchGroup()
        for _ in 0..<min(threads, paths.count) {
            group.enter()
            Thread.detachNewThread {
                while true {
                    let i = next.withLock { n -> Int in
                        defer { n += 1 }
                        return n
                    }
                    guard i < paths.count else { break }
                    let fd = open(paths[i], O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { continue }
                    if fsync(fd) == 0 { flushed.withLock { _ = $0.insert(paths[i]) } }
                    close(fd)
                }
                group.leave()
            }
        }
        group.wait()
        return flushed.current
    }
}
