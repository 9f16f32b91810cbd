@testable import CCPodKit
import Foundation
import Testing

/// The settings.json edit, with no disk: merged after the hooks already there,
/// idempotent, and undone byte for byte.
@Suite struct HookSettingsPlanTests {
    static let commands: [HookEvent: String] = [
        .sessionStart: "'/opt/my tools/ccpod' hook session-start",
        .sessionEnd: "'/opt/my tools/ccpod' hook session-end",
    ]

    /// Settings as people write them: other hooks, unknown keys, their own indentation.
    static let samples: [String] = [
        "{}",
        "{ }\n",
        "{\n  \"model\": \"opus\"\n}\n",
        "{\n\t\"permissions\": {\"allow\": [\"Bash(ls:*)\"]},\n\t\"futureKey\": [1, 2.5e3, null, true]\n}",
        """
        {
          "hooks": {
            "SessionEnd": [
              { "hooks": [ { "type": "command", "command": "~/bin/notify done" } ] }
            ],
            "PreToolUse": [ { "matcher": "Bash", "hooks": [ { "type": "command", "command": "audit" } ] } ]
          },
          "env": { "FOO": "b\\"ar\\u00e9" }
        }

        """,
        "{\"hooks\":{\"SessionStart\":[],\"SessionEnd\":[]},\"x\":1}",
        "{\"hooks\":{}}",
        "   \n",
    ]

    func parsed(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func commandsOf(_ data: Data, _ event: HookEvent) throws -> [String] {
        let hooks = try parsed(data)["hooks"] as? [String: Any]
        let groups = hooks?[event.rawValue] as? [[String: Any]] ?? []
        return groups.flatMap { ($0["hooks"] as? [[String: Any]] ?? []).compactMap { $0["command"] as? String } }
    }

    @Test("Install appends after existing hooks, keeps every other key, and uninstall restores the bytes", arguments: samples)
    func roundTrip(sample: String) throws {
        let original = Data(sample.utf8)
        let before = try? JSONSerialization.jsonObject(with: original) as? [String: Any]
        let install = try HookSettingsPlan.install(original, commands: Self.commands, origin: "settings.json")
        let installed = try #require(install.result)
        let after = try parsed(installed)
        // Ours last, others before, in their order.
        let priorEnd = try (before == nil ? [] : commandsOf(original, .sessionEnd))
        #expect(try commandsOf(installed, .sessionEnd) == priorEnd + [Self.commands[.sessionEnd]!])
        #expect(try commandsOf(installed, .sessionStart).last == Self.commands[.sessionStart]!)
        for (key, _) in before ?? [:] where key != "hooks" { #expect(after[key] != nil, "lost \(key)") }
        if let priorHooks = before?["hooks"] as? [String: Any], let pre = priorHooks["PreToolUse"] {
            let kept = try #require((after["hooks"] as? [String: Any])?["PreToolUse"])
            #expect(try JSONSerialization.data(withJSONObject: kept, options: .sortedKeys)
                == JSONSerialization.data(withJSONObject: pre, options: .sortedKeys))
        }
        #expect(try HookSettingsPlan.installed(installed, origin: "s") == Set(HookEvent.allCases))

        // Twice is once.
        let again = try HookSettingsPlan.install(installed, commands: Self.commands, origin: "settings.json")
        #expect(again.result == nil)

        let record = HookInstallRecord(settingsPath: "s", createdFile: install.createdFile, inserted: install.inserted)
        let removed = try HookSettingsPlan.uninstall(installed, record: record, origin: "s")
        #expect(removed == original, "got:\n\(String(decoding: removed ?? Data(), as: UTF8.self))")
    }

    @Test("A file ccpod created is removed again")
    func createdFileGoesAway() throws {
        let install = try HookSettingsPlan.install(nil, commands: Self.commands, origin: "s")
        #expect(install.createdFile)
        let result = try #require(install.result)
        #expect(try HookSettingsPlan.installed(result, origin: "s") == Set(HookEvent.allCases))
        let record = HookInstallRecord(settingsPath: "s", createdFile: true, inserted: install.inserted)
        #expect(try HookSettingsPlan.uninstall(result, record: record, origin: "s") == nil)
    }

    @Test("A change made after install stays; only ccpod's hooks go")
    func laterChangesStay() throws {
        let original = Data(Self.samples[4].utf8)
        let install = try HookSettingsPlan.install(original, commands: Self.commands, origin: "s")
        var text = String(decoding: try #require(install.result), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"env\"", with: "\"theme\": \"dark\",\n  \"env\"")
        let record = HookInstallRecord(settingsPath: "s", createdFile: false, inserted: install.inserted)
        let removed = try #require(try HookSettingsPlan.uninstall(Data(text.utf8), record: record, origin: "s"))
        #expect(String(decoding: removed, as: UTF8.self)
            == Self.samples[4].replacingOccurrences(of: "\"env\"", with: "\"theme\": \"dark\",\n  \"env\""))
    }

    @Test("Without a record (reformatted file), ccpod's groups are still found and removed")
    func withoutRecord() throws {
        let install = try HookSettingsPlan.install(Data(Self.samples[4].utf8), commands: Self.commands, origin: "s")
        // Reformatted by another tool: the inserted texts are no longer found.
        let object = try JSONSerialization.jsonObject(with: try #require(install.result))
        let reformatted = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        let removed = try #require(try HookSettingsPlan.uninstall(reformatted, record: nil, origin: "s"))
        #expect(try HookSettingsPlan.installed(removed, origin: "s").isEmpty)
        #expect(try commandsOf(removed, .sessionEnd) == ["~/bin/notify done"])
        #expect(try parsed(removed)["env"] != nil)
    }

    @Test("Settings that are not JSON, or hooks of the wrong shape, are refused (65)",
          arguments: ["{\"hooks\": {", "not json", "[1, 2]", "{\"hooks\": [1]}", "{\"hooks\": {\"SessionEnd\": {}}}"])
    func refused(text: String) throws {
        do {
            _ = try HookSettingsPlan.install(Data(text.utf8), commands: Self.commands, origin: "settings.json")
            Issue.record("accepted \(text)")
        } catch let error as CCPodError {
            #expect(error.status == .badData)
            #expect(error.message.contains("settings.json"))
        }
    }

    @Test("Only ccpod's own commands count as ccpod's")
    func recognition() {
        #expect(HookSettingsPlan.isOurs("/usr/local/bin/ccpod hook session-end", .sessionEnd))
        #expect(HookSettingsPlan.isOurs("CCPOD_POD=gpu1 '/x y/ccpod' hook session-start", .sessionStart))
        #expect(!HookSettingsPlan.isOurs("/usr/local/bin/ccpod hook session-end", .sessionStart))
        #expect(!HookSettingsPlan.isOurs("~/bin/notify done", .sessionEnd))
    }
}
