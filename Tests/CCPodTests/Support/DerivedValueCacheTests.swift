@testable import CCPodKit
import Foundation
import Testing

@Suite("Derived values kept between runs")
struct DerivedValueCacheTests {
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-derived-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func aValueIsDerivedOnceAndAChangedKeyDerivesItAgain() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = DerivedValueCache(directory: dir.appendingPathComponent("cache"))
        var derived = 0
        #expect(cache.value(for: "ssh\t1") { derived += 1; return "aes128-gcm@openssh.com" } == "aes128-gcm@openssh.com")
        #expect(cache.value(for: "ssh\t1") { derived += 1; return "other" } == "aes128-gcm@openssh.com")
        #expect(derived == 1)
        #expect(cache.value(for: "ssh\t2") { derived += 1; return "" } == "")
        #expect(cache.value(for: "ssh\t2") { derived += 1; return "x" } == "")
        #expect(derived == 2)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("cache").path)
        #expect(files.count == 2)
        for name in files {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("cache/\(name)").path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        }
    }

    @Test func aFailureIsNotKeptAndAForeignFileIsNotTaken() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = DerivedValueCache(directory: dir)
        var derived = 0
        #expect(cache.value(for: "k") { derived += 1; return nil } == nil)
        #expect(cache.value(for: "k") { derived += 1; return "v" } == "v")
        #expect(derived == 2)
        // Something else's bytes under a value's name: derived again and replaced.
        try Data("-o ProxyCommand=evil".utf8).write(to: dir.appendingPathComponent(SHA256Hex.of(Data("j".utf8))))
        #expect(cache.value(for: "j") { derived += 1; return "w" } == "w")
        #expect(cache.value(for: "j") { derived += 1; return "z" } == "w")
        #expect(derived == 3)
    }

    @Test func thePackedAgentScriptComesFromTheCacheTheSecondTime() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = DerivedValueCache(directory: dir)
        let first = AgentScript.remoteCommand(requestCompression: .zstd, cache: cache)
        #expect(first == AgentScript.remoteCommand(requestCompression: .zstd))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(files.count == 1)
        // What the command carries is what the cache holds.
        let kept = try String(contentsOf: dir.appendingPathComponent(files[0]), encoding: .utf8)
        #expect(kept.hasPrefix(DerivedValueCache.marker))
        #expect(first.contains(String(kept.dropFirst(DerivedValueCache.marker.count))))
        #expect(AgentScript.remoteCommand(requestCompression: .zstd, cache: cache) == first)
    }
}
