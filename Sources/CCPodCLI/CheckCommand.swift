import ArgumentParser
import CCPodKit
import Foundation

/// `ccpod check`: can the pod be reached, and what does it have.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that a pod can be reached and what it has.",
        discussion: "Exits 69 when the pod cannot be reached.")

    @OptionGroup var podOptions: PodOptions
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let pod = try podOptions.resolve()
        let report = PodChecker.check(pod)
        Console.out(json ? try CheckRendering.json(report) : CheckRendering.text(report))
        if !report.usable {
            let why = report.endpoints.compactMap(\.error).first ?? "pod \(pod.name) cannot be reached"
            throw CCPodError.unavailable(why)
        }
    }
}

enum CheckRendering {
    static func json(_ report: PodCheckReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    static func text(_ report: PodCheckReport) -> String {
        var lines = ["pod \(report.pod)"]
        for e in report.endpoints {
            var facts = [e.reachable ? "reachable" : "not reachable"]
            if e.reachable { facts.append(e.authenticated ? "authenticated" : "not authenticated") }
            if e.exec { facts.append("exec ok") }
            if let rtt = e.roundTripMs { facts.append("round trip \(rtt) ms") }
            if let c = e.connectMs, e.exec { facts.append("first call \(c) ms") }
            lines.append("  \(e.kind) \(e.address): \(facts.joined(separator: ", "))")
            if let error = e.error { lines.append("    \(error)") }
        }
        if let p = report.probe {
            let have = PodProbe.toolNames.filter { p.tools[$0] == true }
            let missing = PodProbe.toolNames.filter { p.tools[$0] != true }
            lines.append("  tools: \(have.joined(separator: " "))" + (missing.isEmpty ? "" : "; missing: \(missing.joined(separator: " "))"))
            if let free = p.workspaceFreeBytes {
                lines.append("  workspace \(p.workspace): \(formatBytes(free)) free")
            } else {
                lines.append("  workspace \(p.workspace): missing")
            }
            lines.append("  environment file \(p.environmentFile): \(p.environmentFileExists ? "present" : "absent")")
        }
        if let steps = report.setup {
            let missing = steps.filter { $0.state != .ok && $0.state != .done }
            lines.append(missing.isEmpty ? "  setup: ok"
                : "  setup: missing \(missing.map(\.name).joined(separator: ", ")) (run `ccpod setup --pod \(report.pod)`)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func formatBytes(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(n)
        var i = 0
        while value >= 1000 && i < units.count - 1 { value /= 1000; i += 1 }
        return i == 0 ? "\(n) B" : "\(String(format: "%.1f", value)) \(units[i])"
    }
}
