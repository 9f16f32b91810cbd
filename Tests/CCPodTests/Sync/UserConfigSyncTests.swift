import CCPodKit
import Foundation
import Testing

@Suite("User config travels to the pod")
struct UserConfigSyncTests {
    @Test func settingsArriveWithTheRetentionGuardAndPodChangesStayThere() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        let settings = Data("{\"model\":\"opus\",\"cleanupPeriodDays\":30}\n".utf8)
        try SyncTestBed.write(settings, to: bed.localClaude + "/settings.json")
        try SyncTestBed.write(Data("# my rules\n".utf8), to: bed.localClaude + "/CLAUDE.md")
        try SyncTestBed.write(Data("review\n".utf8), to: bed.localClaude + "/commands/review.md")
        // Never carried.
        try SyncTestBed.write(Data("{\"secret\":1}".utf8), to: bed.localClaude + "/.credentials.json")
        try SyncTestBed.write(Data("{}".utf8), to: bed.localClaude + "/settings.local.json")
        let push = try bed.run(.push)
        #expect(push.count(.copiedToPod) == 3, "\(push.items)")
        let pod = try JSONSerialization.jsonObject(with: SyncTestBed.read(bed.podClaude + "/settings.json")) as? [String: Any]
        #expect(pod?["model"] as? String == "opus")
        #expect(pod?["cleanupPeriodDays"] as? Int == SettingsGuard.cleanupPeriodDays)
        #expect(SyncTestBed.read(bed.localClaude + "/settings.json") == settings)
        #expect(SyncTestBed.read(bed.podClaude + "/commands/review.md") == Data("review\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: bed.podClaude + "/.credentials.json"))
        #expect(!FileManager.default.fileExists(atPath: bed.podClaude + "/settings.local.json"))
        #expect(try bed.run(.sync).items.allSatisfy { $0.action == .inSync })
        // A change on the pod is reported, not brought home.
        try SyncTestBed.write(Data("# pod rules\n".utf8), to: bed.podClaude + "/CLAUDE.md")
        let pull = try bed.run(.sync)
        #expect(pull.items.first { $0.path == "CLAUDE.md" }?.action == .podAhead)
        #expect(SyncTestBed.read(bed.localClaude + "/CLAUDE.md") == Data("# my rules\n".utf8))
        // A local change replaces the pod's copy.
        try SyncTestBed.write(Data("{\"model\":\"sonnet\"}\n".utf8), to: bed.localClaude + "/settings.json")
        let again = try bed.run(.push)
        #expect(again.items.first { $0.path == "settings.json" }?.action == .replacedOnPod)
        let pod2 = try JSONSerialization.jsonObject(with: SyncTestBed.read(bed.podClaude + "/settings.json")) as? [String: Any]
        #expect(pod2?["model"] as? String == "sonnet")
        #expect(pod2?["cleanupPeriodDays"] as? Int == SettingsGuard.cleanupPeriodDays)
    }

    @Test func aSymlinkedPodFileIsWrittenWhereItPoints() throws {
        let bed = try SyncTestBed()
        defer { bed.remove() }
        // The pod layout `ccpod setup` makes: settings.json lives on the persistent volume.
        let persistent = bed.podRoot + "/workspace/claude-sessions/settings/settings.json"
        try FileManager.default.createDirectory(atPath: (persistent as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bed.podClaude + "/settings.json", withDestinationPath: persistent)
        try SyncTestBed.write(Data("{\"theme\":\"dark\"}\n".utf8), to: bed.localClaude + "/settings.json")
        _ = try bed.run(.push)
        try SyncTestBed.write(Data("{\"theme\":\"light\"}\n".utf8), to: bed.localClaude + "/settings.json")
        let replaced = try bed.run(.push)
        #expect(replaced.items.first?.action == .replacedOnPod, "\(replaced.items)")
        let attributes = try FileManager.default.attributesOfItem(atPath: bed.podClaude + "/settings.json")
        #expect(attributes[.type] as? FileAttributeType == .typeSymbolicLink)
        let written = try JSONSerialization.jsonObject(with: SyncTestBed.read(persistent)) as? [String: Any]
        #expect(written?["theme"] as? String == "light")
        #expect(written?["cleanupPeriodDays"] as? Int == SettingsGuard.cleanupPeriodDays)
    }
}
