import Foundation

/// How a session on one pod stands against this machine's copy, from the pod's status
/// exchange (the ancestor store's last agreed version on each side).
public enum OverviewState: String, Sendable, Codable {
    case inSync = "in-sync"
    /// Grew here since both sides last agreed.
    case aheadHere = "ahead-here"
    /// Grew on the pod since both sides last agreed.
    case aheadThere = "ahead-there"
    /// Both moved on (or one was rewritten): `ccpod sync` keeps both as siblings.
    case diverged
    case onlyHere = "only-here"
    case onlyThere = "only-there"
    /// Changed in the last few seconds or open in a running claude: compared next time.
    case busy
    /// Anything else the status said (deleted on one side, …).
    case other

    init(_ action: SyncItem.Action) {
        switch action {
        case .inSync: self = .inSync
        case .localAhead, .pushed: self = .aheadHere
        case .podAhead, .pulled: self = .aheadThere
        case .diverged, .forked, .conflict: self = .diverged
        case .localOnly, .copiedToPod: self = .onlyHere
        case .podOnly, .copiedFromPod: self = .onlyThere
        case .busy: self = .busy
        default: self = .other
        }
    }

    /// Whether the pod has a copy.
    public var existsThere: Bool { self != .onlyHere }
}

/// A session's copy on one pod.
public struct OverviewPodCopy: Sendable, Codable, Equatable {
    public var pod: String
    public var state: OverviewState
    /// The project's directory on the pod (its mapping), when known.
    public var podProject: String?
    /// A claude on the pod holds the session now.
    public var live: Bool
    /// What the pod's transcript says, for a copy not in sync (nil when it says the same as here).
    public var title: String?
    public var lastPrompt: String?
    public var lastActivity: Date?
    public var size: Int64?
}

/// One session as this machine and every pod asked see it.
public struct OverviewSession: Sendable, Codable, Equatable {
    public var id: String
    /// Whole (never cut): a fork's "(from gpu1 …)" stays visible.
    public var title: String?
    /// The project's directory here (from the lines' cwd or the mapping), else its folder's slug.
    public var project: String
    public var slug: String
    /// "here" and the pods that have a copy.
    public var places: [String]
    /// Where a claude runs it now ("here", pod names).
    public var live: [String]
    /// Where its newest state is ("here", pod names; two or more when it diverged).
    public var newest: [String]
    public var here: Bool
    public var pods: [OverviewPodCopy]
    public var lastPrompt: String?
    public var lastActivity: Date?
    public var size: Int64?
}

/// What one pod answered (or why it did not).
public struct OverviewPodAnswer: Sendable {
    public var name: String
    public var mappings: [ProjectMapping]
    public var report: SyncReport?
    public var error: String?

    public init(name: String, mappings: [ProjectMapping], report: SyncReport?, error: String?) {
        self.name = name
        self.mappings = mappings
        self.report = report
        self.error = error
    }
}

/// Joins this machine's sessions with every pod's status answer. Pure: no disk, no process
/// (the caller reads the local last prompts and live sessions).
public enum SessionsEverywhere {
    public struct Local: Sendable {
        public var sessions: [SessionInfo]
        /// Last typed prompt by session id (`LastPrompt`).
        public var lastPrompts: [String: String]
        /// Sessions a running claude holds here (`LiveSessions`).
        public var live: Set<String>

        public init(sessions: [SessionInfo], lastPrompts: [String: String], live: Set<String>) {
            self.sessions = sessions
            self.lastPrompts = lastPrompts
            self.live = live
        }
    }

    /// `projects/<slug>/<id>.jsonl` → (slug, id) for a top-level transcript.
    static func transcript(_ path: String) -> (slug: String, id: String)? {
        guard SyncScope.isTranscript(path) else { return nil }
        let parts = path.split(separator: "/")
        guard parts.count == 3 else { return nil }
        return (String(parts[1]), String(parts[2].dropLast(6)))
    }

    public static func combine(local: Local, pods: [OverviewPodAnswer]) -> [OverviewSession] {
        struct Key: Hashable { var slug: String; var id: String }
        var here: [Key: SessionInfo] = [:]
        for s in local.sessions { here[Key(slug: s.ref.slug, id: s.ref.id)] = s }
        var copies: [Key: [OverviewPodCopy]] = [:]
        var order: [Key] = local.sessions.map { Key(slug: $0.ref.slug, id: $0.ref.id) }
        var seen = Set(order)

        for answer in pods.sorted(by: { $0.name < $1.name }) {
            guard let report = answer.report else { continue }
            var notes: [String: [SessionNote.Kind: String]] = [:]
            var live = Set<String>()
            for note in report.sessionNotes ?? [] {
                if note.kind == .live { live.insert(note.sessionId) } else if let text = note.text { notes[note.sessionId, default: [:]][note.kind] = text }
            }
            func podProject(localSlug: String) -> String? {
                answer.mappings.first { $0.localSlug == localSlug }?.podPath
            }
            func copy(_ key: Key, _ state: OverviewState, bytes: Int64) -> OverviewPodCopy {
                let said = notes[key.id] ?? [:]
                var c = OverviewPodCopy(pod: answer.name, state: state, podProject: podProject(localSlug: key.slug),
                                        live: live.contains(key.id),
                                        title: said[.title] ?? said[.summary] ?? said[.first],
                                        lastPrompt: said[.prompt], lastActivity: said[.activity].flatMap(ISOTimestamp.parse))
                let localSize = here[key]?.stat.size
                switch state {
                case .onlyThere: c.size = bytes > 0 ? bytes : nil
                case .aheadThere: c.size = localSize.map { $0 + bytes }
                case .inSync: c.size = localSize
                default: break
                }
                return c
            }
            var reported = Set<String>()
            for item in report.items {
                guard let (slug, id) = transcript(item.path) else { continue }
                let key = Key(slug: slug, id: id)
                reported.insert(id)
                copies[key, default: []].append(copy(key, OverviewState(item.action), bytes: item.bytes))
                if seen.insert(key).inserted { order.append(key) }
            }
            // Open in a claude on the pod and never seen here: the status leaves it for next
            // time; the notes still tell where it is.
            for (id, said) in notes where !reported.contains(id) {
                guard let podSlug = said[.slug] else { continue }
                let slug = answer.mappings.first { $0.podSlug == podSlug }?.localSlug ?? podSlug
                let key = Key(slug: slug, id: id)
                guard here[key] == nil else { continue }
                copies[key, default: []].append(copy(key, .onlyThere, bytes: 0))
                if seen.insert(key).inserted { order.append(key) }
            }
        }

        // A project folder's directory, from any session here that names it.
        var projectOf: [String: String] = [:]
        for s in local.sessions where s.summary.projectPath != nil && projectOf[s.ref.slug] == nil {
            projectOf[s.ref.slug] = s.projectPath
        }
        var result: [OverviewSession] = []
        for key in order {
            let info = here[key]
            let podCopies = copies[key] ?? []
            let present = podCopies.filter { $0.state.existsThere }
            var live = info != nil && local.live.contains(key.id) ? ["here"] : []
            live += podCopies.filter(\.live).map(\.pod)
            // The newest state: a pod ahead of here wins; else here (with any pod it diverged from).
            let ahead = present.filter { $0.state == .aheadThere }
            var newest: [String]
            if let best = ahead.max(by: { ($0.size ?? 0, $1.pod) < ($1.size ?? 0, $0.pod) }) {
                newest = [best.pod] + podCopies.filter { $0.state == .diverged }.map(\.pod)
            } else if info != nil {
                newest = ["here"] + podCopies.filter { $0.state == .diverged }.map(\.pod)
            } else if let best = present.max(by: { ($0.lastActivity ?? .distantPast, $0.size ?? 0, $1.pod) < ($1.lastActivity ?? .distantPast, $1.size ?? 0, $0.pod) }) {
                newest = [best.pod]
            } else {
                newest = []
            }
            let newestCopy = newest.first.flatMap { name in podCopies.first { $0.pod == name } }
            let mapping = pods.lazy.flatMap(\.mappings).first { $0.localSlug == key.slug }
            var session = OverviewSession(
                id: key.id, title: info?.summary.title, project: info?.projectPath ?? mapping?.localPath ?? projectOf[key.slug] ?? key.slug, slug: key.slug,
                places: (info != nil ? ["here"] : []) + present.map(\.pod), live: live, newest: newest, here: info != nil,
                pods: podCopies, lastPrompt: info.flatMap { local.lastPrompts[$0.ref.id] },
                lastActivity: info?.lastActivity, size: info?.stat.size)
            if let newestCopy {
                session.title = newestCopy.title ?? session.title
                session.lastPrompt = newestCopy.lastPrompt ?? session.lastPrompt
                session.lastActivity = newestCopy.lastActivity ?? session.lastActivity
                session.size = newestCopy.size ?? session.size
            }
            result.append(session)
        }
        result.sort { ($0.lastActivity ?? .distantPast, $0.id) > ($1.lastActivity ?? .distantPast, $1.id) }
        return result
    }
}

/// Runs one body per pod, each on its own thread (they wait on the network, not on a
/// core), and returns the results in order.
public enum ParallelPods {
    public static func map<T: Sendable>(_ names: [String], _ body: @escaping @Sendable (String) -> T) -> [T] {
        let results = ParallelResults<T>(count: names.count)
        let group = DispatchGroup()
        for (i, name) in names.enumerated() {
            group.enter()
            let thread = Thread {
                results.set(i, body(name))
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
        return (0..<names.count).map { results.get($0)! }
    }

    /// `local` on its own thread while `pods` runs on this one: this machine's listing
    /// overlaps the pods' answers.
    public static func alongside<L: Sendable, P>(_ local: @escaping @Sendable () -> L, _ pods: () -> P) -> (L, P) {
        let result = ParallelResults<L>(count: 1)
        let group = DispatchGroup()
        group.enter()
        let thread = Thread {
            result.set(0, local())
            group.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
        let answers = pods()
        group.wait()
        return (result.get(0)!, answers)
    }
}

extension SessionsEverywhere {
    /// This machine's side: the sessions listed, their last prompts (read in parallel,
    /// 64 KiB each) and the sessions a claude holds here.
    public static func local(_ sessions: [SessionInfo], claudeDir: URL) -> Local {
        let prompts = ParallelResults<String>(count: sessions.count)
        DispatchQueue.concurrentPerform(iterations: sessions.count) { i in
            if let p = LastPrompt.read(sessions[i].ref.transcript, size: sessions[i].stat.size) { prompts.set(i, p) }
        }
        var lastPrompts: [String: String] = [:]
        for (i, s) in sessions.enumerated() { lastPrompts[s.ref.id] = prompts.get(i) }
        return Local(sessions: sessions, lastPrompts: lastPrompts, live: LiveSessions.ids(configDir: claudeDir))
    }
}
