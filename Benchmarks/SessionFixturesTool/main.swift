import CCPodTestSupport
import Foundation

// Writes N generated sessions of about B bytes each into a Claude config dir, spread over
// projects: `ccpod-session-fixtures <config-dir> <sessions> <bytes-per-session>`.
let args = CommandLine.arguments
guard args.count == 4, let count = Int(args[2]), let bytes = Int(args[3]) else {
    FileHandle.standardError.write(Data("usage: ccpod-session-fixtures <config-dir> <sessions> <bytes-per-session>\n".utf8))
    exit(64)
}
let config = URL(fileURLWithPath: args[1], isDirectory: true)
let projects = max(1, count / 100)
for i in 0..<count {
    let id = String(format: "%08x-0000-4000-8000-%012x", i, i)
    var options = SessionFixtures.Options()
    options.approximateBytes = bytes
    options.subagent = i % 10 == 0
    options.start = Date(timeIntervalSince1970: 1_767_225_600 + Double(i) * 60)
    try SessionFixtures.writeSession(
        in: config, projectPath: "/workspace/runs/project_\(i % projects)/code", sessionId: id, lines: 8, options: options)
}
