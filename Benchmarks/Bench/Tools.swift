import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A laptop Claude dir and a pod Claude dir (both on this machine; the pod is reached
/// only through ssh). Every tool syncs `projects/` between them.
struct Sides {
    let local: String
    let pod: String
}

/// What one timed operation did, besides what the relay saw.
struct Outcome {
    var seconds: Double
    var execs: Int
    var maxRSSBytes: Int?
    var report: SyncReport?
}

protocol SyncTool {
    var name: String { get }
    func push(_ sides: Sides) throws -> Outcome
    func pull(_ sides: Sides) throws -> Outcome
    /// Forget whatever the tool remembers between runs (a new laptop).
    func forgetState() throws
}

/// How the competitors reach the pod: plain `ssh` through the relay, strict host key
/// checking against a known_hosts file of our own, no ControlMaster, no ~/.ssh.
struct SSHAccess {
    let options: [String]
    let destination: String
    let scratch: String

    var commandLine: String { (["ssh"] + options).map(Processes.quote).joined(separator: " ") }

    /// The same, asking for ccpod's ciphers (AES-GCM first): what plain ssh would cost
    /// with the cipher ccpod's own connections use.
    var withCCPodCiphers: SSHAccess {
        SSHAccess(options: options + ["-o", "Ciphers=" + SSHConnection.preferredCiphers], destination: destination, scratch: scratch)
    }
}

/// ccpod itself, the release binary, with its own config and state under the work folder.
struct CCPodTool: SyncTool {
    let name = "ccpod"
    let binary: String
    let podName: String
    let environment: [String: String]
    let directory: String
    let locations: CCPodLocations

    func push(_ sides: Sides) throws -> Outcome { try run("push", sides) }
    func pull(_ sides: Sides) throws -> Outcome { try run("pull", sides) }
    func sync(_ sides: Sides) throws -> Outcome { try run("sync", sides) }

    /// Removes ccpod's state for the pod (ancestors, hash cache, journal, what it
    /// learned about the pod's compressors).
    func forgetState() throws {
        try Trees.remove(locations.podStateDir(podName: podName).path)
    }

    /// Ends ccpod's ControlMaster, so the next call pays for a new connection.
    func closeMaster() throws {
        let resolved = try PodResolver.resolvePod(name: podName, environment: environment, locations: locations)
        (resolved.connection as? SSHConnection)?.closeMaster()
    }

    func run(_ command: String, _ sides: Sides) throws -> Outcome {
        let out = directory + "/ccpod-out.json", err = directory + "/ccpod-err.txt"
        let arguments = [command, "--all", "--claude-dir", sides.local, "--pod", podName, "--json", "--busy-seconds", "0"]
        let finished = try Processes.runMeasured(binary, arguments, environment: environment, directory: directory,
                                                 stdoutPath: out, stderrPath: err)
        let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        guard finished.status == 0 else {
            throw BenchError("ccpod \(arguments.joined(separator: " ")) exited \(finished.status): \(stderr)")
        }
        let report: SyncReport
        do {
            report = try JSONDecoder().decode(SyncReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        } catch {
            throw BenchError("ccpod \(command): unreadable --json output (\(error)); stderr: \(stderr)")
        }
        let bad = report.items.filter { [.failed, .conflict, .busy].contains($0.action) }
        guard bad.isEmpty else {
            throw BenchError("ccpod \(command): \(bad.count) items \(bad.prefix(3).map { "\($0.path) \($0.action.rawValue) \($0.detail ?? "")" })")
        }
        return Outcome(seconds: finished.seconds, execs: report.exchanges, maxRSSBytes: finished.maxRSSBytes, report: report)
    }
}

/// `rsync -az -e "ssh …"`: one ssh exec per run.
struct RsyncTool: SyncTool {
    var name = "rsync -az"
    let ssh: SSHAccess

    func push(_ sides: Sides) throws -> Outcome {
        try rsync(sides.local + "/projects/", "\(ssh.destination):\(sides.pod)/projects/")
    }

    func pull(_ sides: Sides) throws -> Outcome {
        try rsync("\(ssh.destination):\(sides.pod)/projects/", sides.local + "/projects/")
    }

    func forgetState() throws {}

    private func rsync(_ from: String, _ to: String) throws -> Outcome {
        let err = ssh.scratch + "/rsync-err.txt"
        let r = try Processes.run("rsync", ["-az", "-e", ssh.commandLine, from, to], stderrPath: err)
        guard r.status == 0 else {
            throw BenchError("rsync exited \(r.status): \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        }
        return Outcome(seconds: r.seconds, execs: 1)
    }
}

/// `tar | zstd | ssh … 'zstd -d | tar x'`: one exec, everything every time.
struct TarTool: SyncTool {
    let name = "tar|zstd|ssh"
    let ssh: SSHAccess

    func push(_ sides: Sides) throws -> Outcome {
        let remote = "zstd -q -dc | tar -C \(Processes.quote(sides.pod)) -xf -"
        return try pipeline("tar -C \(Processes.quote(sides.local)) -cf - projects | zstd -q -c | \(ssh.commandLine) \(ssh.destination) \(Processes.quote(remote))")
    }

    func pull(_ sides: Sides) throws -> Outcome {
        let remote = "tar -C \(Processes.quote(sides.pod)) -cf - projects | zstd -q -c"
        return try pipeline("\(ssh.commandLine) \(ssh.destination) \(Processes.quote(remote)) | zstd -q -dc | tar -C \(Processes.quote(sides.local)) -xf -")
    }

    func forgetState() throws {}

    private func pipeline(_ script: String) throws -> Outcome {
        let err = ssh.scratch + "/tar-err.txt"
        let r = try Processes.run("bash", ["-c", "set -euo pipefail; " + script], stderrPath: err)
        guard r.status == 0 else {
            throw BenchError("tar pipeline exited \(r.status): \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        }
        return Outcome(seconds: r.seconds, execs: 1)
    }
}

/// The old script's method: `cat file | ssh pod 'cat > file'` for every file (pull: one
/// `find` to list, then `ssh pod 'cat file' > file` for every file).
struct PerFileTool: SyncTool {
    let name = "per-file ssh"
    let ssh: SSHAccess

    func push(_ sides: Sides) throws -> Outcome {
        let files = Trees.listing(sides.local).keys.sorted()
        let started = DispatchTime.now()
        for path in files {
            let target = sides.pod + "/" + path
            let dir = (target as NSString).deletingLastPathComponent
            let fd = open(sides.local + "/" + path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BenchError("cannot open \(path)") }
            defer { close(fd) }
            let remote = "mkdir -p \(Processes.quote(dir)) && cat > \(Processes.quote(target))"
            let r = try Processes.run("ssh", ssh.options + [ssh.destination, remote], stdin: .fd(fd))
            guard r.status == 0 else { throw BenchError("per-file ssh push of \(path) exited \(r.status)") }
        }
        return Outcome(seconds: Self.since(started), execs: files.count)
    }

    func pull(_ sides: Sides) throws -> Outcome {
        let started = DispatchTime.now()
        let list = try Processes.check("ssh", ssh.options + [ssh.destination, "cd \(Processes.quote(sides.pod)) && find projects -type f"])
        let files = list.split(separator: "\n").map(String.init)
        for path in files {
            let target = sides.local + "/" + path
            try Trees.makeDirectory((target as NSString).deletingLastPathComponent)
            let r = try Processes.run("ssh", ssh.options + [ssh.destination, "cat \(Processes.quote(sides.pod + "/" + path))"],
                                      stdoutPath: target)
            guard r.status == 0 else { throw BenchError("per-file ssh pull of \(path) exited \(r.status)") }
        }
        return Outcome(seconds: Self.since(started), execs: files.count + 1)
    }

    func forgetState() throws {}

    static func since(_ start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}
