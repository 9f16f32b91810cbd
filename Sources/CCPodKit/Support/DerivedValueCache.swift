import Foundation

/// Small facts ccpod would otherwise derive by running a program on every call (which
/// ciphers this machine's ssh knows, the agent script gzipped), kept in a folder under
/// the state dir so the next run skips the fork (several milliseconds each, on the path
/// of every sync).
///
/// A value is a file named by the SHA-256 of its key, and the key names everything the
/// value depends on (a program's path, size and modification time; a script's own
/// hash), so a changed input is a new key, never a stale value. Only values that were
/// derived are kept: a failure is derived again next time. Files 0600, folder 0700.
public struct DerivedValueCache: Sendable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// The value for `key`: the kept one, else `derive()`'s (kept when not nil). A value
    /// that fails `isValid` is never returned: a kept one is derived again and replaced,
    /// a derived one is dropped (nil).
    public func value(for key: String, isValid: (String) -> Bool = { _ in true }, derive: () -> String?) -> String? {
        let file = directory.appendingPathComponent(SHA256Hex.of(Data(key.utf8)))
        if let data = FileManager.default.contents(atPath: file.path),
           let text = String(data: data, encoding: .utf8), text.hasPrefix(Self.marker) {
            let kept = String(text.dropFirst(Self.marker.count))
            if isValid(kept) { return kept }
        }
        guard let value = derive(), isValid(value) else { return nil }
        // Best effort: a cache that cannot be written costs the fork next time, nothing else.
        try? CCPodLocations.makePrivateDirectory(directory)
        try? AtomicFile.write(Data((Self.marker + value).utf8), to: file)
        return value
    }

    /// Starts every value file, so a file something else wrote there is not taken for a value.
    static let marker = "ccpod-derived 1\n"

    /// A key part naming an executable as it is now: its path on PATH, size and mtime.
    public static func executableIdentity(_ name: String) -> String? {
        guard let path = try? ChildProcess.resolve(name, environment: ProcessInfo.processInfo.environment),
              let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? NSNumber, let modified = attributes[.modificationDate] as? Date else { return nil }
        return "\(path)\t\(size)\t\(modified.timeIntervalSince1970)"
    }
}
