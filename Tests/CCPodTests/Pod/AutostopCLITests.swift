import CCPodKit
import CCPodTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod pod autostop` through the real binary and the loopback sshd, the RunPod API
/// faked: the watchdog outlives the ssh connection, `setup` brings it back after a
/// restart, and its note is shown once at the next contact.
@Suite(.enabled(if: LoopbackSSHD.isAvailable && launchTestBinary != nil && ChildProcess.exists("tmux") && ChildProcess.exists("curl"),
                "needs sshd, tmux, curl and the built ccpod"))
struct AutostopCLITests {
    final class Bed {
        let launch: LaunchTestBed
        let fake: FakeRunPodAPI
        let runpodId = "ap\(UUID().uuidString.prefix(8).lowercased())"
        var dir: String { launch.persistentDir + "/autostop" }

        init() throws {
            launch = try LaunchTestBed()
            fake = try FakeRunPodAPI()
            fake.setPod(.init(id: runpodId, sshPort: launch.pod.sshd.port, cost: 0.44))
            var config = try CCPodConfig.load(from: launch.pod.locations)
            config.pods["gpu"]?.runpodId = runpodId
            try config.save(to: launch.pod.locations)
        }

        func ccpod(_ arguments: [String], key: Bool = true, keyValue: String? = nil) throws -> ChildProcess.Output {
            var env = launch.environment(auth: false)
            if key { env["RUNPOD_API_KEY"] = keyValue ?? fake.apiKey }
            env["RUNPOD_API_URL"] = fake.baseURL.absoluteString
            return try ChildProcess.run(launchTestBinary!, arguments, environment: env, directory: launch.localProject)
        }

        /// The live watchdog's pid (its pid file, and a process running this folder's script).
        func watchdog() -> pid_t? {
            guard let text = try? String(contentsOfFile: dir + "/watchdog.pid", encoding: .utf8),
                  let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            return String(decoding: cmdline.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(dir + "/autostop.sh run") ? pid : nil
        }

        /// Checks the watchdog has made so far.
        func checks() -> Int {
            let text = (try? String(contentsOfFile: dir + "/state", encoding: .utf8)) ?? ""
            let f = text.split(separator: " ")
            return f.count > 1 ? Int(f[1]) ?? 0 : 0
        }

        func waitUntil(seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition() { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return condition()
        }

        /// A pod restart: every process inside killed (the watchdog too), only /workspace kept.
        func restart() throws {
            if let pid = watchdog() { kill(pid, SIGKILL) }
            try launch.simulateRestart()
        }

        deinit {
            if let pid = watchdog() { kill(pid, SIGKILL) }
            fake.shutdown()
        }
    }

    @Test func theWatchdogOutlivesSSHAndSetupBringsItBackAfterARestart() async throws {
        let bed = try Bed()
        #expect(try bed.ccpod(["setup"]).status == 0)
        let on = try bed.ccpod(["pod", "autostop", "gpu", "--idle", "1h", "--interval", "1", "--json"])
        #expect(on.status == 0, "\(on.stderrText)")
        let status = try JSONSerialization.jsonObject(with: on.stdout) as? [String: Any]
        #expect(status?["runpodId"] as? String == bed.runpodId)
        #expect(status?["costPerHour"] as? Double == 0.44)
        let pid = try #require(bed.watchdog())
        #expect((status?["watchdogPid"] as? Int).map { pid_t($0) } == pid)

        // The ssh connection goes away; the watchdog goes on checking.
        try bed.launch.pod.connection().closeMaster()
        #expect(try bed.launch.masterPid() == nil)
        let before = bed.checks()
        #expect(await bed.waitUntil { bed.checks() >= before + 2 })
        #expect(bed.watchdog() == pid)

        let shown = try bed.ccpod(["pod", "autostop", "gpu"])
        #expect(shown.stdoutText.contains("autostop on gpu: on, stops RunPod pod \(bed.runpodId) after 1 h idle"), "\(shown.stdoutText)")
        #expect(shown.stdoutText.contains("watchdog: running (pid \(pid))"), "\(shown.stdoutText)")

        // After a restart, setup starts it again with the key from here (it was not stored on the pod).
        try bed.restart()
        #expect(bed.watchdog() == nil)
        let repaired = try bed.ccpod(["setup"])
        #expect(repaired.status == 0, "\(repaired.stderrText)")
        #expect(repaired.stdoutText.contains("restarted the watchdog with the API key from here"), "\(repaired.stdoutText)")
        #expect(bed.watchdog() != nil)

        // Without a key here it says how to bring it back, and setup itself succeeds.
        try bed.restart()
        let keyless = try bed.ccpod(["setup"], key: false)
        #expect(keyless.status == 0, "\(keyless.stderrText)")
        #expect(keyless.stderrText.contains("autostop on gpu is on, but its watchdog is not running"), "\(keyless.stderrText)")
        #expect(bed.watchdog() == nil)

        // With --persist-key the pod restarts it by itself.
        #expect(try bed.ccpod(["pod", "autostop", "gpu", "--idle", "1h", "--interval", "1", "--persist-key"]).status == 0)
        try bed.restart()
        let stored = try bed.ccpod(["setup"], key: false)
        #expect(stored.stdoutText.contains("restarted the watchdog"), "\(stored.stdoutText)")
        #expect(bed.watchdog() != nil)

        let off = try bed.ccpod(["pod", "autostop", "gpu", "--off"], key: false)
        #expect(off.status == 0)
        #expect(off.stdoutText.contains("off"))
        #expect(bed.watchdog() == nil)
        #expect(!FileManager.default.fileExists(atPath: bed.dir + "/key"))
        #expect(try bed.ccpod(["pod", "autostop", "gpu"], key: false).stdoutText == "autostop on gpu: off\n")
        // Only reads: nothing was ever stopped (an hour never went by).
        #expect(bed.fake.requests.allSatisfy { $0.method == "GET" })
    }

    @Test func theNoteIsShownOnceAtTheNextContact() async throws {
        let bed = try Bed()
        #expect(try bed.ccpod(["pod", "autostop", "gpu", "--idle", "1s", "--interval", "1"]).status == 0)
        #expect(await bed.waitUntil { bed.fake.requests.contains { $0.method == "POST" } && bed.watchdog() == nil })
        #expect(bed.fake.pod(bed.runpodId)?.status == "EXITED")

        // The next sync says it, once.
        let first = try bed.ccpod(["status"])
        #expect(first.stderrText.contains("gpu stopped itself at "), "\(first.stderrText)")
        #expect(first.stderrText.contains("pod-hours saved (about $"), "\(first.stderrText)")
        #expect(!first.stderrText.contains("warning: pod: autostop-note"))
        let second = try bed.ccpod(["status"])
        #expect(!second.stderrText.contains("stopped itself"), "\(second.stderrText)")

        // check and setup say it too, once, when the watchdog left another one; escaped.
        let note = "gpu\u{1B}[31m \(Int(Date().timeIntervalSince1970) - 7200) 1800 1 1.5000\n"
        try note.write(toFile: bed.dir + "/note", atomically: true, encoding: .utf8)
        let check = try bed.ccpod(["check"])
        // "at 22:30", or "on <date> at 22:30" when two hours ago was yesterday (a run just after midnight).
        #expect(check.stderrText.contains("the pod stopped itself at ") || check.stderrText.contains("the pod stopped itself on "),
                "\(check.stderrText)")
        // Stopped until the container started again (this machine's pid 1) or until now: at most 2 h, $1.50 an hour.
        let said = try #require(check.stderrText.split(separator: "\n").first { $0.contains("stopped itself") }.map(String.init))
        let numbers = said.components(separatedBy: "after 30 min idle; ").last?.components(separatedBy: CharacterSet(charactersIn: "0123456789.").inverted)
            .compactMap(Double.init) ?? []
        #expect(numbers.count == 2, "\(said)")
        if numbers.count == 2 {
            #expect(numbers[0] > 0 && numbers[0] <= 2.0, "\(said)")
            #expect(abs(numbers[1] - numbers[0] * 1.5) <= 0.1, "\(said)")
        }
        #expect(!check.stderrText.contains("\u{1B}"))
        try "gpu 1796000000 600 0 -\n".write(toFile: bed.dir + "/note", atomically: true, encoding: .utf8)
        let setup = try bed.ccpod(["setup"])
        #expect(setup.stderrText.contains("gpu stopped itself on "), "\(setup.stderrText)")
        #expect(try !bed.ccpod(["setup"]).stderrText.contains("stopped itself"))
        #expect(try !bed.ccpod(["check"]).stderrText.contains("stopped itself"))
    }

    @Test func withoutAKeyOrWithARejectedOneNothingIsInstalled() throws {
        let bed = try Bed()
        let none = try bed.ccpod(["pod", "autostop", "gpu", "--idle", "30m"], key: false)
        #expect(none.status == 64)
        #expect(none.stderrText.contains("RUNPOD_API_KEY"), "\(none.stderrText)")
        let rejected = try bed.ccpod(["pod", "autostop", "gpu", "--idle", "30m"], keyValue: "rpa_NOTTHEKEY")
        #expect(rejected.status == 77, "\(rejected.stderrText)")
        #expect(!rejected.stderrText.contains("rpa_NOTTHEKEY"))
        #expect(!FileManager.default.fileExists(atPath: bed.dir + "/config"))
        #expect(bed.watchdog() == nil)
    }
}
