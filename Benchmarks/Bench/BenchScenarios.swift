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

    func runLink(_ link: LinkProfile) throws {
        play(link)
        log("== \(corpus.rawValue) corpus, \(link.name) (relay delay \(Double(link.rttMs) / 2) ms each way)")
        let podName = "bench-\(corpus.rawValue)-\(link.slug)"
        let scratch = work + "/" + link.slug
        try addPod(podName)
        if settings.tools.contains("ccpod") {
            let ccpodTool = ccpod(podName)
            let sides = Sides(local: scratch + "/ccpod/local", pod: podClaude(podName))
            try runTool(ccpodTool, link: link, sides: sides, emptyPod: { try self.emptyPod(podName) })
            if settings.scenarios.contains(.floor) { try runFloor(ccpodTool, link: link, sides: sides) }
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
            try runTool(tool, link: link, sides: sides, emptyPod: {
                try Trees.remove(root + "/pod")
                try Trees.makeDirectory(sides.pod)
            })
            if !settings.keep { try Trees.remove(root) }
        }
        if !settings.keep {
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

    func runTool(_ tool: SyncTool, link: LinkProfile, sides: Sides, emptyPod: () throws -> Void) throws {
        try Trees.remove(sides.local)
        try Trees.copy(base, to: sides.local)
        try emptyPod()
        try tool.forgetState()
        let wanted = settings.scenarios
        if !wanted.isDisjoint(with: Scenario.pushes) { try runPushes(tool, link: link, sides: sides, emptyPod: emptyPod) }
        // The old script copies every file every time, so its other scenarios cost what a cold push costs.
        if tool is PerFileTool { return }

        // Cold pull: the pod holds the corpus; the laptop is emptied (and ccpod forgets) before every run.
        if wanted.contains(.coldPull) {
            try Trees.remove(sides.pod + "/projects")
            try Trees.copy(base + "/projects", to: sides.pod + "/projects")
            var samples: [Sample] = []
            for _ in 0..<settings.runs {
                try Trees.remove(sides.local)
                try Trees.makeDirectory(sides.local)
                try tool.forgetState()
                samples.append(try measure { try tool.pull(sides) })
                try Trees.verifyIdentical(sides.local, sides.pod, hashing: [])
            }
            try Trees.verifyIdentical(sides.local, sides.pod)
            record(link, .coldPull, tool.name, samples)
        }

        if wanted.contains(.fork), let ccpod = tool as? CCPodTool { try runFork(ccpod, link: link, sides: sides) }
    }

    /// The push scenarios (cold push, no change, grown), each recorded when asked for;
    /// the later ones start from the state the cold push leaves.
    func runPushes(_ tool: SyncTool, link: LinkProfile, sides: Sides, emptyPod: () throws -> Void) throws {
        let runs = settings.runs
        let wanted = settings.scenarios
        // Cold push: the pod is emptied (and ccpod forgets its state) before every run.
        let pushRuns = tool is PerFileTool ? (link.rttMs == 0 ? settings.perFileRuns : 1) : runs
        var samples: [Sample] = []
        for _ in 0..<pushRuns {
            try emptyPod()
            try tool.forgetState()
            samples.append(try measure { try tool.push(sides) })
            try Trees.verifyIdentical(sides.local, sides.pod, hashing: [])
        }
        try Trees.verifyIdentical(sides.local, sides.pod)
        if wanted.contains(.coldPush) {
            record(link, .coldPush, tool.name, samples,
                   note: tool is PerFileTool && pushRuns < runs ? "\(pushRuns) run(s): one ssh per file is slow" : nil)
        }
        // The old script copies every file every time, so its other scenarios cost what a cold push costs.
        if tool is PerFileTool { return }

        if wanted.contains(.noChange) {
            samples = []
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
