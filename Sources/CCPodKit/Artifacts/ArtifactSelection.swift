import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which files of a run directory an artifacts transfer covers: by default the run's
/// `artifacts/ logs/ checkpoints/ results/`; with patterns, the files they match.
///
/// Patterns are globs relative to the run directory: `*` and `?` and `[…]` within one
/// name, `**` across folders. A pattern without a `/` matches a name at any depth
/// (`*.json`); a pattern that matches a folder covers everything under it
/// (`checkpoints/step-1000`). The deployed `code/` is left out unless a pattern names it.
public struct ArtifactSelection: Sendable, Equatable {
    public static let defaultFolders = ["artifacts", "logs", "checkpoints", "results"]

    public var patterns: [String]
    public var excludes: [String]

    /// Without patterns: every file (a push of a local folder) instead of the default folders.
    public var everythingByDefault: Bool

    public init(patterns: [String] = [], excludes: [String] = [], everythingByDefault: Bool = false) {
        self.patterns = patterns.map(Self.normalize).filter { !$0.isEmpty }
        self.excludes = excludes.map(Self.normalize).filter { !$0.isEmpty }
        self.everythingByDefault = everythingByDefault
    }

    private static func normalize(_ pattern: String) -> String {
        var p = pattern
        while p.hasPrefix("./") { p.removeFirst(2) }
        while p.hasPrefix("/") { p.removeFirst() }
        while p.hasSuffix("/") && p.count > 1 { p.removeLast() }
        return p
    }

    /// The folders (or files) of the run directory the pod lists: only what the
    /// patterns can match, "." (all but `code/`) when a pattern can match anywhere.
    public var listedTops: [String] {
        guard !patterns.isEmpty else { return everythingByDefault ? ["."] : Self.defaultFolders }
        var tops: [String] = []
        var anywhere = false
        for pattern in patterns {
            let first = pattern.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
            // A name `find` would read as an option or operator (`-delete`, `(`) is not passed to it.
            if !pattern.contains("/") || Self.hasGlob(first) || first == "**" || first.hasPrefix("-") || ["(", ")", "!", ","].contains(first) {
                anywhere = true
            } else if !tops.contains(first) {
                tops.append(first)
            }
        }
        return anywhere ? ["."] + tops.filter { $0 == "code" } : tops
    }

    /// Whether a path (relative to the run directory) is selected.
    public func includes(_ path: String) -> Bool {
        let segments = path.split(separator: "/").map(String.init)
        if excludes.contains(where: { Self.matches($0, segments) }) { return false }
        if patterns.isEmpty {
            return everythingByDefault ? segments.first != "code" || segments.count == 1
                : segments.count > 1 && Self.defaultFolders.contains(segments[0])
        }
        return patterns.contains { Self.matches($0, segments) }
    }

    static func hasGlob(_ s: String) -> Bool { s.contains { "*?[".contains($0) } }

    /// A pattern matches a path when it matches the path or one of its folders.
    static func matches(_ pattern: String, _ path: [String]) -> Bool {
        var parts = pattern.split(separator: "/").map(String.init)
        if !pattern.contains("/") { parts.insert("**", at: 0) }
        for end in stride(from: path.count, through: 1, by: -1) where match(parts[...], path[0..<end]) {
            return true
        }
        return false
    }

    private static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let head = pattern.first else { return path.isEmpty }
        if head == "**" {
            let rest = pattern.dropFirst()
            // A trailing `**` is what is inside: `step-*/**` does not match a file `step-x.json`.
            if rest.isEmpty { return !path.isEmpty }
            var p = path
            while true {
                if match(rest, p) { return true }
                guard !p.isEmpty else { return false }
                p = p.dropFirst()
            }
        }
        guard let name = path.first, fnmatch(head, name, 0) == 0 else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }
}
