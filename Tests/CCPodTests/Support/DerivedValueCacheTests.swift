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
        // A kept value the caller refuses is derived again and replaced; a derived one it
        // refuses is neither returned nor kept.
        let digits = { (v: String) in v.allSatisfy(\.isNumber) }
        #expect(cache.value(for: "j", isValid: digits) { derived += 1; return "42" } == "42")
        #expect(cache.value(for: "j") { derived += 1; return "0" } == "42")
        #expect(cache.value(for: "n", isValid: digits) { derived += 1; return "x" } == nil)
        #expect(cache.value(for: "n") { derived += 1; return "y" } == "y")
        #expect(derived == 6)
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
        // A kept value that is not base64 never reaches the command line.
        try Data((DerivedValueCache.marker + "AAAA; touch /tmp/owned").utf8).write(to: dir.appendingPathComponent(files[0]))
        #expect(AgentScript.remoteCommand(requestCompression: .zstd, cache: cache) == first)
        #expect(try String(contentsOf: dir.appendingPathComponent(files[0]), encoding: .utf8) == kept, "the bad value is replaced")
    }
}

@Suite("ssh's ciphers kept between runs")
struct CipherCacheTests {
    /// A stand-in `ssh` that answers `-Q cipher` and counts how often it was asked.
    static func standIn(in dir: URL) throws -> (path: String, calls: URL) {
        let calls = dir.appendingPathComponent("calls")
        let path = dir.appendingPathComponent("ssh").path
        try "#!/bin/sh\necho x >> '\(calls.path)'\nprintf 'aes128-ctr\\naes128-gcm@openssh.com\\nchacha20-poly1305@openssh.com\\n'\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return (path, calls)
    }

    static func count(_ calls: URL) -> Int {
        ((try? String(contentsOf: calls, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func sshIsAskedOnceAndATamperedAnswerIsNeverPassedOn() throws {
        let dir = try DerivedValueCacheTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = DerivedValueCache(directory: dir.appendingPathComponent("cache"))
        let wanted = "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com"

        let one = try Self.standIn(in: dir.appendingPathComponent("a").creatingDirectory())
        #expect(SSHConnection.usableCiphers(for: one.path, cache: cache) == wanted)
        #expect(Self.count(one.calls) == 1)
        // A later run (a new process: a new cache value, same file) asks nothing.
        let again = DerivedValueCache(directory: cache.directory)
        let key = "ssh -Q cipher\t\(try #require(DerivedValueCache.executableIdentity(one.path)))\t\(SSHConnection.preferredCiphers)"
        #expect(again.value(for: key) { "asked" } == wanted)

        // A value file holding more than cipher names: ssh is asked instead.
        let two = try Self.standIn(in: dir.appendingPathComponent("b").creatingDirectory())
        let key2 = "ssh -Q cipher\t\(try #require(DerivedValueCache.executableIdentity(two.path)))\t\(SSHConnection.preferredCiphers)"
        try CCPodLocations.makePrivateDirectory(cache.directory)
        try Data((DerivedValueCache.marker + "aes128-ctr\nProxyCommand=sh -c evil").utf8)
            .write(to: cache.directory.appendingPathComponent(SHA256Hex.of(Data(key2.utf8))))
        #expect(SSHConnection.usableCiphers(for: two.path, cache: cache) == wanted)
        #expect(Self.count(two.calls) == 1)
    }
}

private extension URL {
    func creatingDirectory() throws -> URL {
        try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true)
        return self
    }
}
