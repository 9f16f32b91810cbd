import CCPodKit
import Foundation
import Testing

/// A `local:` pod whose temporary folder and user are the test's.
private struct TmpConnection: PodConnection {
    let root: String
    let tmp: String
    var paths = PodPaths()
    var displayName: String { "tmp:\(root)" }
    var rootPrefix: String { root }
    func invocation(remoteCommand: String) throws -> (arguments: [String], environment: [String: String]?) {
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = tmp
        env["USER"] = "tester"
        return (["/bin/sh", "-c", remoteCommand], env)
    }
    func explainFailure(status: Int32, stderr: String) -> CCPodError? { nil }
}

/// The pod keeps the unpacked agent in a folder of the user's own and runs it from
/// there (AgentScript.remoteCommand); a folder that is a link is never trusted.
@Suite("The agent kept on the pod")
struct AgentScriptCacheTests {
    /// An agent that answers with one warning and nothing else.
    static let impostor = "cat > /dev/null\nprintf 'CCPOD-AGENT 2 none\\nW\\tfrom the kept script\\nEND\\tok\\n'\n"

    /// A test bed whose pod has a temporary folder of its own (`TmpConnection`).
    static func bedWithItsOwnTemporaryFolder() throws -> (SyncTestBed, String) {
        var bed = try SyncTestBed()
        let tmp = bed.root.appendingPathComponent("tmp").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        bed.connection = TmpConnection(root: bed.podRoot, tmp: tmp)
        return (bed, tmp)
    }

    static func kept(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sh") }
    }

    @Test func theAgentIsKeptInTheUsersOwnFolderAndRunFromThere() throws {
        let (bed, tmp) = try Self.bedWithItsOwnTemporaryFolder()
        defer { bed.remove() }
        let folder = tmp + "/.ccpod-agents.tester"

        _ = try bed.run(.status)
        let names = try Self.kept(in: folder)
        #expect(names.count == 1)
        let attributes = try FileManager.default.attributesOfItem(atPath: folder)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o077 } == 0, "\(attributes)")
        let script = try String(contentsOfFile: folder + "/" + names[0], encoding: .utf8)
        #expect(script.contains("take_records()"))

        // What is kept there is what runs.
        try Self.impostor.write(toFile: folder + "/" + names[0], atomically: true, encoding: .utf8)
        #expect(try bed.run(.status).warnings.contains { $0.contains("from the kept script") })
    }

    @Test func aFolderThatIsALinkIsNotUsed() throws {
        let (bed, tmp) = try Self.bedWithItsOwnTemporaryFolder()
        defer { bed.remove() }
        let elsewhere = bed.root.appendingPathComponent("elsewhere").path
        // Learn the kept script's name, then put an impostor under that name behind a link.
        _ = try bed.run(.status)
        let name = try #require(try Self.kept(in: tmp + "/.ccpod-agents.tester").first)
        try FileManager.default.removeItem(atPath: tmp + "/.ccpod-agents.tester")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try Self.impostor.write(toFile: elsewhere + "/" + name, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: tmp + "/.ccpod-agents.tester", withDestinationPath: elsewhere)

        let report = try bed.run(.status)
        #expect(!report.warnings.contains { $0.contains("from the kept script") }, "\(report.warnings)")
        #expect(try String(contentsOfFile: elsewhere + "/" + name, encoding: .utf8) == Self.impostor)
    }

    /// The packed script (gzip's output) is kept in ccpod's own cache when the engine is
    /// given one, as the CLI's is: a pod whose state was forgotten (or a new pod) does not
    /// fork gzip again.
    @Test func thePackedScriptIsKeptInCCPodsOwnCacheNotThePodsState() throws {
        let (bed, _) = try Self.bedWithItsOwnTemporaryFolder()
        defer { bed.remove() }
        let shared = bed.root.appendingPathComponent("ccpod-cache")
        var engine = bed.engine()
        engine.scriptCacheDir = shared
        _ = try engine.run(scope: bed.scope, options: SyncOptions(direction: .status, busySeconds: 0))
        let kept = try FileManager.default.contentsOfDirectory(atPath: shared.path)
        #expect(kept.count == 1)
        #expect(!FileManager.default.fileExists(atPath: bed.state.appendingPathComponent("cache").path))
        // Without one, the pod's state folder keeps it, as before.
        _ = try bed.run(.status)
        #expect(try FileManager.default.contentsOfDirectory(atPath: bed.state.appendingPathComponent("cache").path) == kept)
    }
}
