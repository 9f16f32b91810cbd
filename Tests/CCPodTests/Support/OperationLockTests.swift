import CCPodKit
import Foundation
import Testing

@Suite struct OperationLockTests {
    func stateDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func aSecondHolderIsRefusedWithoutWaitAndNamesTheFirst() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try OperationLock.acquire([.pod("gpu1"), .claudeDir(dir.path)], stateDir: dir, purpose: "syncing with gpu1")
        do {
            _ = try OperationLock.acquire([.pod("gpu1")], stateDir: dir, purpose: "pulling", wait: false)
            Issue.record("a second lock of the same pod was granted")
        } catch let error as CCPodError {
            #expect(error.status == .busy)
            #expect(error.message.contains("ccpod pid \(getpid()), syncing with gpu1"))
        }
        // Another pod and another Claude dir are not held.
        let other = try OperationLock.acquire([.pod("gpu2"), .claudeDir(dir.path + "/other")], stateDir: dir, purpose: "x", wait: false)
        other.forEach { $0.release() }
        first.forEach { $0.release() }
        let again = try OperationLock.acquire([.pod("gpu1")], stateDir: dir, purpose: "pulling", wait: false)
        again.forEach { $0.release() }
    }

    @Test func aWaiterSaysWhomItWaitsForAndGetsTheLockWhenItIsFree() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try OperationLock.acquire([.claudeDir(dir.path)], stateDir: dir, purpose: "syncing with gpu1")
        let said = Locked<[String]>([])
        let got = DispatchSemaphore(value: 0)
        let started = Date()
        Thread.detachNewThread {
            let second = try? OperationLock.acquire([.claudeDir(dir.path)], stateDir: dir, purpose: "pulling", patience: 0.3) { line in
                said.withLock { $0.append(line) }
            }
            #expect(second?.count == 1)
            second?.forEach { $0.release() }
            got.signal()
        }
        Thread.sleep(forTimeInterval: 1.0)
        #expect(said.current == ["waiting for ccpod pid \(getpid()), syncing with gpu1"])
        first.forEach { $0.release() }
        #expect(got.wait(timeout: .now() + 5) == .success)
        #expect(Date().timeIntervalSince(started) >= 1.0)
    }

    @Test func aLockOfAProcessThatDiedIsTakenOver() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Take it in a child process that then dies without releasing it.
        _ = try OperationLock.acquire([.pod("gpu1")], stateDir: dir, purpose: "x", wait: false).map { $0.release() }
        let lockFile = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/locks").first { $0.hasPrefix("pod-gpu1") }!
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "exec 9>>\"$1\"; flock 9; echo 'ccpod pid 1, dying' >&9; kill -9 $$", "sh", dir.path + "/locks/" + lockFile])
        _ = child.wait()
        let taken = try OperationLock.acquire([.pod("gpu1")], stateDir: dir, purpose: "after", wait: false)
        #expect(taken.count == 1)
    }
}
