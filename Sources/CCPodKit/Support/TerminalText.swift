import Foundation

/// Text that may come from a pod or from a file name, made safe to print.
///
/// A terminal acts on control characters: ESC starts sequences that can retitle,
/// clear or repaint the screen, C1 controls (U+0080–U+009F) do the same on some
/// terminals, and bidirectional overrides make text read differently than it is.
/// Each such character becomes a visible `\uXXXX` escape. The escape is also JSON's
/// own, so a JSON document passed through `escape(_:keepingLayout:)` decodes to
/// the same values (`--json` stays exact).
public enum TerminalText {
    /// `s` with every control character, DEL, C1 control and bidi override escaped.
    /// With `keepingLayout`, newlines and tabs stay (ccpod's own tables and lines).
    public static func escape(_ s: String, keepingLayout: Bool = false) -> String {
        guard s.unicodeScalars.contains(where: { needsEscape($0, keepingLayout: keepingLayout) }) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            if needsEscape(scalar, keepingLayout: keepingLayout) {
                out.append(contentsOf: String(format: "\\u%04x", scalar.value).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Whether printing `scalar` raw could change what a terminal shows.
    static func needsEscape(_ scalar: Unicode.Scalar, keepingLayout: Bool) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: return !keepingLayout
        case 0x00...0x1F, 0x7F...0x9F: return true
        // Bidirectional embeddings, overrides and isolates; marks that reorder text.
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return true
        // Line and paragraph separators: a new line to some terminals.
        case 0x2028, 0x2029: return true
        default: return false
        }
    }
}
