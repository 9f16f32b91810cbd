@testable import CCPodKit
import Foundation
import Testing

@Suite struct ClaudeSlugTests {
    @Test(arguments: [
        ("/Users/me/my_app.v2", "-Users-me-my-app-v2"),
        ("/workspace/runs/stage1_x/code", "-workspace-runs-stage1-x-code"),
        ("/data/🚀launch", "-data---launch"),
        ("/Users/Zoë/Проект/日本 語", "-Users-Zo-------------"),
        ("/home/dev/my project", "-home-dev-my-project"),
        ("/a.b.c/d__e", "-a-b-c-d--e"),
        ("", ""),
        ("ABCxyz019", "ABCxyz019"),
    ])
    func designExamples(path: String, slug: String) {
        #expect(ProjectSlug.of(path) == slug)
    }

    @Test func longPathGetsTheJavaHash() {
        let path = "/home/dev/" + String(repeating: "segment_", count: 30)
        let sanitized = "-home-dev-" + String(repeating: "segment-", count: 30)
        let slug = ProjectSlug.of(path)
        #expect(slug == String(sanitized.prefix(200)) + "-dmxsl9")
    }

    @Test func twoHundredFortyCharacters() {
        let path = "/" + String(repeating: "abcdefghij", count: 24).dropLast()
        #expect(path.utf16.count == 240)
        let slug = ProjectSlug.of(path)
        #expect(slug.hasPrefix("-" + String(repeating: "abcdefghij", count: 20).prefix(199)))
        #expect(slug.count > 201)
        #expect(slug.dropFirst(200).first == "-")
        // Exactly 200 units stays as it is.
        let exact = "/" + String(repeating: "x", count: 199)
        #expect(ProjectSlug.of(exact) == "-" + String(repeating: "x", count: 199))
    }

    @Test func hashWrapsAndHandlesInt32Min() {
        // Java: "polygenelubricants".hashCode() == Int32.min; JavaScript's Math.abs gives 2^31.
        #expect(ProjectSlug.javaHashMagnitude("polygenelubricants") == 2_147_483_648)
        #expect(ProjectSlug.javaHashMagnitude("hello") == 99_162_322)
        #expect(ProjectSlug.javaHashMagnitude("Aa") == 2112)
    }

    @Test func forDirectoryResolvesSymlinks() throws {
        let tmp = try ClaudeTempDir()
        let real = tmp.url.appendingPathComponent("real_dir")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: true)
        let link = tmp.url.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: real)
        let resolved = ProjectSlug.resolvedPath(real)
        #expect(ProjectSlug.forDirectory(link) == ProjectSlug.of(resolved))
        #expect(ProjectSlug.forDirectory(link).hasSuffix("-real-dir"))
    }
}

@Suite struct ClaudeConfigDirTests {
    @Test func precedence() throws {
        let tmp = try ClaudeTempDir()
        let a = tmp.url.appendingPathComponent("a"), b = tmp.url.appendingPathComponent("b")
        let home = tmp.url.appendingPathComponent("home")
        for d in [a, b, home.appendingPathComponent(".claude")] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        let env = ["CLAUDE_CONFIG_DIR": b.path, "HOME": home.path]
        #expect(try ClaudeConfigDir.resolve(override: a.path, environment: env).path == a.path)
        #expect(try ClaudeConfigDir.resolve(override: nil, environment: env).path == b.path)
        #expect(try ClaudeConfigDir.resolve(override: nil, environment: ["HOME": home.path]).path
            == home.appendingPathComponent(".claude").path)
    }

    @Test func aMissingDirExitsWithNoInputNamingIt() throws {
        let tmp = try ClaudeTempDir()
        let missing = tmp.url.appendingPathComponent("nope").path
        do {
            _ = try ClaudeConfigDir.resolve(override: nil, environment: ["CLAUDE_CONFIG_DIR": missing, "HOME": tmp.url.path])
            Issue.record("expected an error")
        } catch let error as CCPodError {
            #expect(error.status == .noInput)
            #expect(error.message.contains(missing))
            #expect(error.message.contains("CLAUDE_CONFIG_DIR"))
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
