import Foundation

/// Claude Code deletes transcripts whose modification time is older than
/// `cleanupPeriodDays` (its `settings.json`; 30 when unset) each time it starts. The
/// shield names the sessions that sweep reaches within a week and that exist nowhere
/// else: on no configured pod (as the last agreement with it records) and not archived.
public enum RetentionShield {
    /// Claude's default when `settings.json` does not say.
    public static let defaultCleanupDays = 30
    /// How far ahead the shield looks.
    public static let window: TimeInterval = 7 * 86400

    /// `cleanupPeriodDays` from the Claude dir's `settings.json`, else 30.
    public static func cleanupDays(claudeDir: URL) -> Int {
        let url = claudeDir.appendingPathComponent("settings.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let days = (object["cleanupPeriodDays"] as? NSNumber)?.intValue, days >= 0 else { return defaultCleanupDays }
        return days
    }

    /// One session the sweep will delete soon.
    public struct AtRisk: Sendable, Equatable {
        public var candidate: ArchiveCandidate
        /// When Claude's next start after this moment deletes it.
        public var sweptAfter: Date
        /// Whole days left (0: the next start of claude deletes it).
        public var daysLeft: Int
    }

    /// The sessions the sweep deletes within `window` that are not `elsewhere` (pure).
    public static func atRisk(_ sessions: [ArchiveCandidate], cleanupDays: Int, now: Date, window: TimeInterval = window,
                              elsewhere: Set<String>) -> [AtRisk] {
        let period = TimeInterval(cleanupDays) * 86400
        return sessions.compactMap { s in
            let swept = s.transcriptModified.addingTimeInterval(period)
            guard swept.timeIntervalSince(now) <= window, !elsewhere.contains(s.id) else { return nil }
            return AtRisk(candidate: s, sweptAfter: swept, daysLeft: max(0, Int(swept.timeIntervalSince(now) / 86400)))
        }.sorted { ($0.sweptAfter, $0.candidate.id) < ($1.sweptAfter, $1.candidate.id) }
    }

    /// The sessions a pod holds whole, as its last agreement records: the transcript was
    /// agreed at (at least) the size it has here now.
    public static func onPods(ancestorFiles: [URL], sessions: [ArchiveCandidate], claudeDir: URL) -> Set<String> {
        var covered = Set<String>()
        for file in ancestorFiles {
            guard let store = try? AncestorStore(file: file) else { continue }
            for s in sessions where !covered.contains(s.id) {
                let path = "projects/\(s.slug)/\(s.id).jsonl"
                guard let pair = store.pair(local: path),
                      let size = FileStat.of(claudeDir.path + "/" + path)?.size, pair.local.size >= size else { continue }
                covered.insert(s.id)
            }
        }
        return covered
    }

    /// What the shield found: the sweep's period and the sessions at risk.
    public struct Scan: Sendable {
        public var cleanupDays: Int
        public var atRisk: [AtRisk]
        /// The pods whose last agreements were consulted.
        public var pods: [String]
    }

    /// The sessions of this Claude dir that the sweep deletes within a week and that
    /// exist nowhere else: not agreed at their present size with any configured pod, not archived.
    public static func scan(claudeDir: URL, locations: CCPodLocations, now: Date = Date()) throws -> Scan {
        let days = cleanupDays(claudeDir: claudeDir)
        let cache = SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: locations.stateDir))
        let sessions = try ArchiveCandidate.gather(claudeDir: claudeDir, slug: nil, cache: cache).sessions
        // Only those the sweep reaches are compared with the pods' agreements.
        let soon = atRisk(sessions, cleanupDays: days, now: now, elsewhere: []).map(\.candidate)
        let pods = ((try? CCPodConfig.load(from: locations))?.pods.keys).map { Array($0).sorted() } ?? []
        var elsewhere = onPods(ancestorFiles: pods.map { locations.podStateDir(podName: $0).appendingPathComponent("ancestors.tsv") },
                               sessions: soon, claudeDir: claudeDir)
        elsewhere.formUnion(try ArchiveIndex.load(stateDir: locations.stateDir).ids(claudeDir: claudeDir))
        return Scan(cleanupDays: days, atRisk: atRisk(soon, cleanupDays: days, now: now, elsewhere: elsewhere), pods: pods)
    }
}
