import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A laptop and a `local:` pod in a temporary folder, for engine tests.
struct SyncTestBed {
    let root: URL
    let localClaude: String
    let podRoot: String
    let state: URL
    var scope: SyncScope
    var connection: any PodConnection

    /// The project at home and on the pod.
    static let localProject = "/Users/me/my_app.v2"
    static let podProject = "/workspace/runs/stage1_x/code"
    static let localSlug = "-Users-me-my-app-v2"
    static let podSlug = "-workspace-runs-stage1-x-code"

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-sync-\(UUID().uuidString.prefix(8))")
        localClaude = root.appendingPathComponent("laptop/.claude").path
        podRoot = root.appendingPathComponent("pod").path
        state = root.appendingPathComponent("state")
        try FileManager.default.createDirectory(atPath: localClaude, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: podRoot + "/root/.claude", withIntermediateDirectories: true)
        scope = SyncScope(projects: [ProjectMapping(localSlug: Self.localSlug, podSlug: Self.podSlug)])
        connection = LocalConnection(root: podRoot)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// Waits until the last agent on the pod at `podRoot` is done: after its answer it
    /// removes its work folder holding the pod's lock (agent.sh, cleanup), and ccpod
    /// does not wait for that.
    static func waitForPodAgent(podRoot: String, paths: PodPaths = PodPaths()) {
        let lock = open(podRoot + paths.persistentDir + "/.ccpod/agent.lock", O_RDONLY | O_CLOEXEC)
        guard lock >= 0 else { return }
        _ = flock(lock, LOCK_EX)
        close(lock)
    }

    var podClaude: String { podRoot + "/root/.claude" }

    func localTranscript(_ id: String) -> String { "\(localClaude)/projects/\(Self.localSlug)/\(id).jsonl" }
    func podTranscript(_ id: String) -> String { "\(podClaude)/projects/\(Self.podSlug)/\(id).jsonl" }

    func engine() -> SyncEngine {
        SyncEngine(claudeDir: localClaude, connection: connection, stateDir: state)
    }

    @discardableResult
    func run(_ direction: SyncOptions.Direction, dryRun: Bool = false, delete: Bool = false) throws -> SyncReport {
        try engine().run(scope: scope, options: SyncOptions(direction: direction, dryRun: dryRun, delete: delete, busySeconds: 0))
    }

    /// Conversation lines in the real shape.
    static func lines(session: String, count: Int, start: Int = 0, text: String = "hello") -> Data {
        var out = ""
        var parent = "null"
        for i in start..<(start + count) {
            let uuid = String(format: "00000000-0000-4000-8000-%012d", i)
            let type = i % 2 == 0 ? "user" : "assistant"
            let content = type == "user" ? "\"\(text) \(i)\"" : "[{\"type\":\"text\",\"text\":\"answer \(i)\"}]"
            out += "{\"parentUuid\":\(parent),\"isSidechain\":false,\"cwd\":\"\(localProject)\",\"sessionId\":\"\(session)\",\"version\":\"2.1.332\",\"type\":\"\(type)\",\"message\":{\"role\":\"\(type)\",\"content\":\(content)},\"uuid\":\"\(uuid)\",\"timestamp\":\"2026-11-20T10:00:\(String(format: "%02d", i % 60)).000Z\"}\n"
            parent = "\"\(uuid)\""
        }
        return Data(out.utf8)
    }

    static func write(_ data: Data, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func append(_ data: Data, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
        try handle.close()
    }

    static func read(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

    /// Session transcripts in a slug folder.
    static func transcripts(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
    }
}
