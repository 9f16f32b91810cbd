import CCPodKit
import Foundation
import Testing

/// The pod-side scripts of setup and launch: shellcheck-clean, parsed as expected.
struct PodScriptTests {
    @Test(.enabled(if: ChildProcess.exists("shellcheck"), "shellcheck is not installed"))
    func shellcheckFindsNothing() throws {
        for (name, source) in [("setup", PodSetup.source), ("launch", PodLaunch.source), ("autostop", PodAutostop.source)] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).sh")
            try source.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let out = try ChildProcess.run("shellcheck", ["-s", "sh", file.path])
            #expect(out.status == 0, "\(name): \(out.stdoutText)")
        }
    }

    @Test func setupAnswersAreParsed() throws {
        let text = """
        step projects done moved into /w/projects and linked
        step tmux missing tmux is not installed
        info kept-aside /w/migrated-1/projects/-p/a.jsonl
        info tmux ccpod-demo 1 1700000000
        info gpu NVIDIA H100, 10, 80, 5
        end 1
        """
        let report = try PodSetup.parse(text, pod: "gpu")
        #expect(!report.ok)
        #expect(report.changed)
        #expect(!report.onlyTmuxMissing || report.problems.count == 1)
        #expect(report.tmuxSessions == [TmuxSession(name: "ccpod-demo", attached: 1, created: 1_700_000_000)])
        #expect(report.keptAside == ["/w/migrated-1/projects/-p/a.jsonl"])
        #expect(throws: CCPodError.self) { try PodSetup.parse("step projects ok x\n", pod: "gpu") }
    }

    @Test func sessionNamesAreTmuxSafe() {
        #expect(PodLaunch.sessionName(projectRoot: "/Users/me/my_app.v2") == "ccpod-my_app-v2")
        #expect(PodLaunch.sessionName(projectRoot: "/data/🚀") == "ccpod-project")
    }
}
