import Foundation
import TOMLKit

/// `.ccpod.toml` in a project's root: committable settings of the project.
///
/// ```toml
/// pod = "gpu1"                                  # the pod this project uses
/// pod_path = "/workspace/runs/stage1_dpo/code"  # where the project lives on the pod
/// budget_usd_per_day = 10                       # spending limits (see `CostBudget`)
/// ```
public struct ProjectSettings: Sendable, Equatable {
    public var pod: String?
    public var podPath: String?
    /// The project's spending limits (`budget_usd_per_day` …).
    public var budget = CostBudget()

    public init(pod: String? = nil, podPath: String? = nil) {
        self.pod = pod
        self.podPath = podPath
    }

    public static let fileName = ".ccpod.toml"

    /// Reads `.ccpod.toml` from `projectRoot`; empty settings when there is none.
    public static func load(projectRoot: String) throws -> ProjectSettings {
        let path = projectRoot + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return ProjectSettings() }
        let text = String(decoding: data, as: UTF8.self)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw CCPodError.badData("\(path) is not valid TOML: \(error)")
        }
        ConfigNotices.emit(ConfigKeyCheck.projectWarnings(table, text: text, origin: path))
        var settings = ProjectSettings()
        if let value = table["pod"] {
            guard let s = value.string else { throw CCPodError.badData("\(path): `pod` must be a string") }
            settings.pod = s
        }
        if let value = table["pod_path"] {
            guard let s = value.string, s.hasPrefix("/") else {
                throw CCPodError.badData("\(path): `pod_path` must be an absolute path on the pod")
            }
            settings.podPath = s
        }
        settings.budget = try CostBudget.parse(table) { CCPodError.badData("\(path): \($0)") }
        return settings
    }
}

/// The project a command works on: its root (git root, else the directory) and how
/// it maps to the pod.
public struct ProjectContext: Sendable {
    /// The project's directory here, symlinks resolved.
    public var root: String
    public var settings: ProjectSettings

    /// The project of `directory`: its git root when inside a repository, else itself.
    public static func locate(directory: String) throws -> ProjectContext {
        var root = directory
        switch GitWorkTree.find(from: directory) {
        case .top(let top): root = top
        case .none: break
        case .askGit:
            if let out = try? ChildProcess.run("git", ["-C", directory, "rev-parse", "--show-toplevel"]), out.status == 0 {
                let top = out.stdoutText.trimmingCharacters(in: .newlines)
                if !top.isEmpty { root = top }
            }
        }
        root = ProjectSlug.resolvedPath(URL(fileURLWithPath: root))
        return ProjectContext(root: root, settings: try ProjectSettings.load(projectRoot: root))
    }

    /// Whether the pod path comes from neither `--pod-path` nor `.ccpod.toml`, so the
    /// latest run's code folder (`LatestRun.podPath`) is the next candidate.
    public func needsLatestRun(podPathOverride: String?) -> Bool {
        podPathOverride == nil && settings.podPath == nil
    }

    /// The mapping for a sync: `--pod-path` first, then `.ccpod.toml`, then the code
    /// folder of the project's latest run on the pod, else the project keeps its own
    /// slug on the pod.
    public func mapping(podPathOverride: String?, latestRunPodPath: String? = nil) throws -> ProjectMapping {
        let podPath = podPathOverride ?? settings.podPath ?? latestRunPodPath
        if let podPath, !podPath.hasPrefix("/") {
            throw CCPodError.usage("--pod-path must be an absolute path on the pod, as in /workspace/runs/NAME/code")
        }
        let localSlug = ProjectSlug.of(root)
        return ProjectMapping(localSlug: localSlug, podSlug: podPath.map(ProjectSlug.of) ?? localSlug,
                              localPath: root, podPath: podPath ?? root)
    }
}

/// Mappings used before, per pod, so `--all` carries mapped projects to the right folder.
public struct MappingMemory: Sendable {
    public let file: URL

    public init(stateDir: URL) { file = stateDir.appendingPathComponent("mappings.json") }

    public func load() -> [ProjectMapping] {
        (try? JSONDecoder().decode([ProjectMapping].self, from: Data(contentsOf: file))) ?? []
    }

    public func remember(_ mapping: ProjectMapping) throws {
        var all = load().filter { $0.localSlug != mapping.localSlug }
        all.append(mapping)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        try AtomicFile.write(try encoder.encode(all.sorted { $0.localSlug < $1.localSlug }), to: file)
    }
}

extension CCPodLocations {
    /// The state folder of one pod (ancestors, journal, mappings).
    public func podStateDir(podName: String) -> URL {
        let safe: String
        if podName.hasPrefix("local:") {
            safe = "local-" + SHA256Hex.of(Data(podName.utf8)).prefix(16)
        } else {
            safe = String(podName.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        }
        return stateDir.appendingPathComponent("pods").appendingPathComponent(safe)
    }
}

/// The mappings `--all` uses: each local project folder maps as its project would on
/// its own (`pod_path` in the project's `.ccpod.toml`, else the code folder of its
/// latest run, else the mapping remembered from an earlier push), so no project also
/// lands under its own slug on the pod. A folder's project is the directory its
/// sessions name (`cwd`) whose slug is the folder's name; projects only remembered
/// keep their mapping.
public enum AllProjects {
    /// Where a mapping came from, for the note a command prints.
    public struct Mapped: Sendable, Equatable {
        public var mapping: ProjectMapping
        public var source: String
    }

    public static func mappings(claudeDir: String, remembered: [ProjectMapping],
                                latestRunPodPath: (String) -> String?) throws -> (mappings: [ProjectMapping], mapped: [Mapped]) {
        var bySlug: [String: ProjectMapping] = [:]
        for mapping in remembered { bySlug[mapping.localSlug] = mapping }
        var mapped: [Mapped] = []
        for slug in DirectoryEntries.names(claudeDir + "/projects") where !slug.hasPrefix(".") {
            guard let root = projectRoot(claudeDir: claudeDir, slug: slug) else { continue }
            let settings = try ProjectSettings.load(projectRoot: root)
            let source: String
            let podPath: String
            if let fromFile = settings.podPath {
                (podPath, source) = (fromFile, ProjectSettings.fileName)
            } else if let run = latestRunPodPath(root) {
                (podPath, source) = (run, "latest run")
            } else {
                continue
            }
            let mapping = ProjectMapping(localSlug: slug, podSlug: ProjectSlug.of(podPath), localPath: root, podPath: podPath)
            bySlug[slug] = mapping
            mapped.append(Mapped(mapping: mapping, source: source))
        }
        return (bySlug.values.sorted { $0.localSlug < $1.localSlug }, mapped)
    }

    /// The project directory of a local project folder: the first `cwd` its sessions
    /// name whose slug is the folder's (a few lines of a few sessions are read).
    static func projectRoot(claudeDir: String, slug: String) -> String? {
        let folder = claudeDir + "/projects/" + slug
        let names = DirectoryEntries.names(folder).filter { $0.hasSuffix(".jsonl") && !$0.hasPrefix(".") }
        for name in names.prefix(8) {
            var found: String?
            _ = try? JSONLReader(url: URL(fileURLWithPath: folder + "/" + name), bufferSize: 1 << 16).read { line in
                if let cwd = line.cwd, ProjectSlug.of(cwd) == slug { found = cwd; return false }
                return line.number < 64
            }
            if let found, found.hasPrefix("/") { return found }
        }
        return nil
    }
}
