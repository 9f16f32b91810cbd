import Foundation

/// `ccpod archive --before-sweep` as `ccpod watch` runs it once a day: the sessions
/// Claude's cleanup deletes within a week and that exist nowhere else go into the
/// archive, with the same selection (never one a claude holds or that just changed)
/// and the same archiver as the command.
public enum SweepGuard {
    public struct Outcome: Sendable, Equatable {
        /// Sessions archived now, by id.
        public var archived: [String] = []
        /// Why a session at risk stayed, or what went wrong with one: sentences.
        public var notes: [String] = []
    }

    /// How often `watch` looks.
    public static let interval: TimeInterval = 86400

    static func stamp(stateDir: URL) -> URL { stateDir.appendingPathComponent("archive/before-sweep.stamp") }

    /// Whether a day has passed since the last look (or there was none).
    public static func isDue(stateDir: URL, now: Date = Date()) -> Bool {
        guard let stat = FileStat.of(stamp(stateDir: stateDir).path) else { return true }
        return now.timeIntervalSince1970 - Double(stat.mtimeNanoseconds) / 1e9 >= interval
    }

    /// Archives the sessions at risk; the caller holds the Claude dir's and the archive's locks.
    public static func run(claudeDir: URL, locations: CCPodLocations, now: Date = Date()) throws -> Outcome {
        var outcome = Outcome()
        let archiver = SessionArchiver(claudeDir: claudeDir, stateDir: locations.stateDir)
        let (finished, notes) = try archiver.finishInterrupted()
        outcome.archived += finished
        outcome.notes += notes
        let atRisk = Set(try RetentionShield.scan(claudeDir: claudeDir, locations: locations, now: now).atRisk.map(\.candidate.id))
        if !atRisk.isEmpty {
            let cache = SessionMetadataCache(url: SessionMetadataCache.defaultURL(stateDir: locations.stateDir))
            let (candidates, unreadable) = try ArchiveCandidate.gather(claudeDir: claudeDir, slug: nil, cache: cache)
            outcome.notes += unreadable
            let archived = try ArchiveIndex.load(stateDir: locations.stateDir).ids(claudeDir: claudeDir)
            let decisions = ArchivePlan.select(candidates.filter { atRisk.contains($0.id) }, olderThan: 0, now: now,
                                               live: LiveSessions.ids(configDir: claudeDir), archived: archived)
            for decision in decisions {
                guard decision.skipped == nil else {
                    outcome.notes.append("\(decision.candidate.id) stays: \(decision.skipped!)")
                    continue
                }
                let (entry, skipped) = try archiver.archive(decision.candidate, now: now)
                if entry != nil { outcome.archived.append(decision.candidate.id) }
                if let skipped { outcome.notes.append("\(decision.candidate.id): \(skipped)") }
            }
        }
        try CCPodLocations.makePrivateDirectory(stamp(stateDir: locations.stateDir).deletingLastPathComponent())
        try AtomicFile.write(Data(ISO8601DateFormatter().string(from: now).utf8), to: stamp(stateDir: locations.stateDir))
        return outcome
    }
}
