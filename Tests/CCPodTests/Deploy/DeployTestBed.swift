import CCPodKit
import CCPodTestSupport
import Foundation

/// A throwaway git repository with its own git config (never the machine's ~/.gitconfig).
struct GitFixture {
    let root: URL
    let env: [String: String]

    /// The repository's path as git and ccpod report it (symlinks resolved).
    var path: String { ProjectSlug.resolvedPath(root) }

    init(commit files: [String: String]? = ["README.md": "hello\n", "src/train.py": "print('train')\n"]) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-git-\(UUID().uuidString.prefix(8))")
        root = base.appendingPathComponent("my project")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": base.path,
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
               "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"]
        try git("init", "-q", "-b", "main")
        if let files {
            for (name, text) in files { try write(name, text) }
            try commitAll("first")
        }
    }

    @discardableResult
    func git(_ args: String...) throws -> String { try git(args) }

    @discardableResult
    func git(_ args: [String]) throws -> String {
        let out = try ChildProcess.run("git", ["-C", root.path] + args, environment: env)
        guard out.status == 0 else { throw CCPodError.failure("git \(args.joined(separator: " ")): \(out.stderrText)") }
        return out.stdoutText.trimmingCharacters(in: .newlines)
    }

    func write(_ name: String, _ text: String) throws { try write(name, Data(text.utf8)) }

    func write(_ name: String, _ data: Data) throws {
        let url = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    func commitAll(_ message: String) throws {
        try git("add", "-A")
        try git("commit", "-q", "-m", message)
    }

    func remove() { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
}

/// A loopback-sshd pod whose Claude dir, persistent dir and workspace are temporary folders.
final class DeployPod {
    let t: SSHTestPod
    let podRoot: URL
    let paths: PodPaths

    init(workspace: String? = nil) throws {
        t = try SSHTestPod()
        podRoot = t.root.appendingPathComponent("pod")
        try FileManager.default.createDirectory(at: podRoot, withIntermediateDirectories: true)
        paths = PodPaths(claudeDir: podRoot.path + "/claude", persistentDir: podRoot.path + "/persist",
                         workspace: workspace ?? podRoot.path + "/workspace")
        var settings = t.settings()
        settings.paths = paths
        _ = try PodRegistry(locations: t.locations, recorder: t.recorder).add(settings, makeDefault: false, trust: SSHTestPod.acceptNew)
    }

    func connection(port: Int? = nil) throws -> SSHConnection {
        try t.connection(environment: port.map { ["RUNPOD_PORT": String($0)] } ?? [:])
    }

    func deployer(_ connection: any PodConnection, git: GitFixture) -> Deployer {
        Deployer(connection: connection, podStateDir: t.locations.podStateDir(podName: "gpu"), gitEnvironment: git.env)
    }

    /// Run folders on the pod, and leftovers of failed deploys.
    var runFolders: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: paths.workspace + "/runs")) ?? []).sorted()
    }

    /// The environment for commands run in-process.
    var cliEnvironment: [String: String] {
        t.environment.merging([
            "XDG_CONFIG_HOME": t.locations.configDir.deletingLastPathComponent().path,
            "XDG_STATE_HOME": t.locations.stateDir.deletingLastPathComponent().path,
        ]) { $1 }
    }
}

/// A connection that runs every remote command after a shell prefix: a PATH without
/// git, a file size limit, a private tmux socket folder. Test-only: the deploy script
/// itself honours nothing of the kind.
struct PrefixedConnection: PodConnection {
    let inner: any PodConnection
    let prefix: String
    var displayName: String { inner.displayName }
    var paths: PodPaths { inner.paths }
    var rootPrefix: String { inner.rootPrefix }
    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        try inner.invocation(remoteCommand: prefix + " " + remoteCommand)
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { inner.explainFailure(status: status, stderr: stderr) }

    /// A folder of links to every program on this PATH except git, to stand for a pod without git.
    static func pathWithoutGit(in dir: URL) throws -> String {
        let bin = dir.appendingPathComponent("nogit-bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where !name.hasPrefix("git") {
                let link = bin.appendingPathComponent(name).path
                if !FileManager.default.fileExists(atPath: link) {
                    try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: folder + "/" + name)
                }
            }
        }
        return bin.path
    }
}

/// Random bytes (incompressible), for a repository with a few MB of history.
func randomData(_ count: Int) -> Data {
    var g = SystemRandomNumberGenerator()
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        for i in stride(from: 0, to: count - 7, by: 8) { raw.storeBytes(of: g.next() as UInt64, toByteOffset: i, as: UInt64.self) }
    }
    return data
}
