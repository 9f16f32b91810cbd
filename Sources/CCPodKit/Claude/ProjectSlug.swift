import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The folder name Claude Code gives a project under `<config>/projects/`.
///
/// Every UTF-16 code unit that is not `[A-Za-z0-9]` becomes `-` (so an emoji, two
/// units, becomes `--`). Results over 200 units are cut to 200 and get `-` plus
/// the base-36 absolute value of the Java `String.hashCode` of the original path.
/// The slug cannot be decoded back into a path.
public enum ProjectSlug {
    /// The longest slug kept whole.
    public static let maxLength = 200

    /// The slug of `path`, taken as given (no symlink resolution).
    public static func of(_ path: String) -> String {
        var units = [UInt8]()
        units.reserveCapacity(path.utf16.count)
        for unit in path.utf16 {
            switch unit {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: units.append(UInt8(unit))
            default: units.append(UInt8(ascii: "-"))
            }
        }
        let sanitized = String(decoding: units, as: UTF8.self)
        guard units.count > maxLength else { return sanitized }
        return String(decoding: units[0..<maxLength], as: UTF8.self) + "-" + base36(javaHashMagnitude(path))
    }

    /// The slug of a directory after resolving symlinks, as Claude Code sees its working directory.
    public static func forDirectory(_ url: URL) -> String {
        of(resolvedPath(url))
    }

    /// `realpath(3)` of `url`, or its standardized path when it cannot be resolved (it does not exist).
    public static func resolvedPath(_ url: URL) -> String {
        let path = url.standardizedFileURL.path
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `abs(String.hashCode)` computed as JavaScript does: 32-bit wrap-around, then an
    /// absolute value that does not overflow (`abs(Int32.min)` is 2147483648).
    static func javaHashMagnitude(_ s: String) -> UInt64 {
        var h: Int32 = 0
        for unit in s.utf16 {
            h = (h &<< 5) &- h &+ Int32(unit)
        }
        return h.magnitude.toUInt64
    }

    static func base36(_ value: UInt64) -> String {
        String(value, radix: 36, uppercase: false)
    }
}

private extension UInt32 {
    var toUInt64: UInt64 { UInt64(self) }
}
