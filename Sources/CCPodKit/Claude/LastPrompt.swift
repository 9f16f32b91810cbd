import Foundation

/// The last prompt a person typed in a session, read from the transcript's last 64 KiB
/// only (a longer exchange since then leaves it unknown: nil).
public enum LastPrompt {
    public static let window = 64 * 1024

    public static func read(_ url: URL, size: Int64) -> String? {
        guard size > 0, let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        let start = max(0, size - Int64(window))
        guard (try? handle.seek(toOffset: UInt64(start))) != nil,
              let data = try? handle.read(upToCount: Int(size - start)) else { return nil }
        return find(in: data, cutAtStart: start > 0)
    }

    /// The last typed prompt among the complete lines of `data` (its first line dropped
    /// when it may be the end of a longer one).
    static func find(in data: Data, cutAtStart: Bool) -> String? {
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
        if cutAtStart, !lines.isEmpty { lines.removeFirst() }
        let marker = Data("\"user\"".utf8)
        for line in lines.reversed() where line.range(of: marker) != nil {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  object["type"] as? String == "user", object["isMeta"] as? Bool != true,
                  object["isCompactSummary"] as? Bool != true,
                  let message = object["message"],
                  let bytes = try? JSONSerialization.data(withJSONObject: message) else { continue }
            if case .prompt(let text) = SessionSummary.promptText(bytes) { return text }
        }
        return nil
    }
}
