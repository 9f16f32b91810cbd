import Foundation

/// A session's title for naming a fork's sibling: the latest `summary`, else the
/// first real user prompt. Reads lines up to a size cap; never fails.
enum SessionTitleProbe {
    static func title(ofFile path: String, limit: Int64) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var summary: String?
        var firstPrompt: String?
        var carry = Data()
        var remaining = limit
        func consider(_ line: Data) {
            guard line.count < 1 << 20,
                  let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { return }
            switch object["type"] as? String {
            case "summary": summary = object["summary"] as? String ?? summary
            case "user" where firstPrompt == nil && object["isMeta"] as? Bool != true:
                let message = object["message"] as? [String: Any]
                if let text = message?["content"] as? String, !text.hasPrefix("<") {
                    firstPrompt = text
                } else if let blocks = message?["content"] as? [[String: Any]],
                          let text = blocks.first(where: { $0["type"] as? String == "text" })?["text"] as? String, !text.hasPrefix("<") {
                    firstPrompt = text
                }
            default: break
            }
        }
        while remaining > 0, let chunk = try? handle.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty {
            remaining -= Int64(chunk.count)
            carry.append(chunk)
            while let nl = carry.firstIndex(of: 0x0A) {
                consider(carry[carry.startIndex..<nl])
                carry = Data(carry[(nl + 1)...])
            }
            if carry.count > 1 << 20 { carry = Data() }
        }
        let raw = summary ?? firstPrompt
        return raw.map { String($0.split(separator: "\n").first ?? "").prefix(60).trimmingCharacters(in: .whitespaces) }
    }
}
