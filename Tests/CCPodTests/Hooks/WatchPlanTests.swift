@testable import CCPodKit
import Foundation
import Testing

/// The watch's pure parts: back-off, intervals, the service files, the round loop.
@Suite struct WatchPlanTests {
    @Test("Back-off doubles up to the cap, is said once, and once when the pod is back")
    func backoff() {
        var b = WatchBackoff(interval: 30, cap: 300)
        #expect(b.delay == 30)
        #expect(b.failed() == true)
        #expect(b.delay == 60)
        #expect(b.failed() == false)
        #expect(b.delay == 120)
        for _ in 0..<10 { _ = b.failed() }
        #expect(b.delay == 300)
        #expect(b.succeeded() == true)
        #expect(b.delay == 30)
        #expect(b.succeeded() == false)
    }

    @Test func intervals() throws {
        #expect(try WatchBackoff.parseInterval("30s") == 30)
        #expect(try WatchBackoff.parseInterval("2m") == 120)
        #expect(try WatchBackoff.parseInterval("45") == 45)
        #expect(throws: CCPodError.self) { try WatchBackoff.parseInterval("0s") }
        #expect(throws: CCPodError.self) { try WatchBackoff.parseInterval("soon") }
    }

    @Test("The systemd unit quotes every word; the launchd agent escapes XML")
    func serviceFiles() {
        let env = ["HOME": "/h", "XDG_CONFIG_HOME": "/x", "CLAUDE_CONFIG_DIR": "/c $1"]
        let unit = WatchServicePlan.make(kind: .systemd, pod: "gpu/1", arguments: ["/bin/ccpod", "watch", "--project", "/p 100%"], environment: env)
        #expect(unit.file.path == "/x/systemd/user/ccpod-watch-gpu_1.service")
        #expect(unit.text.contains("ExecStart=\"/bin/ccpod\" \"watch\" \"--project\" \"/p 100%%\""))
        #expect(unit.text.contains("Environment=\"CLAUDE_CONFIG_DIR=/c $$1\""))
        let agent = WatchServicePlan.make(kind: .launchd, pod: "gpu", arguments: ["/bin/ccpod", "a<b"], environment: env)
        #expect(agent.file.path == "/h/Library/LaunchAgents/dev.ccpod.watch.gpu.plist")
        #expect(agent.text.contains("<string>a&lt;b</string>"))
    }

    @Test("The loop prints moving rounds only, says unreachable and back once each, skips busy rounds")
    func loop() {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-watch-\(UUID().uuidString.prefix(6))").path
        let script: [WatchLoop.Round] = [.nothing, .moved("one"), .busy, .unreachable("refused"), .unreachable("refused"),
                                         .unreachable("refused"), .nothing, .moved("two"), .failed("bad"), .failed("bad")]
        var outputs: [String] = []
        var notes: [String] = []
        var loop = WatchLoop(podName: "gpu1", backoff: WatchBackoff(interval: 0.001, cap: 0.004),
                             watcher: LocalChangeWatcher(folders: [folder], polling: true),
                             output: { outputs.append($0) }, note: { notes.append($0) })
        var index = 0
        loop.run(stop: { index >= script.count }) {
            defer { index += 1 }
            return script[index]
        }
        #expect(outputs == ["one", "two"])
        #expect(notes.filter { $0.hasPrefix("gpu1 unreachable; retrying every") }.count == 1, "\(notes)")
        #expect(notes.filter { $0 == "gpu1 is reachable again" }.count == 1, "\(notes)")
        #expect(notes.filter { $0.hasPrefix("watch: bad") }.count == 1, "\(notes)")
        #expect(notes.count == 3, "\(notes)")
    }
}
