@testable import CCPodCLI
import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// `launch` and `attach` put their time in Claude into the ledger.
@Suite struct CostLaunchTests {
    @Test(.enabled(if: LoopbackSSHD.isAvailable && launchTestBinary != nil && ChildProcess.exists("tmux"),
                   "needs sshd, tmux and the built ccpod"))
    func aLaunchIsRecordedWithItsProjectAndRun() async throws {
        let bed = try LaunchTestBed()
        try bed.writeLocalSession("5e55e55e-0000-4000-8000-0000000000c0", lines: 2)
        try bed.startInTerminal(["launch", "--pod-path", bed.podProject], tag: "cost")
        let running = await bed.waitUntil { bed.standInRunning }
        #expect(running)
        // While Claude runs, the session is open.
        let ledger = try CostLedger(file: bed.root.appendingPathComponent("state/ccpod/ledger.sqlite"))
        let open = try ledger.snapshot(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(60)).sessions
        #expect(open.count == 1 && open.first?.end == nil)
        try bed.release(exitCode: 0)
        let exit = await bed.waitForExit(tag: "cost")
        #expect(exit.status == 0, "\(exit.stderr)")
        let sessions = try ledger.snapshot(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(60)).sessions
        let session = try #require(sessions.first)
        #expect(sessions.count == 1)
        #expect(session.pod == "gpu")
        #expect(session.kind == .launch)
        #expect(session.project == ProjectSlug.resolvedPath(URL(fileURLWithPath: bed.localProject)))
        #expect(session.run == "demo")
        let end = try #require(session.end)
        #expect(end >= session.start)
    }

    @Test func theSessionIsRecordedAroundItsWorkEvenWhenTheWorkFails() throws {
        let bed = try CostTestBed()
        struct Broke: Error {}
        try CLIContext.$environment.withValue(bed.environment()) {
            let value = try CostRecording.session(.attach, pod: "gpu1", project: "/p/a", podPath: "/workspace/runs/r_1/code") { 7 }
            #expect(value == 7)
            #expect(throws: Broke.self) {
                try CostRecording.session(.launch, pod: "gpu1", project: "/p/b", podPath: nil) { throw Broke() }
            }
        }
        let sessions = try bed.ledger().snapshot(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(60)).sessions
        #expect(sessions.map(\.project) == ["/p/a", "/p/b"])
        #expect(sessions.map(\.run) == ["r_1", nil])
        #expect(sessions.map(\.kind) == [.attach, .launch])
        #expect(sessions.allSatisfy { $0.end != nil })

        // A ledger that cannot be opened never stops the work.
        try FileManager.default.removeItem(at: bed.ledgerFile)
        try Data("garbage".utf8).write(to: bed.ledgerFile)
        let ran = try CLIContext.$environment.withValue(bed.environment()) {
            try CostRecording.session(.launch, pod: "gpu1", project: "/p/c", podPath: nil) { true }
        }
        #expect(ran)
    }
}
