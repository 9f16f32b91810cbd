import CCPodKit
import CCPodTestSupport
import Foundation

/// The scenarios, per corpus and link profile: each tool on its own pair of trees.
extension Bench {
    /// Appends `bytes` of new turns to each of `paths` under `claudeDir`, the same content for a given (path, run).
    func grow(_ claudeDir: String, _ paths: [String], bytes: Int, run: Int, salt: UInt64) throws {
        let writer = turns
        for path in paths {
            var rng = SplitMix64(seed: SplitMix64.seed(path, salt &+ UInt64(run)))
            try writer.append(to: claudeDir + "/" + path, bytes: bytes, rng: &rng)
        }
    }

    func growthTargets(_ scenario: Scenario, run: Int) -> [String] {
        let n = sessionPaths.count
        switch scenario {
        case .grow10: return (0..<min(10, n)).map { sessionPaths[(run * 10 + $0 * 37) % n] }
        default: return [sessionPaths[(run * 53 + 11) % n]]
        }
    }

    // MARK: - Scenarios

    func runAll() throws {
        for kind in settings.corpora {
            try generateCorpus(kind)
            for link in settings.profiles { try runLink(link) }
            // --keep leaves the trees for reproducing a run by hand.
            if !settings.keep { try Trees.remove(base) }
        }
    }

    /// Sets the relay to play `link`.
    func play(_ link: LinkProfile) {
        relay.delay = Double(link.rttMs) / 2000
        relay.rateLimit = (link.upMbit.map { $0 * 1_000_000 }, link.downMbit.map { $0 * 1_000_000 })
    }

    /// One tool on its own pair of trees at one link.
    struct Lane {
        let tool: SyncTool
        let sides: Sides
        let emptyPod: () throws -> Void
        /// The competitor's folder, removed after the link (ccpod's trees go with the scratch).
        let root: String?
    }

    func runLink(_ link: LinkProfile) throws {
        play(link)
        log("== \(corpus.rawValue) corpus, \(link.name) (relay delay \(Double(link.rttMs) / 2) ms each way)")
        let podName = "bench-\(corpus.rawValue)-\(link.slug)"
        let scratch = work + "/" + link.slug
        try addPod(podName)
        var lanes: [Lane] = []
        if settings.tools.contains("ccpod") {
            lanes.append(Lane(tool: ccpod(podName), sides: Sides(local: scratch + "/ccpod/local", pod: podClaude(podName)),
                              emptyPod: { try self.emptyPod(podName) }, root: nil))
        }
        let competitors: [(SyncTool, String)] = [
            (RsyncTool(ssh: ssh), "rsync"),
            (RsyncTool(name: "rsync -az, ssh with ccpod's ciphers", ssh: ssh.withCCPodCiphers), "rsync-aes"),
            (TarTool(ssh: ssh), "tar"), (PerFileTool(ssh: ssh), "perfile"),
        ]
        for (tool, slug) in competitors where settings.tools.contains(slug) {
            // One ssh per file takes minutes: once, on the first corpus at 0 ms.
            if tool is PerFileTool && (link.rttMs != 0 && settings.quick || link.isLimited || corpus != settings.corpora.first) { continue }
            let root = scratch + "/" + slug
            let sides = Sides(local: root + "/local", pod: root + "/pod/claude")
            lanes.append(Lane(tool: tool, sides: sides, emptyPod: {
                try Trees.remove(root + "/pod")
                try Trees.makeDirectory(sides.pod)
            }, root: root))
        }
        for lane in lanes {
            try Trees.remove(lane.sides.local)
            try Trees.copy(base, to: lane.sides.local)
            try lane.emptyPod()
            try lane.tool.forgetState()
        }
        let wanted = settings.scenarios
        // The cold pushes and the cold pulls (each tool from the same start every run)
        // take turns, tool after tool, run after run: the machine's speed drifts over
        // minutes, and each tool's runs then meet the same drift. The per-file script
        // (minutes a run) goes after the others, so ccpod's master stays warm.
        let quick = lanes.filter { !($0.tool is PerFileTool) }, slow = lanes.filter { $0.tool is PerFileTool }
        if !wanted.isDisjoint(with: Scenario.pushes) {
            try runColdPushes(quick, link: link)
            try runColdPushes(slow, link: link)
            for lane in quick { try runLaterPushes(lane.tool, link: link, sides: lane.sides) }
        }
        if wanted.contains(.coldPull) { try runColdPulls(quick, link: link) }
        for lane in lanes {
            guard let ccpodTool = lane.tool as? CCPodTool else { continue }
            if wanted.contains(.fork) { try runFork(ccpodTool, link: link, sides: lane.sides) }
            if wanted.contains(.floor) { try runFloor(ccpodTool, link: link, sides: lane.sides) }
        }
        if !settings.keep {
            for lane in lanes { if let root = lane.root { try Trees.remove(root) } }
            try Trees.remove(scratch)
            try Trees.remove(podRoot(podName))
        }
    }

    func record(_ link: LinkProfile, _ scenario: Scenario, _ tool: String, _ samples: [Sample], note: String? = nil) {
        rows.append(Row(link: link, corpus: corpus, scenario: scenario, tool: tool, samples: samples, note: note))
        let r = rows.last!
        log(String(format: "  %-28@ %-26@ median %.3f s  up %@ down %@  execs %@", scenario.rawValue as NSString, tool as NSString,
                   r.medianSeconds, Report.bytes(r.medianUp) as NSString, Report.bytes(r.medianDown) as NSString,
                   r.execs.map(String.init).joined(separator: "/") as NSString))
    }

    /// Cold push: each pod is emptied (and ccpod forgets its state) before every run;
    /// the tools take turns. The pods then hold what the last run left.
    func runColdPushes(_ lanes: [Lane], link: LinkProfile) throws {
        func runs(_ tool: SyncTool) -> Int { tool is PerFileTool ? (link.rttMs == 0 ? settings.perFileRuns : 1) : settings.runs }
        var samples = [[Sample]](repeating: [], count: lanes.count)
        for run in 0..<(lanes.map { runs($0.tool) }.max() ?? 0) {
            for (i, lane) in lanes.enumerated() where run < runs(lane.tool) {
                try lane.emptyPod()
                try lane.tool.forgetState()
                samples[i].append(try measure { try lane.tool.push(lane.sides) })
                try Trees.verifyIdentical(lane.sides.local, lane.sides.pod, hashing: [])
            }
        }
        for (i, lane) in lanes.enumerated() {
            try Trees.verifyIdentical(lane.sides.local, lane.sides.pod)
            guard settings.scenarios.contains(.coldPush) else { continue }
            record(link, .coldPush, lane.tool.name, samples[i],
                   note: lane.tool is PerFileTool && runs(lane.tool) < settings.runs ? "\(runs(lane.tool)) run(s): one ssh per file is slow" : nil)
        }
    }

    /// Cold pull: each pod holds the corpus; each laptop is emptied (and ccpod forgets)
    /// before every run; the tools take turns.
    func runColdPulls(_ lanes: [Lane], link: LinkProfile) throws {
        for lane in lanes {
            try Trees.remove(lane.sides.pod + "/projects")
            try Trees.copy(base + "/projects", to: lane.sides.pod + "/projects")
        }
        var samples = [[Sample]](repeating: [], count: lanes.count)
        for _ in 0..<settings.runs {
            for (i, lane) in lanes.enumerated() {
                try Trees.remove(lane.sides.local)
                try Trees.makeDirectory(lane.sides.local)
                try lane.tool.forgetState()
                samples[i].append(try measure { try lane.tool.pull(lane.sides) })
                try Trees.verifyIdentical(lane.sides.local, lane.sides.pod, hashing: [])
            }
        }
        for (i, lane) in lanes.enumerated() {
            try Trees.verifyIdentical(lane.sides.local, lane.sides.pod)
            record(link, .coldPull, lane.tool.name, samples[i])
        }
    }

    /// The push scenarios after the cold push (no change, grown), each recorded when
    /// asked for; they start from the state the cold push leaves.
    func runLaterPushes(_ tool: SyncTool, link: LinkProfile, sides: Sides) throws {
        let runs = settings.runs
        let wanted = settings.scenarios
        var samples: [Sample] = []
        if wanted.contains(.noChange) {
            for _ in 0..<runs { samples.append(try measure { try tool.push(sides) }) }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(link, .noChange, tool.name, samples,
                   note: tool is TarTool ? "sends everything again; the grown scenarios cost the same, not measured" : nil)
        }

        for scenario in [Scenario.grow10, .grow1] where !(tool is TarTool) && wanted.contains(scenario) {
            samples = []
            for run in 0..<runs {
                let targets = growthTargets(scenario, run: run)
                try grow(sides.local, targets, bytes: scenario == .grow10 ? 50 * 1024 : 5 << 20, run: run, salt: 1)
                samples.append(try measure { try tool.push(sides) })
                try Trees.verifyIdentical(sides.local, sides.pod, hashing: Set(targets))
            }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(link, scenario, tool.name, samples)
        }

        if let ccpod = tool as? CCPodTool, wanted.contains(.noChange) {
            // The same operations when ccpod's ControlMaster is not up (the first command of the day).
            samples = []
            for _ in 0..<runs {
                try closeMaster(ccpod)
                samples.append(try measure { try ccpod.push(sides) })
            }
            record(link, .noChange, "ccpod, cold connection", samples)
            samples = []
            for _ in 0..<runs { samples.append(try measure { try ccpod.sync(sides) }) }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(link, .noChange, "ccpod sync (both ways)", samples)
        }
        if let ccpod = tool as? CCPodTool, wanted.contains(.grow10) {
            samples = []
            for run in 0..<runs {
                let targets = growthTargets(.grow10, run: run + runs)
                try grow(sides.local, targets, bytes: 50 * 1024, run: run, salt: 2)
                try closeMaster(ccpod)
                samples.append(try measure { try ccpod.push(sides) })
                try Trees.verifyIdentical(sides.local, sides.pod, hashing: Set(targets))
            }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(link, .grow10, "ccpod, cold connection", samples)
        }
    }

    func closeMaster(_ ccpod: CCPodTool) throws {
        try ccpod.closeMaster()
        for _ in 0..<300 where relay.activeConnections > 0 { usleep(10_000) }
    }

    /// Both sides grow the same session differently; `ccpod sync` must keep both continuations
    /// on both sides (a sibling session each way) and leave every other file identical.
    func runFork(_ ccpod: CCPodTool, link: LinkProfile, sides: Sides) throws {
        var samples: [Sample] = []
        var diverged: Set<String> = []
        for run in 0..<settings.runs {
            let path = sessionPaths[(run * 71 + 5) % sessionPaths.count]
            let before = (Trees.listing(sides.local), Trees.listing(sides.pod))
            let writer = turns
            var rng = SplitMix64(seed: SplitMix64.seed(path, 300 + UInt64(run)))
            try writer.append(to: sides.local + "/" + path, bytes: 20 * 1024, rng: &rng, marker: "laptop-fork-\(run) ")
            rng = SplitMix64(seed: SplitMix64.seed(path, 400 + UInt64(run)))
            try writer.append(to: sides.pod + "/" + path, bytes: 20 * 1024, rng: &rng, marker: "pod-fork-\(run) ")
            let localHash = try SHA256Hex.ofFile(sides.local + "/" + path), podHash = try SHA256Hex.ofFile(sides.pod + "/" + path)
            var report: SyncReport?
            let sample = try measure {
                let outcome = try ccpod.sync(sides)
                report = outcome.report
                return outcome
            }
            samples.append(sample)
            guard (report?.count(.forked) ?? 0) >= 1 else { throw BenchError("fork run \(run): ccpod sync reported no fork for \(path)") }
            // Each side keeps its own continuation…
            guard try SHA256Hex.ofFile(sides.local + "/" + path) == localHash, try SHA256Hex.ofFile(sides.pod + "/" + path) == podHash else {
                throw BenchError("fork run \(run): a side's own continuation of \(path) was changed")
            }
            // …and receives the other's as one new sibling session carrying the other's new lines.
            let newLocal = Set(Trees.listing(sides.local).keys).subtracting(before.0.keys)
            let newPod = Set(Trees.listing(sides.pod).keys).subtracting(before.1.keys)
            guard newLocal.count == 1, newPod.count == 1 else {
                throw BenchError("fork run \(run): expected one sibling on each side, got \(newLocal.sorted()) here and \(newPod.sorted()) on the pod")
            }
            guard try contains(sides.local + "/" + newLocal.first!, "pod-fork-\(run) "),
                  try contains(sides.pod + "/" + newPod.first!, "laptop-fork-\(run) ") else {
                throw BenchError("fork run \(run): a sibling does not carry the other side's new lines")
            }
            diverged.insert(path)
            diverged.formUnion(newLocal)
            diverged.formUnion(newPod)
            try Trees.verifyIdentical(sides.local, sides.pod, hashing: [], ignoring: diverged)
        }
        try Trees.verifyIdentical(sides.local, sides.pod, ignoring: diverged)
        record(link, .fork, "ccpod sync", samples, note: "each side keeps its own; the other's arrives as a sibling session")
    }

    private func contains(_ path: String, _ needle: String) throws -> Bool {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        return data.range(of: Data(needle.utf8)) != nil
    }

    // MARK: - Memory

    /// A session of `bigMegabytes` pushed to an empty pod, then grown by 5 MB and synced.
    func runMemoryCheck() throws {
        play(LinkProfile(rttMs: 0))
        let name = "bench-big"
        try addPod(name)
        let tool = ccpod(name)
        let sides = Sides(local: work + "/big/local", pod: podClaude(name))
        log("== memory: generating a \(settings.bigMegabytes) MB session ...")
        let path = try Corpus.generateBig(claudeDir: sides.local, bytes: settings.bigMegabytes << 20, turns: TurnWriter(pool: pool))
        bigBytes = Int(Trees.listing(sides.local)[path] ?? 0)
        let push = try measure { try tool.push(sides) }
        try Trees.verifyIdentical(sides.local, sides.pod)
        memory.append(("push to an empty pod", push))
        var rng = SplitMix64(seed: 5)
        try TurnWriter(pool: pool).append(to: sides.local + "/" + path, bytes: 5 << 20, rng: &rng)
        let sync = try measure { try tool.sync(sides) }
        try Trees.verifyIdentical(sides.local, sides.pod)
        memory.append(("grown by 5 MB, then `ccpod sync`", sync))
        for (what, s) in memory {
            log(String(format: "  %@: %.2f s, peak RSS %@, execs %d", what, s.seconds, Report.bytes(s.maxRSSBytes ?? 0), s.execs))
        }
        try Trees.remove(work + "/big")
        try Trees.remove(podRoot(name))
    }
}
