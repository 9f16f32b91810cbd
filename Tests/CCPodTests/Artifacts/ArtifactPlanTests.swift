@testable import CCPodKit
import Foundation
import Testing

/// The artifacts decision table, with no disk and no process: a listing, what was agreed,
/// what is here, and the options, against the actions the plan takes for each file.
@Suite("Artifact plan")
struct ArtifactPlanTests {
    /// One file as both sides and the record see it. Sizes in bytes; `here`/`agreedHere`
    /// are local versions (same number: same stat), `pod`/`agreedPod` pod mtimes.
    struct File {
        var path: String
        var pod: (size: Int64, mtime: String)?
        var here: (size: Int64, version: Int64)?
        var agreed: (pod: (size: Int64, mtime: String), here: (size: Int64, version: Int64))?
        /// Pull: a part file here of this size holding the listed version. Push: the pod's part.
        var part: Int64?
        /// The local file's bytes still hash to the agreed SHA-256 (touched, not changed).
        var sameBytes = false
        var notRegular = false
    }

    struct Row: CustomTestStringConvertible {
        var name: String
        var direction: ArtifactRequest.Direction
        var files: [File]
        var links: [(String, Bool)] = []
        var selection: ArtifactSelection?
        var force = false
        /// `kind path offset+length` for transfers (`append` when appended), `kind path` for
        /// the other actions, `unchanged N`, `refreshed path`.
        var expected: [String]
        var testDescription: String { name }
    }

    static func stat(_ v: (size: Int64, version: Int64)) -> LocalStat { LocalStat(size: v.size, mtimeNs: v.version, inode: 7) }

    static func plan(_ row: Row) throws -> ArtifactPlan {
        var listing = RunListing(runExists: true)
        var state = ArtifactState()
        var local: [String: ArtifactPlan.LocalEntry] = [:]
        var here: [String: LocalStat] = [:]
        var parts: [String: Int64] = [:]
        var same: Set<String> = []
        for f in row.files {
            if let pod = f.pod { listing.files[f.path] = .init(path: f.path, stat: PodStat(size: pod.size, mtime: pod.mtime)) }
            if let h = f.here { here[f.path] = stat(h); local[f.path] = .file(stat(h)) }
            if f.notRegular { local[f.path] = .notRegular }
            if let a = f.agreed {
                state.files[f.path] = .init(pod: PodStat(size: a.pod.size, mtime: a.pod.mtime), local: stat(a.here), sha256: "agreed")
            }
            if f.sameBytes { same.insert(f.path) }
            if let part = f.part {
                switch row.direction {
                case .pull:
                    parts[f.path] = part
                    if let pod = f.pod { state.partial[f.path] = PodStat(size: pod.size, mtime: pod.mtime) }
                case .push:
                    let name = LocalFolder.partPath(f.path)
                    listing.files[name] = .init(path: name, stat: PodStat(size: part, mtime: "9.0"))
                    if let h = f.here { state.pushing[f.path] = stat(h) }
                }
            }
        }
        listing.links = row.links.map { (path: $0.0, inside: $0.1) }
        let selection = row.selection ?? ArtifactSelection(everythingByDefault: row.direction == .push)
        switch row.direction {
        case .pull:
            return try ArtifactPlan.pull(listing: listing, state: state, local: local, parts: parts, sameAsAgreed: { same.contains($0) },
                                         selection: selection, force: row.force, pod: "gpu")
        case .push:
            return try ArtifactPlan.push(listing: listing, state: state, files: here, links: row.links.map(\.0),
                                         sameAsAgreed: { same.contains($0) }, selection: selection, force: row.force, pod: "gpu")
        }
    }

    static func describe(_ plan: ArtifactPlan) -> [String] {
        var out = plan.transfers.map { "\($0.kind.rawValue) \($0.path) \($0.offset)+\($0.length)\($0.landing == .append ? " append" : "")" }
        out += plan.actions.map { "\($0.kind.rawValue) \($0.path)" }
        if plan.unchanged > 0 { out.append("unchanged \(plan.unchanged)") }
        out += plan.refreshed.keys.map { "refreshed \($0)" }
        return out.sorted()
    }

    static let a = "results/a.txt"
    static let v1 = (size: Int64(5), version: Int64(1))

    static let rows: [Row] = [
        // pull
        Row(name: "pull: new", direction: .pull, files: [File(path: a, pod: (5, "1.0"))], expected: ["new results/a.txt 0+5"]),
        Row(name: "pull: unchanged", direction: .pull,
            files: [File(path: a, pod: (5, "1.0"), here: v1, agreed: ((5, "1.0"), v1))], expected: ["unchanged 1"]),
        Row(name: "pull: touched here, same bytes", direction: .pull,
            files: [File(path: a, pod: (5, "1.0"), here: (5, 2), agreed: ((5, "1.0"), v1), sameBytes: true)],
            expected: ["refreshed results/a.txt", "unchanged 1"]),
        Row(name: "pull: grew at the end on the pod", direction: .pull,
            files: [File(path: a, pod: (9, "2.0"), here: v1, agreed: ((5, "1.0"), v1))], expected: ["grown results/a.txt 5+4 append"]),
        Row(name: "pull: rewritten on the pod (shorter)", direction: .pull,
            files: [File(path: a, pod: (3, "2.0"), here: v1, agreed: ((5, "1.0"), v1))], expected: ["replaced results/a.txt 0+3"]),
        Row(name: "pull: same size, new time on the pod", direction: .pull,
            files: [File(path: a, pod: (5, "2.0"), here: v1, agreed: ((5, "1.0"), v1))], expected: ["replaced results/a.txt 0+5"]),
        Row(name: "pull: changed here only: kept", direction: .pull,
            files: [File(path: a, pod: (5, "1.0"), here: (6, 2), agreed: ((5, "1.0"), v1))], expected: ["kept results/a.txt"]),
        Row(name: "pull: changed on both sides: conflict", direction: .pull,
            files: [File(path: a, pod: (7, "2.0"), here: (6, 2), agreed: ((5, "1.0"), v1))], expected: ["conflict results/a.txt"]),
        Row(name: "pull: changed on both sides, --force", direction: .pull,
            files: [File(path: a, pod: (7, "2.0"), here: (6, 2), agreed: ((5, "1.0"), v1))], force: true,
            expected: ["replaced results/a.txt 0+7"]),
        Row(name: "pull: both have it, nothing agreed, same size: compare", direction: .pull,
            files: [File(path: a, pod: (5, "1.0"), here: v1)], expected: ["compare results/a.txt"]),
        Row(name: "pull: both have it, nothing agreed, other size: conflict", direction: .pull,
            files: [File(path: a, pod: (8, "1.0"), here: v1)], expected: ["conflict results/a.txt"]),
        Row(name: "pull: nothing agreed, --force", direction: .pull,
            files: [File(path: a, pod: (8, "1.0"), here: v1)], force: true, expected: ["replaced results/a.txt 0+8"]),
        Row(name: "pull: a folder here where the pod has a file", direction: .pull,
            files: [File(path: a, pod: (8, "1.0"), notRegular: true)], force: true, expected: ["conflict results/a.txt"]),
        Row(name: "pull: an interrupted pull resumes from its part", direction: .pull,
            files: [File(path: a, pod: (10, "1.0"), part: 4)], expected: ["resumed results/a.txt 4+6"]),
        Row(name: "pull: a part as long as the file starts again", direction: .pull,
            files: [File(path: a, pod: (10, "1.0"), part: 10)], expected: ["new results/a.txt 0+10"]),
        Row(name: "pull: the pod's own part files are not pulled", direction: .pull,
            files: [File(path: "results/.a.txt.ccpod-part", pod: (3, "1.0"))], expected: []),
        Row(name: "pull: patterns take only what they match", direction: .pull,
            files: [File(path: "results/eval.json", pod: (2, "1.0")), File(path: "logs/train.log", pod: (3, "1.0")),
                    File(path: "checkpoints/step-1/model.pt", pod: (4, "1.0"))],
            selection: ArtifactSelection(patterns: ["*.json", "checkpoints/step-*/**"]),
            expected: ["new checkpoints/step-1/model.pt 0+4", "new results/eval.json 0+2"]),
        Row(name: "pull: --exclude leaves out what matches", direction: .pull,
            files: [File(path: "results/eval.json", pod: (2, "1.0")), File(path: "results/big.pt", pod: (3, "1.0"))],
            selection: ArtifactSelection(excludes: ["*.pt"]), expected: ["new results/eval.json 0+2"]),
        Row(name: "pull: the deployed code folder is left out", direction: .pull,
            files: [File(path: "code/train.py", pod: (2, "1.0")), File(path: "other/x", pod: (2, "1.0")), File(path: a, pod: (5, "1.0"))],
            expected: ["new results/a.txt 0+5"]),
        Row(name: "pull: the code folder when a pattern names it", direction: .pull,
            files: [File(path: "code/train.py", pod: (2, "1.0"))], selection: ArtifactSelection(patterns: ["code/**"]),
            expected: ["new code/train.py 0+2"]),
        Row(name: "pull: links are reported, never followed", direction: .pull, files: [],
            links: [("logs/latest", true), ("results/etc", false), ("logs", false), ("code/x", true)],
            expected: ["link logs", "link logs/latest", "link results/etc"]),
        // push
        Row(name: "push: new", direction: .push, files: [File(path: a, here: v1)], expected: ["new results/a.txt 0+5"]),
        Row(name: "push: unchanged", direction: .push,
            files: [File(path: a, pod: (5, "1.0"), here: v1, agreed: ((5, "1.0"), v1))], expected: ["unchanged 1"]),
        Row(name: "push: changed here: replaced", direction: .push,
            files: [File(path: a, pod: (5, "1.0"), here: (6, 2), agreed: ((5, "1.0"), v1))], expected: ["replaced results/a.txt 0+6"]),
        Row(name: "push: changed on the pod only: kept", direction: .push,
            files: [File(path: a, pod: (7, "2.0"), here: v1, agreed: ((5, "1.0"), v1))], expected: ["kept results/a.txt"]),
        Row(name: "push: changed on both sides: conflict", direction: .push,
            files: [File(path: a, pod: (7, "2.0"), here: (6, 2), agreed: ((5, "1.0"), v1))], expected: ["conflict results/a.txt"]),
        Row(name: "push: changed on both sides, --force", direction: .push,
            files: [File(path: a, pod: (7, "2.0"), here: (6, 2), agreed: ((5, "1.0"), v1))], force: true,
            expected: ["replaced results/a.txt 0+6"]),
        Row(name: "push: touched here, same bytes", direction: .push,
            files: [File(path: a, pod: (5, "1.0"), here: (5, 2), agreed: ((5, "1.0"), v1), sameBytes: true)],
            expected: ["refreshed results/a.txt", "unchanged 1"]),
        Row(name: "push: nothing agreed, same size: compare", direction: .push,
            files: [File(path: a, pod: (5, "1.0"), here: v1)], expected: ["compare results/a.txt"]),
        Row(name: "push: nothing agreed, other size: conflict", direction: .push,
            files: [File(path: a, pod: (9, "1.0"), here: v1)], expected: ["conflict results/a.txt"]),
        Row(name: "push: an interrupted push resumes from the pod's part", direction: .push,
            files: [File(path: a, here: (10, 3), part: 4)], expected: ["resumed results/a.txt 4+6"]),
        Row(name: "push: a local link is reported", direction: .push, files: [File(path: a, here: v1)], links: [("data/ln", true)],
            expected: ["link data/ln", "new results/a.txt 0+5"]),
        Row(name: "push: the code folder is left out by default", direction: .push,
            files: [File(path: "code/x.py", here: v1), File(path: "top.txt", here: v1)], expected: ["new top.txt 0+5"]),
    ]

    @Test(arguments: rows)
    func thePlanTakesTheActionOfItsRow(_ row: Row) throws {
        #expect(Self.describe(try Self.plan(row)) == row.expected.sorted(), "\(row.name)")
    }

    /// The planned bytes add up with overflow checked: a listing whose sizes pass Int64
    /// is refused by name (even for a dry run, which only plans).
    @Test func sizesThatAddUpPastInt64AreRefused() throws {
        let huge = Int64.max / 2 + 1
        let row = Row(name: "huge", direction: .pull, files: [File(path: "results/a", pod: (huge, "1.0")), File(path: "results/b", pod: (huge, "1.0"))],
                      expected: [])
        let error = try #require(throws: CCPodError.self) { try Self.plan(row) }
        #expect(error.status == .badData)
        #expect(error.message.contains("gpu") && error.message.contains("F records"), "\(error.message)")
        // One of them alone is counted exactly.
        var one = row
        one.files.removeLast()
        #expect(try Self.plan(one).totalBytes == huge)
    }
}
