import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sessions a running `claude` has open: every running `claude` registers
/// `<config>/sessions/<pid>.json` with its `pid` and `sessionId` and removes it on exit.
public enum LiveSessions {
    /// Ids of sessions whose registering process is alive on this machine.
    public static func ids(configDir: URL) -> Set<String> {
        let dir = configDir.appendingPathComponent("sessions", isDirectory: true)
        var ids = Set<String>()
        for name in DirectoryEntries.names(dir.path) where name.hasSuffix(".json") {
            guard let data = try? Data(contentsOf: dir.appendingPathComponent(name)),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let sessionId = object["sessionId"] as? String,
                let pid = (object["pid"] as? NSNumber)?.int32Value, pid > 0
            else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { ids.insert(sessionId) }
        }
        return ids
    }
}
