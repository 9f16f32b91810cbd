@testable import CCPodKit
import Foundation

/// Two Claude dirs (a laptop's and a teammate's) and their project folders, in a temporary folder.
final class ExportBed: @unchecked Sendable {
    let tmp: ClaudeTempDir
    let claude: URL
    let otherClaude: URL
    /// The exporting project and the importing one (real folders, symlinks resolved).
    let project: String
    let otherProject: String

    init() throws {
        tmp = try ClaudeTempDir()
        let fm = FileManager.default
        claude = tmp.url.appendingPathComponent("claude-a", isDirectory: true)
        otherClaude = tmp.url.appendingPathComponent("claude-b", isDirectory: true)
        for dir in [claude, otherClaude] { try fm.createDirectory(at: dir.appendingPathComponent("projects"), withIntermediateDirectories: true) }
        let a = tmp.url.appendingPathComponent("work/app", isDirectory: true)
        let b = tmp.url.appendingPathComponent("elsewhere/app-clone", isDirectory: true)
        for dir in [a, b] { try fm.createDirectory(at: dir, withIntermediateDirectories: true) }
        project = ProjectSlug.resolvedPath(a)
        otherProject = ProjectSlug.resolvedPath(b)
    }

    var slugDir: URL { claude.appendingPathComponent("projects/\(ProjectSlug.of(project))", isDirectory: true) }
    var otherSlugDir: URL { otherClaude.appendingPathComponent("projects/\(ProjectSlug.of(otherProject))", isDirectory: true) }
    var exportFile: URL { URL(fileURLWithPath: project).appendingPathComponent(ExportFormat.defaultFileName) }

    /// Writes `relative` under the project's slug folder (creating folders).
    func write(_ data: Data, _ relative: String, in dir: URL? = nil) throws {
        let url = (dir ?? slugDir).appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    func append(_ data: Data, _ relative: String, in dir: URL? = nil) throws {
        let handle = try FileHandle(forWritingTo: (dir ?? slugDir).appendingPathComponent(relative))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }

    func read(_ relative: String, in dir: URL? = nil) -> Data {
        (try? Data(contentsOf: (dir ?? slugDir).appendingPathComponent(relative))) ?? Data()
    }

    /// Exports the project's sessions (to the default file unless `output`).
    @discardableResult
    func export(output: URL? = nil, _ change: (inout ExportOptions) -> Void = { _ in }) throws -> ExportSummary {
        var options = ExportOptions(selection: .project, projectPath: project, output: output ?? exportFile)
        change(&options)
        return try SessionExporter(claudeDir: claude).export(options)
    }

    /// Imports into the other Claude dir's project.
    @discardableResult
    func importOther(_ source: ImportOptions.Source? = nil, _ change: (inout ImportOptions) -> Void = { _ in }) throws -> ImportReport {
        var options = ImportOptions(source: source ?? .file(exportFile.path), projectPath: otherProject)
        change(&options)
        return try SessionImporter(claudeDir: otherClaude).run(options)
    }

    /// The files under a folder (relative paths, sorted), hidden ones included.
    static func files(under dir: URL) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        var out = [String]()
        while let p = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(p).path, isDirectory: &isDir), !isDir.boolValue { out.append(p) }
        }
        return out.sorted()
    }

    /// One JSON line, keys sorted, slashes unescaped (as the fixtures' raw forms assume).
    static func line(_ object: [String: Any]) -> Data {
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        data.append(0x0A)
        return data
    }

    /// How `s` appears inside a JSON string written by `line`.
    static func raw(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        return String(text.dropFirst(2).dropLast(2))
    }

    /// A user line and an assistant line of session `id`.
    static func turn(_ id: String, _ n: Int, prompt: String, answer: String, cwd: String = "/work/app") -> Data {
        let stamp = String(format: "2026-03-01T10:%02d:00.000Z", n % 60)
        return line(["type": "user", "sessionId": id, "uuid": "u-\(id.prefix(8))-\(n)", "timestamp": stamp, "cwd": cwd,
                     "message": ["role": "user", "content": prompt]])
            + line(["type": "assistant", "sessionId": id, "uuid": "a-\(id.prefix(8))-\(n)", "timestamp": stamp, "cwd": cwd,
                    "message": ["role": "assistant", "content": [["type": "text", "text": answer]],
                                "usage": ["input_tokens": 12, "output_tokens": 30, "max_tokens": 4096]]])
    }
}
