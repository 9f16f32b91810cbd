@testable import CCPodKit
import Foundation
import Testing

/// A typo in a config file is named with its file and line instead of being ignored.
@Suite struct ConfigKeyCheckTests {
    @Test func unknownKeysOfConfigAreNamedWithTheirLine() {
        let text = """
        defaultPod = "gpu1"
        defualtPod = "gpu2"

        [pods.gpu1]
        direct = { user = "root", host = "203.0.113.7", port = 41022, prot = 1 }
        identity = "/keys/id"
        foo = 1
        runpodID = "abc"
        """
        let warnings = ConfigKeyCheck.configWarnings(text, origin: "/cfg/config.toml")
        #expect(warnings.count == 4)
        #expect(warnings.contains("/cfg/config.toml:2: unknown key `defualtPod` is ignored; did you mean `defaultPod`?"))
        #expect(warnings.contains { $0.hasPrefix("/cfg/config.toml:7: unknown key `pods.gpu1.foo` is ignored (known here: ") })
        #expect(warnings.contains("/cfg/config.toml:8: unknown key `pods.gpu1.runpodID` is ignored; did you mean `runpodId`?"))
        #expect(warnings.contains("/cfg/config.toml:5: unknown key `pods.gpu1.direct.prot` is ignored; did you mean `port`?"))
    }

    @Test func aConfigWithOnlyKnownKeysSaysNothing() throws {
        var config = CCPodConfig(defaultPod: "gpu1")
        var pod = PodSettings(name: "gpu1", direct: SSHEndpoint(user: "root", host: "203.0.113.7", port: 41022),
                              identity: "/k", proxy: nil, runpodId: "abc", apiKeyFile: "/key")
        pod.sshOptions = ["-F", "/dev/null"]
        pod.inactivityTimeout = 90
        pod.runtime.tmuxSocket = "ccpod"
        pod.paths.claudeDir = "/root/.claude-other"
        config.pods["gpu1"] = pod
        let text = try config.serialized()
        #expect(ConfigKeyCheck.configWarnings(text, origin: "c").isEmpty, "every key ccpod writes is one it knows")
    }

    @Test func unknownKeysOfAProjectFileAreNamed() {
        let text = "pod = \"gpu1\"\npod_pth = \"/x\"\n"
        #expect(ConfigKeyCheck.projectWarnings(text, origin: "/p/.ccpod.toml")
            == ["/p/.ccpod.toml:2: unknown key `pod_pth` is ignored; did you mean `pod_path`?"])
        #expect(ConfigKeyCheck.projectWarnings("pod = \"a\"\npod_path = \"/w\"\n", origin: "x").isEmpty)
        #expect(ConfigKeyCheck.projectWarnings("budget_usd_per_month = 50\n", origin: "x").isEmpty)
        #expect(ConfigKeyCheck.configWarnings("[pods.a]\nbudget_hours_per_day = 8\n", origin: "x").isEmpty)
    }

    @Test func loadingAConfigSendsItsWarningsOnceEach() throws {
        let seen = Locked<[String]>([])
        ConfigNotices.setSink { message in seen.withLock { $0.append(message) } }
        defer { ConfigNotices.setSink(nil) }
        let origin = "/cfg/\(UUID().uuidString)/config.toml"
        let text = "[pods.gpu1]\ndirect = \"root@h:22\"\nbogus = true\n"
        _ = try CCPodConfig.parse(text, origin: origin)
        _ = try CCPodConfig.parse(text, origin: origin)
        #expect(seen.current.filter { $0.hasPrefix(origin) }.count == 1)
    }

    @Test func anUnknownPodNamesWhereItsNameCameFrom() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-origin-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let locations = CCPodLocations(configDir: dir.appendingPathComponent("config"), stateDir: dir.appendingPathComponent("state"))
        try CCPodConfig(defaultPod: "gone").save(to: locations)
        let fromDefault = try #require(throws: CCPodError.self) {
            _ = try PodResolver.resolvePod(name: nil, environment: [:], locations: locations)
        }
        #expect(fromDefault.status == .usage)
        #expect(fromDefault.message.contains("the default pod in \(locations.configFile.path)"))
        let fromEnvironment = try #require(throws: CCPodError.self) {
            _ = try PodResolver.resolvePod(name: nil, environment: ["CCPOD_POD": "nope"], locations: locations)
        }
        #expect(fromEnvironment.message.contains("CCPOD_POD"))
        let fromProject = try #require(throws: CCPodError.self) {
            _ = try PodResolver.resolvePod(name: nil, projectPod: "theirs", environment: [:], locations: locations)
        }
        #expect(fromProject.message.contains(".ccpod.toml"))
    }
}
