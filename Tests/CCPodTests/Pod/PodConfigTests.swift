@testable import CCPodCLI
import CCPodKit
import Foundation
import Testing

private func tempLocations() throws -> (URL, CCPodLocations) {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-c-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    return (root, CCPodLocations(configDir: root.appendingPathComponent("config/ccpod"),
                                 stateDir: root.appendingPathComponent("state/ccpod")))
}

@Suite struct PodConfigTests {
    @Test func roundTripKeepsEveryFieldAndOtherSections() throws {
        let (root, locations) = try tempLocations()
        defer { try? FileManager.default.removeItem(at: root) }
        try CCPodLocations.makePrivateDirectory(locations.configDir)
        try "# mine\n[sync]\nexclude = [\"a\", \"b\"]\n".write(to: locations.configFile, atomically: true, encoding: .utf8)
        var config = try CCPodConfig.load(from: locations)
        config.pods["gpu1"] = PodSettings(
            name: "gpu1", direct: SSHEndpoint(user: "root", host: "203.0.113.7", port: 41022),
            identity: "/keys/id", proxy: SSHEndpoint(user: "abc123-64411e4c", host: "ssh.runpod.io"),
            runpodId: "abc123", apiKeyFile: "/keys/runpod",
            paths: PodPaths(claudeDir: "/root/.claude2", workspace: "/data"), sshOptions: ["-F", "/dev/null"])
        config.pods["v6"] = PodSettings(name: "v6", direct: SSHEndpoint(user: "me", host: "::1", port: 2222))
        config.defaultPod = "gpu1"
        try config.save(to: locations)
        let loaded = try CCPodConfig.load(from: locations)
        #expect(loaded == config)
        #expect(loaded.pods["gpu1"]?.paths.persistentDir == "/workspace/claude-sessions")
        #expect(loaded.pods["v6"]?.direct?.description == "me@[::1]:2222")
        let text = try String(contentsOf: locations.configFile, encoding: .utf8)
        #expect(text.contains("exclude"))
        let file = try FileManager.default.attributesOfItem(atPath: locations.configFile.path)
        #expect((file[.posixPermissions] as? Int) == 0o600)
        let dir = try FileManager.default.attributesOfItem(atPath: locations.configDir.path)
        #expect((dir[.posixPermissions] as? Int) == 0o700)
    }

    /// `claudeEnv`: the pod's environment for Claude, read, written back, checked, and
    /// set in the tmux pane before claude starts (values quoted, never run).
    @Test func claudeEnvironmentPerPod() throws {
        let (root, locations) = try tempLocations()
        defer { try? FileManager.default.removeItem(at: root) }
        try CCPodLocations.makePrivateDirectory(locations.configDir)
        try """
        [pods.gpu1]
        direct = "root@203.0.113.7:41022"
        claudeEnv = { HF_HOME = "/workspace/hf", WANDB_MODE = "offline", ODD = "it's $(not run)" }
        """.write(to: locations.configFile, atomically: true, encoding: .utf8)
        let config = try CCPodConfig.load(from: locations)
        let env = try #require(config.pods["gpu1"]).runtime.claudeEnvironment
        #expect(env == ["HF_HOME": "/workspace/hf", "WANDB_MODE": "offline", "ODD": "it's $(not run)"])
        try config.save(to: locations)
        #expect(try CCPodConfig.load(from: locations) == config)

        let target = SSHTarget(name: "gpu1", endpoint: SSHEndpoint(user: "root", host: "203.0.113.7", port: 41022),
                               knownHostsFile: root.appendingPathComponent("known_hosts"))
        let launch = PodLaunch(connection: SSHConnection(target: target, paths: PodPaths(), locations: locations),
                               runtime: config.pods["gpu1"]!.runtime)
        let script = launch.paneScript(session: "s", podDirectory: "/w/code", podSlug: "-w-code", start: .fresh, claudeArguments: [])
        #expect(script.contains("HF_HOME=/workspace/hf; export HF_HOME"))
        #expect(script.contains("ODD='it'\\''s $(not run)'; export ODD"))
        let out = try ChildProcess.run("sh", ["-c", script.replacingOccurrences(of: "claude \"$@\"", with: "printf '%s|%s' \"$ODD\" \"$HF_HOME\"; exit 0")
            .replacingOccurrences(of: "cd /w/code ", with: "cd / ")])
        #expect(out.stdoutText == "it's $(not run)|/workspace/hf")

        for bad in ["claudeEnv = \"x\"", "claudeEnv = { \"1BAD\" = \"x\" }", "claudeEnv = { \"A B\" = \"x\" }", "claudeEnv = { N = 3 }"] {
            try "[pods.p]\ndirect = \"root@h:22\"\n\(bad)\n".write(to: locations.configFile, atomically: true, encoding: .utf8)
            #expect(throws: CCPodError.self) { try CCPodConfig.load(from: locations) }
        }
    }

    @Test func directAsAStringIsAccepted() throws {
        let config = try CCPodConfig.parse("[pods.a]\ndirect = \"root@10.0.0.1:2200\"\n")
        #expect(config.pods["a"]?.direct == SSHEndpoint(user: "root", host: "10.0.0.1", port: 2200))
    }

    @Test func malformedConfigIsBadData() throws {
        for text in ["[pods.a\n", "defaultPod = 3\n", "[pods.a]\ndirect = 5\n", "[pods.a]\nsshOptions = [1]\n", "[pods.a]\ndirect = { host = \"h\", port = 99999 }\n"] {
            let error = try #require(throws: CCPodError.self) { try CCPodConfig.parse(text) }
            #expect(error.status == .badData, "\(text)")
        }
    }

    @Test(arguments: [
        ("root@203.0.113.7:41022", SSHEndpoint(user: "root", host: "203.0.113.7", port: 41022)),
        ("root@[::1]:22", SSHEndpoint(user: "root", host: "::1", port: 22)),
        ("[::1]:2222", SSHEndpoint(user: "root", host: "::1", port: 2222)),
        ("ubuntu@Pod.Example.com", SSHEndpoint(user: "ubuntu", host: "pod.example.com", port: 22)),
    ])
    func goodDirectEndpoints(text: String, expected: SSHEndpoint) throws {
        #expect(try SSHEndpoint.parse(text) == expected)
    }

    @Test(arguments: ["", "root@", "@host:22", "root@host:", "root@host:0", "root@host:70000", "root@host:2x",
                      "root@::1:22", "root@[::1", "root@[::1]22", "root@[zz]:22", "root@-oProxyCommand=x:22",
                      "-u@host", "root@ho st:22", "root@host;rm:22"])
    func malformedDirectEndpointsAreUsageErrors(text: String) throws {
        let error = try #require(throws: CCPodError.self) { try SSHEndpoint.parse(text) }
        #expect(error.status == .usage)
        #expect(error.message.contains("--direct"))
    }

    @Test func proxyNeedsAUser() throws {
        #expect(throws: CCPodError.self) { try SSHEndpoint.parse("ssh.runpod.io", defaultUser: nil, option: "--proxy") }
        #expect(try SSHEndpoint.parse("abc-12ef@ssh.runpod.io", defaultUser: nil).userAtHost == "abc-12ef@ssh.runpod.io")
    }

    @Test func badPodNames() throws {
        for name in ["", "-x", ".x", "a b", "a/b", "local", "a:b", String(repeating: "x", count: 65)] {
            #expect(throws: CCPodError.self, "\(name)") { try PodSettings.validateName(name) }
        }
        try PodSettings.validateName("gpu-1.a_b")
    }

    @Test func resolutionOrderIsFlagThenEnvironmentThenDefault() throws {
        var config = CCPodConfig()
        for n in ["a", "b", "c"] { config.pods[n] = PodSettings(name: n, direct: SSHEndpoint(user: "root", host: "h", port: 22)) }
        config.defaultPod = "c"
        #expect(try PodResolver.chosenName(name: "a", environment: ["CCPOD_POD": "b"], config: config) == "a")
        #expect(try PodResolver.chosenName(name: nil, environment: ["CCPOD_POD": "b"], config: config) == "b")
        #expect(try PodResolver.chosenName(name: nil, environment: [:], config: config) == "c")
        config.defaultPod = nil
        let none = try #require(throws: CCPodError.self) { try PodResolver.chosenName(name: nil, environment: [:], config: config) }
        #expect(none.status == .usage)
        #expect(none.message.contains("--pod"))
    }

    @Test func runpodPortOverridesTheDirectPort() throws {
        var config = CCPodConfig()
        config.pods["a"] = PodSettings(name: "a", direct: SSHEndpoint(user: "root", host: "h", port: 22))
        #expect(try PodResolver.settings(name: "a", environment: ["RUNPOD_PORT": "40123"], config: config)?.direct?.port == 40123)
        #expect(try PodResolver.settings(name: "a", environment: [:], config: config)?.direct?.port == 22)
        let bad = try #require(throws: CCPodError.self) { try PodResolver.settings(name: "a", environment: ["RUNPOD_PORT": "x"], config: config) }
        #expect(bad.status == .usage)
    }

    @Test func unknownPodNamesTheKnownOnes() throws {
        var config = CCPodConfig()
        config.pods["gpu1"] = PodSettings(name: "gpu1")
        let error = try #require(throws: CCPodError.self) { try PodResolver.settings(name: "gpu2", environment: [:], config: config) }
        #expect(error.status == .usage)
        #expect(error.message.contains("unknown pod \"gpu2\""))
        #expect(error.message.contains("gpu1"))
    }

    @Test func localPodsResolveWithoutConfig() throws {
        let (root, locations) = try tempLocations()
        defer { try? FileManager.default.removeItem(at: root) }
        let recorder = ExecRecorder()
        let pod = try PodResolver.resolvePod(name: nil, environment: ["CCPOD_POD": "local:\(root.path)/pod/"],
                                             locations: locations, recorder: recorder)
        #expect(pod.settings == nil)
        #expect(pod.name == "local:\(root.path)/pod")
        #expect(pod.connection.rootPrefix == "\(root.path)/pod")
        #expect(pod.connection.paths == PodPaths())
        let out = try pod.connection.runCommand("printf %s \"$0\"", input: nil)
        #expect(out.stdoutText == "/bin/sh")
        #expect(recorder.count == 1)
        #expect(throws: CCPodError.self) { try LocalConnection.parse("local:") }
    }

    @Test func missingIdentityFileIsAUsageError() throws {
        let (root, locations) = try tempLocations()
        defer { try? FileManager.default.removeItem(at: root) }
        var config = CCPodConfig()
        config.pods["a"] = PodSettings(name: "a", direct: SSHEndpoint(user: "root", host: "h", port: 22), identity: "/nonexistent/key")
        try config.save(to: locations)
        let error = try #require(throws: CCPodError.self) {
            try PodResolver.resolvePod(name: "a", environment: [:], locations: locations)
        }
        #expect(error.status == .usage)
        #expect(error.message.contains("/nonexistent/key"))
    }

    @Test func apiKeyComesFromTheEnvironmentElseTheFile() throws {
        let (root, _) = try tempLocations()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("key")
        try "rpa_file\n".write(to: file, atomically: true, encoding: .utf8)
        // Only a private key file is read (see PodLifecycleAPITests.theKeyFileMustBePrivate).
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        let pod = PodSettings(name: "a", apiKeyFile: file.path)
        #expect(try pod.apiKey(environment: [:]) == "rpa_file")
        #expect(try pod.apiKey(environment: ["RUNPOD_API_KEY": "rpa_env"]) == "rpa_env")
        #expect(try PodSettings(name: "b").apiKey(environment: [:]) == nil)
    }
}

/// The `ccpod pod …` commands run in-process with a test environment.
@Suite struct PodCommandTests {
    func run(_ args: [String], _ env: [String: String]) throws { try runCCPod(args, env) }

    @Test func badInputLeavesTheConfigUnchanged() throws {
        let (root, locations) = try tempLocations()
        defer { try? FileManager.default.removeItem(at: root) }
        let env = ["XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": root.appendingPathComponent("state").path,
                   "HOME": root.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        #expect(CLIContext.$environment.withValue(env) { CLIContext.locations.configFile.path } == locations.configFile.path)
        var config = CCPodConfig()
        config.pods["keep"] = PodSettings(name: "keep", direct: SSHEndpoint(user: "root", host: "h", port: 22))
        config.defaultPod = "keep"
        try config.save(to: locations)
        let before = try Data(contentsOf: locations.configFile)

        let malformed = try #require(throws: CCPodError.self) { try run(["pod", "add", "x", "--direct", "root@[::1:22"], env) }
        #expect(malformed.status == .usage)
        let noKey = try #require(throws: CCPodError.self) {
            try run(["pod", "add", "x", "--direct", "root@127.0.0.1:1", "--identity", "/no/such/key"], env)
        }
        #expect(noKey.status == .usage)
        #expect(noKey.message.contains("/no/such/key"))
        let unknown = try #require(throws: CCPodError.self) { try run(["pod", "default", "nope"], env) }
        #expect(unknown.status == .usage)
        #expect(throws: CCPodError.self) { try run(["pod", "rm", "nope"], env) }
        // Invalid name: ArgumentParser's validation (exit 64).
        #expect(throws: (any Error).self) { try run(["pod", "add", "-bad", "--direct", "root@h:22"], env) }
        // Nothing listens on port 1: keyscan fails, nothing saved.
        let refused = try #require(throws: CCPodError.self) {
            try run(["pod", "add", "x", "--direct", "root@127.0.0.1:1", "--accept-new"], env)
        }
        #expect(refused.status == .unavailable)
        #expect(try Data(contentsOf: locations.configFile) == before)
    }

    @Test func listDefaultAndRemove() throws {
        let (root, locations) = try tempLocations()
        defer { try? FileManager.default.removeItem(at: root) }
        let env = ["XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
                   "XDG_STATE_HOME": root.appendingPathComponent("state").path, "HOME": root.path]
        var config = CCPodConfig()
        config.pods["a"] = PodSettings(name: "a", direct: SSHEndpoint(user: "root", host: "h", port: 22))
        config.pods["b"] = PodSettings(name: "b", direct: SSHEndpoint(user: "root", host: "::1", port: 2),
                                       proxy: SSHEndpoint(user: "p-1", host: "ssh.runpod.io"))
        config.defaultPod = "a"
        try config.save(to: locations)
        let json = try PodListing.json(config)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 2)
        #expect(parsed?[1]["direct"] as? String == "root@[::1]:2")
        #expect(parsed?[0]["isDefault"] as? Bool == true)
        #expect(PodListing.text(config).contains("* a"))
        try run(["pod", "default", "b"], env)
        #expect(try CCPodConfig.load(from: locations).defaultPod == "b")
        try run(["pod", "rm", "b"], env)
        let after = try CCPodConfig.load(from: locations)
        #expect(after.pods.keys.sorted() == ["a"])
        #expect(after.defaultPod == nil)
    }
}
