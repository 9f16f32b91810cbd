import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One finished program: exit status, wall time, and the peak resident memory that
/// `wait4` reports (the program itself or, if larger, a helper it started and waited for).
struct Finished {
    var status: Int32
    var seconds: Double
    var maxRSSBytes: Int
}

enum Processes {
    /// Runs a program to completion with stdout and stderr going to files; times it.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        stdin: ChildProcess.Stream = .null, stdoutPath: String = "/dev/null", stderrPath: String = "/dev/null"
    ) throws -> Finished {
        let out = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(out); close(err) }
        guard out >= 0, err >= 0 else { throw BenchError("cannot open \(stdoutPath) or \(stderrPath)") }
        return try wait(executable, arguments, environment: environment, directory: directory, stdin: stdin,
                        stdout: .fd(out), stderr: .fd(err))
    }

    private static func wait(
        _ executable: String, _ arguments: [String], environment: [String: String]?, directory: String?,
        stdin: ChildProcess.Stream, stdout: ChildProcess.Stream, stderr: ChildProcess.Stream
    ) throws -> Finished {
        let started = DispatchTime.now()
        let child = try ChildProcess.spawn(executable, arguments, environment: environment, directory: directory,
                                           stdin: stdin, stdout: stdout, stderr: stderr)
        var status: Int32 = 0
        var usage = rusage()
        while wait4(child.pid, &status, 0, &usage) < 0 {
            if errno != EINTR { throw BenchError("wait4 failed for \(executable)") }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let low = status & 0x7f
        let code = low == 0 ? (status >> 8) & 0xff : 128 + low
        #if canImport(Darwin)
        let rss = Int(usage.ru_maxrss)  // bytes on macOS
        #else
        let rss = Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
        #endif
        return Finished(status: code, seconds: seconds, maxRSSBytes: rss)
    }

    /// Runs `executable` like `run`, through a fresh copy of this program
    /// (`--measure-child`) that spawns it, times it and reports what `wait4` says.
    ///
    /// Why not `run`: on Linux a process's `ru_maxrss` starts at the peak of the process
    /// that spawned it (exec records the old memory's high-water mark, and a
    /// posix_spawn child runs in its parent's memory until it execs). Spawned from the
    /// benchmark, which holds its corpora, ccpod reported the benchmark's size: 99 MB
    /// for a pull of 2,200 files in which ccpod itself peaked at 33 MB (`VmHWM`), and
    /// 36 MB under `/usr/bin/time`. The launcher is a new process whose own peak
    /// (about 15 MB) is below ccpod's at start (19 MB for `--version`).
    static func runMeasured(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        stdoutPath: String = "/dev/null", stderrPath: String = "/dev/null"
    ) throws -> Finished {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-bench-measure-\(getpid())").path
        defer { unlink(report) }
        unlink(report)
        let launched = try run(selfPath, [measureChildFlag, report, executable] + arguments, environment: environment,
                               directory: directory, stdoutPath: stdoutPath, stderrPath: stderrPath)
        let fields = ((try? String(contentsOfFile: report, encoding: .utf8)) ?? "").split(separator: " ")
        guard fields.count == 3, let status = Int32(fields[0]), let seconds = Double(fields[1]), let rss = Int(fields[2]) else {
            throw BenchError("the launcher of \(executable) reported nothing (exit \(launched.status)); see \(stderrPath)")
        }
        return Finished(status: status, seconds: seconds, maxRSSBytes: rss)
    }

    static let measureChildFlag = "--measure-child"

    /// This program's own path, for `runMeasured`'s launcher.
    private static var selfPath: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return CommandLine.arguments[0]
    }

    /// The launcher's side of `runMeasured` (`--measure-child REPORT EXECUTABLE ARGS…`):
    /// spawns the program with this process's descriptors, directory and environment,
    /// waits for it, writes `status seconds peak-bytes` to REPORT and exits as it did.
    static func measureChild(_ arguments: [String]) -> Never {
        guard arguments.count >= 2 else {
            FileHandle.standardError.write(Data("\(measureChildFlag) REPORT EXECUTABLE [ARGS…]\n".utf8))
            exit(64)
        }
        do {
            let finished = try wait(arguments[1], Array(arguments.dropFirst(2)), environment: nil, directory: nil,
                                    stdin: .inherit, stdout: .inherit, stderr: .inherit)
            let line = "\(finished.status) \(finished.seconds) \(finished.maxRSSBytes)"
            try Data(line.utf8).write(to: URL(fileURLWithPath: arguments[0]))
            exit(finished.status)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(70)
        }
    }

    /// Runs a program that must succeed; returns its stdout.
    @discardableResult
    static func check(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
        let r = try ChildProcess.run(executable, arguments, environment: environment)
        guard r.status == 0 else {
            throw BenchError("\(executable) \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.stderrText)")
        }
        return r.stdoutText
    }

    /// `sh -c` quoting.
    static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=:@,+".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Files and folders for the benchmark's trees.
enum Trees {
    static func remove(_ path: String) throws {
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }

    static func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// `cp -a` of a folder's contents (fast, keeps mtimes as a restored backup would).
    static func copy(_ from: String, to: String) throws {
        try makeDirectory(to)
        try Processes.check("cp", ["-a", from + "/.", to])
    }

    /// Every regular file under `root/projects` with its size.
    static func listing(_ root: String, folders: [String] = ["projects"]) -> [String: Int64] {
        var skipped: [String] = []
        var result: [String: Int64] = [:]
        for folder in folders {
            for (path, stat) in LocalTree.files(root: root, under: folder, skipped: &skipped) { result[path] = stat.size }
        }
        return result
    }

    /// Compares `projects/` of two trees: same files, same sizes, and the same SHA-256 for
    /// every file (or only for `hashing` when given). Throws with the first differences.
    static func verifyIdentical(_ a: String, _ b: String, hashing: Set<String>? = nil, ignoring: Set<String> = [],
                                folders: [String] = ["projects"]) throws {
        let left = listing(a, folders: folders).filter { !ignoring.contains($0.key) }
        let right = listing(b, folders: folders).filter { !ignoring.contains($0.key) }
        var problems: [String] = []
        for (path, size) in left where right[path] == nil { problems.append("only in \(a): \(path) (\(size) bytes)") }
        for (path, size) in right where left[path] == nil { problems.append("only in \(b): \(path) (\(size) bytes)") }
        for (path, size) in left {
            guard let other = right[path] else { continue }
            if other != size { problems.append("\(path): \(size) vs \(other) bytes"); continue }
            if let hashing, !hashing.contains(path) { continue }
            let ha = try SHA256Hex.ofFile(a + "/" + path), hb = try SHA256Hex.ofFile(b + "/" + path)
            if ha != hb { problems.append("\(path): same size, different SHA-256") }
        }
        if left.isEmpty { problems.append("no files at all in \(a) (\(folders.joined(separator: ", ")))") }
        guard problems.isEmpty else {
            throw BenchError("trees differ (\(problems.count) problems): \(problems.sorted().prefix(10).joined(separator: "; "))")
        }
    }
}
