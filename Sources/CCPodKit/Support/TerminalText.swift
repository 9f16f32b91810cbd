import Foundation

/// Text from the pod (or from file names) made safe to print: nothing in it can move
/// the cursor, retitle or clear the terminal, or reorder what follows it.
public enum TerminalText {
    /// `s` with every control character visibly escaped: C0 controls (TAB and newline
    /// too), DEL and C1 controls as `\xNN`, and the bidi overrides and isolates
    /// (U+202A–U+202E, U+2066–U+2069) as `\u{NNNN}`. Everything else, a backslash
    /// too, is kept as it is.
    public static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            guard needsEscape(scalar) else { out.append(scalar); continue }
            let text: String
            switch scalar.value {
            case 0x09: text = "\\t"
            case 0x0A: text = "\\n"
            case 0x0D: text = "\\r"
            case 0x00...0x1F, 0x7F...0x9F: text = "\\x" + hex(scalar.value, width: 2)
            default: text = "\\u{" + hex(scalar.value, width: 4) + "}"
            }
            out.append(contentsOf: text.unicodeScalars)
        }
        return String(out)
    }

    /// `escape` on invalid UTF-8 too: bytes that are not UTF-8 become U+FFFD first.
    public static func escape(_ bytes: Data) -> String {
        escape(String(decoding: bytes, as: UTF8.self))
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
