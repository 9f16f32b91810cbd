/// Text from the pod or from file names, made safe to print on a terminal.
public enum TerminalText {
    /// `s` with C0 and C1 controls, ESC, DEL and bidi overrides (U+202A–202E,
    /// U+2066–2069) written as visible escapes (`\n`, `\t`, `\u{1B}`); other text unchanged.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x0A: out += "\\n"
            case 0x09: out += "\\t"
            case 0x0D: out += "\\r"
            case 0x5C: out += "\\\\"
            case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
