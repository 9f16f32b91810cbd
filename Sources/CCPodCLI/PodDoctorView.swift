import CCPodKit
import Foundation

/// `ccpod doctor --pod NAME`: the pod's Claude dir, checked in one exec (`PodDoctor`).
enum PodDoctorView {
    /// nil without `--pod`; prints each finding (`pod:file:line: problem`) unless `print` is false.
    static func check(_ options: PodOptions, print: Bool) throws -> PodDoctor.Report? {
        guard options.pod != nil else { return nil }
        let session = try options.session()
        let report = try session.run { try PodDoctor.check(connection: $0.connection) }
        guard print else { return report }
        var text = ""
        if !report.exists { text += "\(report.pod):\(report.claudeDir): the Claude dir does not exist; `ccpod setup --pod \(report.pod)` creates it\n" }
        if report.exists && !report.writable { text += "\(report.pod):\(report.claudeDir): the Claude dir is not writable\n" }
        for f in report.findings {
            text += "\(report.pod):\(report.claudeDir)/\(f.file)" + (f.line.map { ":\($0)" } ?? "") + ": \(f.problem)\n"
        }
        if report.findingsLeftOut > 0 { text += "\(report.pod): … and \(report.findingsLeftOut) more\n" }
        Console.out(text)
        if report.isClean { Console.note("\(report.pod): \(report.filesChecked) session file(s) checked on the pod: no problems") }
        return report
    }

    /// Exit 65 for the pod's problems when this machine's files are clean (else the local message says it).
    static func throwIfProblems(_ report: PodDoctor.Report?, localClean: Bool) throws {
        guard let report, !report.isClean, localClean else { return }
        throw CCPodError.badData("the Claude dir on \(report.pod) has problems (above); `ccpod pull --pod \(report.pod)` only moves complete lines, and claude on the pod skips lines it cannot read")
    }
}
