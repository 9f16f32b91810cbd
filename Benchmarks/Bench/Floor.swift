import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The floor of a sync on this link: what no tool that asks the pod anything can go
/// below. One exec over ccpod's own warm ControlMaster (so no TCP connect, no key
/// exchange) that reads as many bytes as ccpod's request put on the wire and answers
/// nothing: the channel's round trips plus the request's bytes at the link's rate.
/// Measured once per scenario it is the floor of (no change, 10 × 50 KB), with that
/// scenario's request bytes.
extension Bench {
    /// The scenarios a floor is measured for.
    static let floored: [Scenario] = [.noChange, .grow10]

    /// The floor's row name for `scenario` (Targets and Report find it by its tail).
    static func floorTool(_ scenario: Scenario, payload: Int) -> String {
        "ssh over ccpod's master, \(Report.bytes(payload)) in" + floorTail(scenario)
    }

    static func floorTail(_ scenario: Scenario) -> String { " (\(scenario.rawValue)'s request)" }

    /// The floor row of `scenario` on `link` with `kind`.
    func floorRow(_ link: LinkProfile, _ kind: CorpusKind, _ scenario: Scenario) -> Row? {
        rows.first { $0.link == link && $0.corpus == kind && $0.scenario == .floor && $0.tool.hasSuffix(Self.floorTail(scenario)) }
    }

    func runFloor(_ ccpod: CCPodTool, link: LinkProfile, sides: Sides) throws {
        // The master up, as it is for every warm row.
        _ = try ccpod.push(sides)
        let resolved = try PodResolver.resolvePod(name: ccpod.podName, environment: ccpodEnvironment, locations: locations)
        guard let connection = resolved.connection as? SSHConnection else { throw BenchError("the floor needs an ssh pod") }
        let invocation = try connection.invocation(remoteCommand: "cat >/dev/null")

        // What an exec costs on the wire with nothing to send, so the payload is the
        // request's own bytes: ccpod's bytes up minus that framing.
        let empty = try measure { try exec(invocation.arguments, payload: 0) }
        for scenario in Self.floored {
            guard let ccpodUp = row(link, corpus, scenario, "ccpod")?.medianUp else { continue }
            let payload = max(0, ccpodUp - empty.up)
            var samples: [Sample] = []
            for _ in 0..<settings.runs { samples.append(try measure { try exec(invocation.arguments, payload: payload) }) }
            record(link, .floor, Self.floorTool(scenario, payload: payload), samples,
                   note: "ccpod's bytes up for \(scenario.rawValue) less an empty exec's \(Report.bytes(empty.up))")
        }
    }

    private func exec(_ arguments: [String], payload: Int) throws -> Outcome {
        let file = work + "/floor-payload"
        var rng = SplitMix64(seed: 11)
        var bytes = [UInt8]()
        bytes.reserveCapacity(payload + 8)
        // Random bytes: a compressed request does not shrink again on the way.
        while bytes.count < payload { withUnsafeBytes(of: rng.next()) { bytes.append(contentsOf: $0) } }
        try Data(bytes.prefix(payload)).write(to: URL(fileURLWithPath: file))
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BenchError("cannot open \(file)") }
        defer { close(fd) }
        let r = try Processes.run(arguments[0], Array(arguments.dropFirst()), stdin: .fd(fd))
        guard r.status == 0 else { throw BenchError("the floor's exec exited \(r.status)") }
        return Outcome(seconds: r.seconds, execs: 1)
    }
}
