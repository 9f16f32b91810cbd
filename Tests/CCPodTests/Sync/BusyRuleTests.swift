@testable import CCPodKit
import Foundation
import Testing

/// When a file counts as being written. Claude registers each running session in
/// `sessions/<pid>.json`; where that registry exists, a session no live claude holds
/// moves at once, however recently it changed (`launch --session X` right after the
/// local claude exited must carry X).
@Suite("Busy: a live claude, not a recent change")
struct BusyRuleTests {
    let id = "11111111-2222-4333-8444-555555555555"
    static let fiveSeconds: Int64 = 5_000_000_000

    @Test func theRuleAsATable() {
        let id = self.id
        let rows: [(String, String?, Set<String>, Bool, Int64, Bool)] = [
            ("held by a live claude", id, [id], true, 60 * Self.fiveSeconds, true),
            ("held, no registry", id, [id], false, 60 * Self.fiveSeconds, true),
            ("registry, none holds it, changed just now", id, [], true, 0, false),
            ("no registry, changed just now", id, [], false, 0, true),
            ("no registry, changed long ago", id, [], false, 2 * Self.fiveSeconds, false),
            ("not a session (settings.json), registry, just now", nil, [], true, 0, true),
            ("not a session, long ago", nil, [], true, 2 * Self.fiveSeconds, false),
            ("a name that is not a session id, registry, just now", "agent-5f64e071", [], true, 0, true),
        ]
        for (name, session, live, registry, age, busy) in rows {
            #expect(LocalScan.isBusy(sessionId: session, live: live, registry: registry, age: age, busySeconds: 5) == busy, "\(name)")
        }
    }

    @Test func aSessionJustWrittenMovesWhenNoLiveClaudeHoldsIt() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try FileManager.default.createDirectory(atPath: bed.localClaude + "/sessions", withIntermediateDirectories: true)
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        // The default window, as launch's push uses it.
        let report = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .push))
        #expect(report.items.map(\.action) == [.copiedToPod])
        #expect(SyncTestBed.read(bed.podTranscript(id)) == SyncTestBed.read(bed.localTranscript(id)))
    }

    @Test func aSessionALiveClaudeHoldsWaits() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let registry = bed.localClaude + "/sessions/\(getpid()).json"
        try SyncTestBed.write(Data("{\"pid\":\(getpid()),\"sessionId\":\"\(id)\",\"cwd\":\"/x\"}".utf8), to: registry)
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        let report = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .push, busySeconds: 0))
        #expect(report.items.map(\.action) == [.busy])
        #expect(!FileManager.default.fileExists(atPath: bed.podTranscript(id)))
        try FileManager.default.removeItem(atPath: registry)
        #expect(try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .push, busySeconds: 60)).items.map(\.action)
                == [.copiedToPod])
    }

    /// The pod keeps the same rule: its claude's registry decides, not the file's age.
    @Test func onThePodTooTheRegistryDecides() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 3), to: bed.localTranscript(id))
        try bed.run(.push)
        try SyncTestBed.append(SyncTestBed.lines(session: id, count: 2, start: 3), to: bed.podTranscript(id))
        // No registry on the pod: changed just now, so it waits.
        let waiting = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .pull, busySeconds: 60))
        #expect(waiting.items.map(\.action) == [.busy])
        // A live claude holds it (this process stands in for it): it waits.
        let registry = bed.podClaude + "/sessions/\(getpid()).json"
        try SyncTestBed.write(Data("{\"pid\":\(getpid()),\"sessionId\":\"\(id)\"}".utf8), to: registry)
        let held = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .pull, busySeconds: 60))
        #expect(held.items.map(\.action) == [.busy])
        // It exited: the registry is there, no one holds the session, it comes home at once.
        try FileManager.default.removeItem(atPath: registry)
        let pulled = try bed.engine().run(scope: bed.scope, options: SyncOptions(direction: .pull, busySeconds: 60))
        #expect(pulled.items.map(\.action) == [.pulled])
        #expect(SyncTestBed.read(bed.localTranscript(id)) == SyncTestBed.read(bed.podTranscript(id)))
    }

    /// The pod's registry as claudes leave it: one file per process, written on one line
    /// or over several with the id before the pid, some of processes long gone, some
    /// empty or half written. Only a session a live process names waits. A fifo among
    /// them is not read (it would hold the agent forever).
    @Test func onThePodEveryRegistryFileIsReadAndOnlyALiveOneHolds() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let held = "11111111-2222-4333-8444-000000000001", gone = "11111111-2222-4333-8444-000000000002"
        for session in [held, gone] {
            try SyncTestBed.write(SyncTestBed.lines(session: session, count: 3), to: bed.localTranscript(session))
        }
        try bed.run(.push)
        for session in [held, gone] {
            try SyncTestBed.append(SyncTestBed.lines(session: session, count: 2, start: 3), to: bed.podTranscript(session))
        }
        let exited = try ChildProcess.run("/bin/sh", ["-c", "echo $$"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let sessions = bed.podClaude + "/sessions/"
        try SyncTestBed.write(Data("{\n  \"sessionId\": \"\(held)\",\n  \"cwd\": \"/w\",\n  \"pid\": \(getpid())\n}\n".utf8),
                              to: sessions + "\(getpid()).json")
        try SyncTestBed.write(Data("{\"pid\":\(exited),\"sessionId\":\"\(gone)\"}".utf8), to: sessions + "\(exited).json")
        try SyncTestBed.write(Data(), to: sessions + "1.json")
        try SyncTestBed.write(Data("{\"pid\": \(getpid()),".utf8), to: sessions + "2.json")
        #expect(mkfifo(sessions + "3.json", 0o600) == 0)
        // On a thread of its own, so an agent held by the fifo fails the test, not the run.
        let outcome = Locked<Result<SyncReport, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let engine = bed.engine(), scope = bed.scope
        Thread.detachNewThread {
            let result = Result { try engine.run(scope: scope, options: SyncOptions(direction: .pull, busySeconds: 60)) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        try #require(done.wait(timeout: .now() + 60) == .success, "the pod's agent was held by a fifo in the registry")
        let report = try #require(outcome.current).get()
        let actions = Dictionary(report.items.map { ($0.path, $0.action) }, uniquingKeysWith: { a, _ in a })
        #expect(actions.first { $0.key.contains(held) }?.value == .busy, "\(report.items)")
        #expect(actions.first { $0.key.contains(gone) }?.value == .pulled, "\(report.items)")
        #expect(SyncTestBed.read(bed.localTranscript(gone)) == SyncTestBed.read(bed.podTranscript(gone)))
    }
}
