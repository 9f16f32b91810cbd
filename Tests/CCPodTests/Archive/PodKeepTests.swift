import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// Pod space over a real sshd: `push --only-recent` sends only sessions active in the
/// window; `pod_keep = "active"` then removes from the pod the older sessions verified
/// identical at home. The laptop keeps every session, and a later pull (even with
/// --delete) does not take the pod's trimmed copies' absence for a deletion.
@Suite(.enabled(if: LoopbackSSHD.isAvailable, "sshd is not installed (apt-get install openssh-server)"))
struct PodKeepTests {
    let old = "0000000a-2222-4333-8444-555555555555"
    let recent = "0000000b-2222-4333-8444-555555555555"
    let neverPushed = "0000000c-2222-4333-8444-555555555555"
    let grewOnPod = "0000000d-2222-4333-8444-555555555555"
    static let window: TimeInterval = 14 * 86400

    func makeOld(_ bed: SyncTestBed, _ id: String) throws {
        try ArchiveBed.setMtime(bed.localTranscript(id), ns: ArchiveBed.now - 30 * ArchiveBed.day)
    }

    @Test("push --only-recent sends only recent sessions and leaves the rest alone on both sides")
    func onlyRecent() throws {
        let (pod, bed, _) = try SyncOverSSHTests.sshBed()
        defer { withExtendedLifetime(pod) {} }
        defer { bed.remove() }
        for id in [old, recent] { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 10), to: bed.localTranscript(id)) }
        try bed.run(.push)
        try SyncTestBed.write(SyncTestBed.lines(session: neverPushed, count: 10), to: bed.localTranscript(neverPushed))
        // The old session grew here long ago (a plain push would append it on the pod).
        try SyncTestBed.append(SyncTestBed.lines(session: old, count: 2, start: 10), to: bed.localTranscript(old))
        for id in [old, neverPushed] { try makeOld(bed, id) }
        try SyncTestBed.append(SyncTestBed.lines(session: recent, count: 2, start: 10), to: bed.localTranscript(recent))
        let podOld = SyncTestBed.read(bed.podTranscript(old))
        var options = SyncOptions(direction: .push, delete: true, busySeconds: 0)
        options.onlyRecent = Self.window
        let report = try bed.engine().run(scope: bed.scope, options: options)
        #expect(report.items.contains { $0.path.hasSuffix("\(recent).jsonl") && $0.action == .pushed }, "\(report.items)")
        #expect(!report.items.contains { $0.path.contains(old) || $0.path.contains(neverPushed) }, "\(report.items)")
        #expect(!FileManager.default.fileExists(atPath: bed.podTranscript(neverPushed)))
        #expect(SyncTestBed.read(bed.podTranscript(old)) == podOld)
        #expect(report.warnings.contains { $0.hasPrefix("2 sessions not active here") }, "\(report.warnings)")
        #expect(SyncTestBed.read(bed.localTranscript(recent)) == SyncTestBed.read(bed.podTranscript(recent)))
        // Without the window, the same push sends both.
        let plain = try bed.run(.push)
        #expect(plain.items.contains { $0.path.hasSuffix("\(old).jsonl") && $0.action == .pushed }, "\(plain.items)")
        #expect(FileManager.default.fileExists(atPath: bed.podTranscript(neverPushed)))
    }

    @Test("pod_keep active: older sessions verified at home leave the pod, stay here, and pull --delete keeps them here")
    func podKeepActive() throws {
        let (pod, bed, connection) = try SyncOverSSHTests.sshBed()
        defer { withExtendedLifetime(pod) {} }
        defer { bed.remove() }
        for id in [old, recent, grewOnPod] { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 10), to: bed.localTranscript(id)) }
        let history = "file-history/\(old)/9c1e@v1"
        try SyncTestBed.write(Data("checkpoint\n".utf8), to: "\(bed.localClaude)/\(history)")
        try bed.run(.push)
        #expect(FileManager.default.fileExists(atPath: "\(bed.podClaude)/\(history)"))
        for id in [old, grewOnPod] { try makeOld(bed, id) }
        // Claude on the pod went on with one old session: it is not home, so it stays there.
        try SyncTestBed.append(SyncTestBed.lines(session: grewOnPod, count: 2, start: 10), to: bed.podTranscript(grewOnPod))
        let before = [old, recent, grewOnPod].map { SyncTestBed.read(bed.localTranscript($0)) }

        let trim = try PodKeepTrim.run(connection: connection, podStateDir: bed.state, claudeDir: bed.localClaude,
                                       scope: bed.scope, window: Self.window)
        #expect(trim.sessions == 1)
        #expect(trim.unverified == 1)
        #expect(!FileManager.default.fileExists(atPath: bed.podTranscript(old)))
        #expect(!FileManager.default.fileExists(atPath: "\(bed.podClaude)/\(history)"))
        #expect(FileManager.default.fileExists(atPath: bed.podTranscript(recent)))
        #expect(FileManager.default.fileExists(atPath: bed.podTranscript(grewOnPod)))
        #expect([old, recent, grewOnPod].map { SyncTestBed.read(bed.localTranscript($0)) } == before)
        #expect(FileManager.default.fileExists(atPath: "\(bed.localClaude)/\(history)"))

        // Later pulls, even with --delete, take nothing away here.
        let pull = try bed.run(.pull, delete: true)
        #expect(!pull.items.contains { $0.action == .deletedHere }, "\(pull.items)")
        #expect(SyncTestBed.read(bed.localTranscript(old)) == before[0])
        #expect(FileManager.default.fileExists(atPath: "\(bed.localClaude)/\(history)"))
        // And a plain push puts it back on the pod (a push --only-recent would not).
        var options = SyncOptions(direction: .push, busySeconds: 0)
        options.onlyRecent = Self.window
        _ = try bed.engine().run(scope: bed.scope, options: options)
        #expect(!FileManager.default.fileExists(atPath: bed.podTranscript(old)))
        try bed.run(.push)
        #expect(SyncTestBed.read(bed.podTranscript(old)) == before[0])
    }
}

extension PodKeepTests {
    @Test("ccpod push, once the pod has pod_keep = \"active\": the older session leaves the pod and stays here")
    func pushCommandHonoursPodKeep() throws {
        let (pod, bed, _) = try SyncOverSSHTests.sshBed()
        defer { withExtendedLifetime(pod) {} }
        defer { bed.remove() }
        let project = bed.root.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        let slug = ProjectSlug.of(ProjectSlug.resolvedPath(project))
        let podPath = "/workspace/runs/keep/code"
        let local = { (id: String) in "\(bed.localClaude)/projects/\(slug)/\(id).jsonl" }
        let remote = { (id: String) in "\(bed.podClaude)/projects/\(ProjectSlug.of(podPath))/\(id).jsonl" }
        for id in [old, recent] { try SyncTestBed.write(SyncTestBed.lines(session: id, count: 10), to: local(id)) }
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": pod.root.path,
                   "XDG_CONFIG_HOME": pod.root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": pod.root.appendingPathComponent("state").path]
        let push = ["push", "--pod", "gpu", "--project", project.path, "--pod-path", podPath, "--claude-dir", bed.localClaude, "--busy-seconds", "0"]
        try runCCPod(push, env)
        #expect(FileManager.default.fileExists(atPath: remote(old)) && FileManager.default.fileExists(atPath: remote(recent)))

        var config = try CCPodConfig.load(from: pod.locations)
        config.pods["gpu"]?.podKeep = .active
        try config.save(to: pod.locations)
        try ArchiveBed.setMtime(local(old), ns: ArchiveBed.now - 30 * ArchiveBed.day)
        let kept = SyncTestBed.read(local(old))
        try runCCPod(push, env)
        #expect(!FileManager.default.fileExists(atPath: remote(old)))
        #expect(FileManager.default.fileExists(atPath: remote(recent)))
        #expect(SyncTestBed.read(local(old)) == kept)
        try runCCPod(["pull", "--delete"] + push.dropFirst(), env)
        #expect(SyncTestBed.read(local(old)) == kept)
    }
}

@Suite("pod_keep in config.toml")
struct PodKeepConfigTests {
    static let text = """
        [pods.gpu1]
        direct = { user = "root", host = "203.0.113.7", port = 41022 }
        pod_keep = "active"
        pod_keep_days = 7
        """

    @Test("pod_keep and pod_keep_days are known keys, read, checked and written back")
    func keys() throws {
        #expect(ConfigKeyCheck.configWarnings(Self.text, origin: "config.toml").isEmpty)
        let config = try CCPodConfig.parse(Self.text)
        let pod = try config.pod(named: "gpu1")
        #expect(pod.podKeep == .active)
        #expect(pod.podKeepWindow == 7.0 * 86400)
        #expect(try CCPodConfig.parse(try config.serialized()).pod(named: "gpu1").podKeepWindow == 7.0 * 86400)
        let defaults = try CCPodConfig.parse(Self.text.replacingOccurrences(of: "pod_keep_days = 7", with: "")).pod(named: "gpu1")
        #expect(defaults.podKeepWindow == 14.0 * 86400)
        #expect(try CCPodConfig.parse(Self.text.replacingOccurrences(of: "\"active\"", with: "\"all\"")).pod(named: "gpu1").podKeepWindow == nil)
        #expect(throws: CCPodError.self) { try CCPodConfig.parse(Self.text.replacingOccurrences(of: "\"active\"", with: "\"recent\"")) }
        #expect(throws: CCPodError.self) { try CCPodConfig.parse(Self.text.replacingOccurrences(of: "= 7", with: "= 0")) }
    }
}
