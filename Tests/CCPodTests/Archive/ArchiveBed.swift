import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Claude dir made of the project's own transcripts (plus file-history, tasks and
/// todos entries), with crafted modification times, and private ccpod dirs.
struct ArchiveBed {
    let root: URL
    let claude: URL
    let locations: CCPodLocations
    let env: [String: String]

    /// One file as it is: bytes, modification time to the nanosecond, permission bits.
    struct Snapshot: Equatable {
        var data: Data
        var mtimeNs: Int64
        var mode: UInt32
    }

    static let day: Int64 = 86_400 * 1_000_000_000

    init(daysOld: Int64 = 60) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-archive-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        claude = try TranscriptFixtures.materialize(into: root)
        locations = CCPodLocations(configDir: root.appendingPathComponent("config/ccpod"), stateDir: root.appendingPathComponent("state/ccpod"))
        env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
               "XDG_CONFIG_HOME": root.appendingPathComponent("config").path, "XDG_STATE_HOME": root.appendingPathComponent("state").path,
               "CLAUDE_CONFIG_DIR": claude.path]
        let work = TranscriptFixtures.workSession
        try write("file-history/\(work)/3f2a9c1d@v1", "print('checkpoint')\n")
        try write("file-history/\(work)/3f2a9c1d@v2", "print('checkpoint 2')\n")
        try write("tasks/\(work)/1.json", "{\"id\":\"1\",\"subject\":\"train\"}\n")
        try write("todos/\(work)-agent-\(work).json", "[{\"content\":\"train\",\"status\":\"pending\"}]")
        chmod(claude.appendingPathComponent("tasks/\(work)/1.json").path, 0o644)
        // Every file `daysOld` days old, each with its own nanoseconds.
        var i: Int64 = 0
        for path in files().keys.sorted() {
            i += 1
            try Self.setMtime(claude.appendingPathComponent(path).path, ns: Self.now - daysOld * Self.day + i * 1_000_003)
        }
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }

    func remove() { try? FileManager.default.removeItem(at: root) }

    func write(_ path: String, _ text: String) throws {
        let url = claude.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    static func setMtime(_ path: String, ns: Int64) throws {
        var t = timespec()
        t.tv_sec = time_t(ns / 1_000_000_000)
        t.tv_nsec = Int(ns % 1_000_000_000)
        var times = [t, t]
        guard utimensat(AT_FDCWD, path, &times, 0) == 0 else { throw CCPodError.io("utimensat \(path)") }
    }

    /// Sets every file of a session (transcript, its folder) to `daysOld` days old.
    func age(_ id: String, daysOld: Int64) throws {
        for (path, _) in files() where path.contains(id) {
            try Self.setMtime(claude.appendingPathComponent(path).path, ns: Self.now - daysOld * Self.day)
        }
    }

    /// Every regular file under the Claude dir, by path relative to it.
    func files() -> [String: Snapshot] {
        var result: [String: Snapshot] = [:]
        guard let walk = FileManager.default.enumerator(atPath: claude.path) else { return result }
        for case let relative as String in walk {
            let path = claude.appendingPathComponent(relative).path
            guard let st = FileStat.of(path, followSymlinks: false), st.isRegularFile else { continue }
            result[relative] = Snapshot(data: FileManager.default.contents(atPath: path) ?? Data(), mtimeNs: st.mtimeNanoseconds,
                                        mode: UInt32(st.permissions))
        }
        return result
    }

    /// The session files (what archiving moves), leaving out `.claude.json` and the like.
    func sessionFiles() -> [String: Snapshot] {
        files().filter { ["projects/", "file-history/", "tasks/", "todos/"].contains(where: $0.key.hasPrefix) }
    }

    func index() throws -> ArchiveIndex { try ArchiveIndex.load(stateDir: locations.stateDir) }

    func ccpod(_ args: [String]) throws {
        try runCCPod(args + ["--claude-dir", claude.path], env)
    }

    /// Runs the built binary (nil when it was not built next to the tests): exit status, stdout, stderr.
    func binary(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String)? {
        guard let binary = ClaudeTestPaths.ccpodBinary else { return nil }
        let out = try ChildProcess.run(binary.path, args + ["--claude-dir", claude.path], environment: env, directory: root.path)
        return (out.status, out.stdoutText, out.stderrText)
    }
}
