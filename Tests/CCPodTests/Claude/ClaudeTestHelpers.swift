import CCPodKit
import Foundation
import Testing

/// A temporary folder removed at deinit.
final class ClaudeTempDir: @unchecked Sendable {
    let url: URL

    init() throws {
        url = URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true)
            .appendingPathComponent("ccpod-claude-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        // Make everything removable again (tests chmod files to 000).
        if let e = FileManager.default.enumerator(atPath: url.path) {
            for case let p as String in e { chmod(url.appendingPathComponent(p).path, 0o700) }
        }
        try? FileManager.default.removeItem(at: url)
    }

    /// A Claude config dir with an empty `projects/`.
    func configDir() throws -> URL {
        let dir = url.appendingPathComponent("claude", isDirectory: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("projects"), withIntermediateDirectories: true)
        return dir
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: file)
        return file
    }
}

enum ClaudeTestPaths {
    /// The package root, from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Third-party transcripts in `../shared/fixtures` next to the package (MIT, never copied into
    /// the repository), when that folder exists: an extra cross-check on top of the project's own
    /// fixtures (`TranscriptFixtures`), which every test runs on.
    static var sharedFixtures: URL? {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures", isDirectory: true)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// Why the cross-check on `../shared/fixtures` is skipped.
    static let sharedFixturesAbsent: Comment = """
        optional cross-check: no third-party transcripts in ../shared/fixtures next to the package \
        (the same checks ran on the project's own fixtures in Tests/Fixtures/transcripts)
        """

    /// The built `ccpod` binary, next to the test bundle.
    static var ccpodBinary: URL? {
        var candidates = [URL]()
        if let exe = Bundle.main.executableURL {
            candidates.append(exe.deletingLastPathComponent().appendingPathComponent("ccpod"))
        }
        for b in Bundle.allBundles {
            candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("ccpod"))
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/ccpod"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    static var isRoot: Bool { getuid() == 0 }
}

extension JSONLReader {
    /// All lines of a file (tests only).
    func allLines() throws -> ([JSONLLine], JSONLFileReport) {
        var lines = [JSONLLine]()
        let report = try read(wantMessage: { true }) { lines.append($0); return true }
        return (lines, report)
    }
}
