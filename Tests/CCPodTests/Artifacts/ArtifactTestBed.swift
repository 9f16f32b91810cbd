import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Tag {
    /// Tests that move gigabytes (the 3 GB checkpoint): minutes, and disk space.
    @Tag static var largeTransfer: Self
}

/// A run directory on a pod and a local folder, in a temporary folder. The pod is a
/// `local:` pod (its root a temporary folder) unless a connection is given; nothing
/// touches the machine's own `~/.claude`, `~/.ssh` or `/workspace`.
struct ArtifactTestBed {
    let root: URL
    /// Where the pod's `/` is, for a `local:` pod ("" for an SSH pod: paths are real).
    let podRoot: String
    /// The run directory, pod-absolute.
    let podDirectory: String
    /// The local folder the run pairs with.
    var localDirectory: String
    let stateDir: URL
    var connection: any PodConnection
    let recorder = ExecRecorder()

    /// A `local:` pod.
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-art-\(UUID().uuidString.prefix(8))")
        podRoot = root.appendingPathComponent("pod").path
        podDirectory = "/workspace/runs/stage1_20261125-101500"
        localDirectory = root.appendingPathComponent("laptop/proj/runs/stage1").path
        stateDir = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(atPath: podRoot + podDirectory, withIntermediateDirectories: true)
        connection = LocalConnection(root: podRoot, recorder: recorder)
    }

    /// A pod reached through `connection` (an SSH pod): the run directory is a real
    /// absolute path under `base`.
    init(base: URL, connection: any PodConnection) throws {
        root = base.appendingPathComponent("art-\(UUID().uuidString.prefix(6))")
        podRoot = ""
        podDirectory = root.appendingPathComponent("pod/workspace/runs/stage1").path
        localDirectory = root.appendingPathComponent("laptop/runs/stage1").path
        stateDir = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(atPath: podDirectory, withIntermediateDirectories: true)
        self.connection = connection
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// The same run directory paired with another, new local folder (another laptop).
    func elsewhere(_ name: String) -> ArtifactTestBed {
        var other = self
        other.localDirectory = root.appendingPathComponent(name).path
        return other
    }

    /// The run directory as a path on this machine.
    var podRun: String { podRoot + podDirectory }

    func pod(_ rel: String) -> String { podRun + "/" + rel }
    func local(_ rel: String) -> String { localDirectory + "/" + rel }

    func transfer(_ direction: ArtifactRequest.Direction, _ selection: ArtifactSelection? = nil,
                  force: Bool = false, dryRun: Bool = false, compression: Compression? = nil) -> ArtifactTransfer {
        let request = ArtifactRequest(direction: direction, podDirectory: podDirectory, localDirectory: localDirectory,
                                      selection: selection ?? ArtifactSelection(everythingByDefault: direction == .push),
                                      dryRun: dryRun, force: force, compression: compression)
        return ArtifactTransfer(connection: connection, request: request, podStateDir: stateDir)
    }

    @discardableResult
    func pull(_ selection: ArtifactSelection? = nil, force: Bool = false, dryRun: Bool = false,
              compression: Compression? = nil) throws -> ArtifactReport {
        try transfer(.pull, selection, force: force, dryRun: dryRun, compression: compression).run()
    }

    @discardableResult
    func push(_ selection: ArtifactSelection? = nil, force: Bool = false, dryRun: Bool = false,
              compression: Compression? = nil) throws -> ArtifactReport {
        try transfer(.push, selection, force: force, dryRun: dryRun, compression: compression).run()
    }

    // MARK: - Files

    static func write(_ data: Data, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }

    static func append(_ data: Data, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }

    static func read(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// Bytes no compressor can shrink.
    static func random(_ count: Int) -> Data {
        var rng = SystemRandomNumberGenerator()
        var data = Data(count: count)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in words.indices { words[i] = rng.next() }
            for i in (words.count * 8)..<count { raw[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        return data
    }

    /// Every regular file under `dir` (relative paths), not following links; part
    /// files included, so a test sees what a transfer left behind.
    static func files(_ dir: String) -> Set<String> {
        var out: Set<String> = []
        func walk(_ rel: String) {
            let path = rel.isEmpty ? dir : dir + "/" + rel
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                let child = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                guard lstat(dir + "/" + child, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(child)
                case S_IFREG: out.insert(child)
                default: out.insert(child + "@")
                }
            }
        }
        walk("")
        return out
    }

    /// The bytes of every regular file under `dir`, by relative path.
    static func contents(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        for rel in files(dir) where !rel.hasSuffix("@") { out[rel] = read(dir + "/" + rel) }
        return out
    }

    /// Free bytes where `path` is.
    static func freeBytes(_ path: String) -> Int64 {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return 0 }
        return Int64(fs.f_bavail) * Int64(fs.f_frsize)
    }

    /// Sets a file's mtime to `seconds` ago (a change within the same second still shows).
    static func age(_ path: String, seconds: Double) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -seconds)], ofItemAtPath: path)
    }
}

extension ArtifactReport {
    /// The paths of the actions of one kind, sorted.
    func paths(_ kind: ArtifactAction.Kind) -> [String] {
        actions.filter { $0.kind == kind }.map(\.path).sorted()
    }

    func action(_ path: String) -> ArtifactAction? { actions.first { $0.path == path } }
}

/// An SSH pod (the loopback sshd) reached through a relay that counts and cuts.
final class ArtifactSSHPod {
    let pod: SSHTestPod
    let relay: TCPRelay
    let connection: SSHConnection

    init() throws {
        pod = try SSHTestPod()
        relay = try TCPRelay(targetPort: pod.sshd.port)
        _ = try PodRegistry(locations: pod.locations, recorder: pod.recorder)
            .add(pod.settings(port: relay.port), makeDefault: false, trust: SSHTestPod.acceptNew)
        connection = try pod.connection()
    }

    func bed() throws -> ArtifactTestBed { try ArtifactTestBed(base: pod.root, connection: connection) }

    /// Runs `body` on a fresh ssh connection and returns the bytes that crossed the relay.
    func measured<T>(_ body: () throws -> T) rethrows -> (T, up: Int, down: Int) {
        relay.resetCounters()
        let result = try body()
        return (result, relay.bytesUpstream, relay.bytesDownstream)
    }

    deinit {
        connection.closeMaster()
        relay.stop()
    }
}
