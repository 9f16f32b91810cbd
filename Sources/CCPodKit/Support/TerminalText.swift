import Foundation

/// Text that came from a pod or from a file name, made safe to print on a terminal.
public enum TerminalText {
    /// `s` with every character that could steer a terminal shown as a visible escape:
    /// C0 and C1 controls (ESC among them), DEL, and the bidirectional overrides and
    /// isolates (U+202A–U+202E, U+2066–U+2069), as `\u{…}`; a tab and a backslash stay.
    public static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            if needsEscape(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09: return false
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }
}
