import Foundation

/// `./runs/` in a project: where `ccpod artifacts pull` brings a run's outputs by
/// default. It is kept out of git through the clone's own `info/exclude`, so a pulled
/// log never makes the next `ccpod deploy` refuse a "dirty" tree and never ends up in a
/// `--allow-dirty` snapshot. A project that tracks files under `runs/` itself is left
/// alone: its changes there are the user's.
public enum RunsFolder {
    /// The folder's name inside the project.
    public static let name = "runs"

    /// The default local folder of `run`.
    public static func path(projectRoot: String, run: String) -> String {
        projectRoot + "/" + name + "/" + run
    }

    /// Keeps `runs/` out of git when the project is a git work tree that does not track
    /// files there; returns a sentence for the user when the exclude line was added now,
    /// nil when nothing changed (already excluded, tracked, or not a repository).
    /// `onlyIfPresent`: do nothing while the project has no `runs/` folder (deploy).
    @discardableResult
    public static func keepOutOfGit(projectRoot: String, onlyIfPresent: Bool = false,
                                    environment: [String: String]? = nil) -> String? {
        if onlyIfPresent {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: projectRoot + "/" + name, isDirectory: &isDirectory),
                  isDirectory.boolValue else { return nil }
        }
        guard let repo = try? GitRepository.open(directory: projectRoot, environment: environment) else { return nil }
        // Relative to the work tree's top, which may be above the project folder.
        let resolvedProject = ProjectSlug.resolvedPath(URL(fileURLWithPath: projectRoot))
        var relative = name
        if resolvedProject != repo.root {
            guard resolvedProject.hasPrefix(repo.root + "/") else { return nil }
            relative = String(resolvedProject.dropFirst(repo.root.count + 1)) + "/" + name
        }
        guard !repo.tracksFiles(under: relative) else { return nil }
        guard (try? repo.exclude("/" + relative + "/")) == true else { return nil }
        return "added /\(relative)/ to \(repo.root)/.git/info/exclude so that pulled run outputs stay out of git (and out of `ccpod deploy`'s dirty check)"
    }
}
