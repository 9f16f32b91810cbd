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
        let session = try podOptions.session()
        let access = session.access
        var report = PodChecker.check(session.pod)
        // A restarted pod (refused, timed out, new host key): the session finds it again,
        // and it is checked once more. The check reports rather than throws, so its
        // failure is handed to the session as the error it stands for.
        if !report.usable, let failure = report.endpoints.compactMap(\.failure).first {
            let error = CCPodError(.unavailable, report.endpoints.compactMap(\.error).first ?? "", sshFailure: failure)
            if session.canRecover(error) {
                do {
                    try session.recover(after: error)
                    report = PodChecker.check(session.pod)
                } catch let failed as CCPodError {
                    // Report what was found as it is, with why it could not be found again
                    // (check exits 69 for a pod it cannot reach, whatever the reason).
                    Console.note(failed.message)
                }
            }
        }
        let pod = session.pod
        var extra: [String] = []
        if report.usable {
            // The agent's handshake: one empty exchange.
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ccpod-check-\(UUID().uuidString.prefix(8))")
            try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            let request = AgentRequest(mode: .status, rootPrefix: pod.connection.rootPrefix, paths: pod.connection.paths,
                                       scope: [], sessionIds: [], files: [], accept: Compression.locallyAvailable)
            do {
                let answer = try AgentExchange(connection: pod.connection).run(request, scratch: scratch)
                PodWarnings.show(answer.index.warnings, notesOnly: true)
                extra.append("  agent: protocol \(AgentScript.protocolVersion), answers compressed with \(answer.responseCompression.rawValue)")
            } catch let error as CCPodError {
                extra.append("  agent: \(error.message)")
            }
        }
        if let settings = pod.settings, let endpoint = settings.proxy {
            do {
                if let proxy = try access.recovery.openProxy(for: settings) {
                    defer { proxy.discard() }
                    let started = Date()
                    let answer = try proxy.run("echo ccpod-proxy-ok")
                    let ms = Int(Date().timeIntervalSince(started) * 1000)
                    var line = answer.contains("ccpod-proxy-ok") ? "PTY shell ok, \(ms) ms" : "answered something unexpected"
                    if answer.contains("ccpod-proxy-ok"), let learned = proxy.learned {
                        try proxy.commit()
                        line += "; host key \(learned.keys.map(\.fingerprint).joined(separator: ", ")) \(learned.how), pinned"
                    }
                    extra.append("  proxy \(proxy.proxy.address): " + line)
                }
            } catch let error as CCPodError {
                extra.append("  proxy \(endpoint.userAtHost): \(error.message)")
            }
        }
        Console.out(json ? try CheckRendering.json(report) : CheckRendering.text(report) + extra.map { $0 + "\n" }.joined())
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
