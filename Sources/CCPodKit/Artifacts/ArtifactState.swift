import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What ccpod knows about one pair of folders (a run directory on a pod and a local
/// folder), kept under the pod's state dir: for each file the version both sides last
/// agreed on (the pod's size and mtime, the local file's stat, their SHA-256), so an
/// unchanged file is never read again; and transfers in progress, so an interrupted
/// one resumes where it stopped.
public struct ArtifactState: Codable, Sendable, Equatable {
    public struct Agreed: Codable, Sendable, Equatable {
        public var pod: PodStat
        public var local: LocalStat
        public var sha256: String
    }

    public var files: [String: Agreed] = [:]
    /// Pulls in progress: the pod version the local `.NAME.ccpod-part` holds a prefix of.
    public var partial: [String: PodStat] = [:]
    /// Pulls appending to a grown local file: the size to cut it back to if the append
    /// did not finish (the next pull then fetches the tail again).
    public var appending: [String: Int64] = [:]
    /// Pushes in progress: the local version (its stat) the pod's part holds a prefix of.
    public var pushing: [String: LocalStat] = [:]

    public init() {}
}

/// The file that keeps an `ArtifactState`, written atomically.
public struct ArtifactStateStore: Sendable {
    public let file: URL

    /// `<pod state>/artifacts/<hash of both folders>.json`.
    public init(podStateDir: URL, podDirectory: String, localDirectory: String) {
        let key = SHA256Hex.of(Data((podDirectory + "\n" + localDirectory).utf8)).prefix(24)
        file = podStateDir.appendingPathComponent("artifacts").appendingPathComponent("\(key).json")
    }

    public func load() -> ArtifactState {
        guard let data = try? Data(contentsOf: file) else { return ArtifactState() }
        return (try? JSONDecoder().decode(ArtifactState.self, from: data)) ?? ArtifactState()
    }

    public func save(_ state: ArtifactState) throws {
        try CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(state), to: file)
    }
}

/// Local files of a folder, found with readdir and lstat: regular files, and the
/// symbolic links that are reported and never followed.
enum LocalFolder {
    struct Listing {
        var files: [String: LocalStat] = [:]
        var links: [String] = []
        var parts: [String: LocalStat] = [:]
        var skipped: [String] = []
    }

    /// The name of the part file that holds a transfer in progress of `path`.
    static func partPath(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." + path + ".ccpod-part" }
        return String(path[...slash]) + "." + path[path.index(after: slash)...] + ".ccpod-part"
    }

    /// The path a part file (relative) belongs to, nil for any other name.
    static func pathOfPart(_ rel: String) -> String? {
        let name = rel.split(separator: "/").last.map(String.init) ?? rel
        guard name.hasPrefix("."), name.hasSuffix(".ccpod-part"), name.count > ".ccpod-part".count + 1 else { return nil }
        let original = String(name.dropFirst().dropLast(".ccpod-part".count))
        let dir = rel.contains("/") ? String(rel[..<rel.lastIndex(of: "/")!]) + "/" : ""
        return dir + original
    }

    static func list(_ root: String) -> Listing {
        var listing = Listing()
        walk(root, "", &listing)
        return listing
    }

    private static func walk(_ root: String, _ relative: String, _ listing: inout Listing) {
        DirectoryEntries.walk(root: root, relative: relative) { rel, _, stat in
            if !PodPathCheck.isSafeRelative(rel) || rel.contains("\t") {
                listing.skipped.append(rel)
                return false
            }
            if stat.isSymlink { listing.links.append(rel) }
            if let file = LocalStat(regular: stat) {
                if let original = pathOfPart(rel) { listing.parts[original] = file } else { listing.files[rel] = file }
            }
            return true
        }
    }

    /// Creates the folders of `rel` under `root` (0700), refusing to go through anything
    /// that is not a real folder (a symbolic link could lead outside `root`).
    static func makeParents(root: String, of rel: String) throws {
        try SafeFolders.make(relative: (rel as NSString).deletingLastPathComponent, under: root)
    }
}
