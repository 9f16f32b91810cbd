// One scanner over the bytes of a JSONL line (about 440 lines, over the 400 the
// project keeps to): its key table, states and unescaping belong together.
import Foundation

/// Top-level fields of a Claude Code line that ccpod reads.
enum TopLevelKey: UInt8 {
    case other, type, uuid, timestamp, cwd, entrypoint, summary, customTitle, sessionId, message, isMeta, isCompactSummary

    init(_ bytes: [UInt8]) {
        switch bytes.count {
        case 3 where bytes == Array("cwd".utf8): self = .cwd
        case 4 where bytes == Array("type".utf8): self = .type
        case 4 where bytes == Array("uuid".utf8): self = .uuid
        case 6 where bytes == Array("isMeta".utf8): self = .isMeta
        case 7 where bytes == Array("message".utf8): self = .message
        case 7 where bytes == Array("summary".utf8): self = .summary
        case 9 where bytes == Array("timestamp".utf8): self = .timestamp
        case 9 where bytes == Array("sessionId".utf8): self = .sessionId
        case 10 where bytes == Array("entrypoint".utf8): self = .entrypoint
        case 11 where bytes == Array("customTitle".utf8): self = .customTitle
        case 16 where bytes == Array("isCompactSummary".utf8): self = .isCompactSummary
        default: self = .other
        }
    }

    var isStringField: Bool {
        switch self {
        case .type, .uuid, .timestamp, .cwd, .entrypoint, .summary, .customTitle, .sessionId: return true
        default: return false
        }
    }
}

/// A resumable JSON validator for one line at a time, fed in chunks of any size, so a line
/// of any length is checked with bounded memory. It validates UTF-8 inside strings, the JSON
/// grammar (RFC 8259), tells whether the top-level value is an object, and captures a few
/// top-level fields (raw, still escaped) on the way.
struct JSONLineScanner {
    enum Mode: UInt8 {
        case value, objectKeyOrEnd, objectKey, colon, arrayValueOrEnd, afterValue
        case string, escape, hex
        case numMinus, numZero, numInt, numDot, numFrac, numExp, numExpSign, numExpDigits
        case literal, failed
    }

    // Grammar state.
    var mode: Mode = .value
    var stack: [Bool] = []  // true = object, false = array
    var stringIsKey = false
    var hexLeft = 0
    var literal: [UInt8] = []
    var literalIndex = 0
    var utf8Needed = 0
    var utf8Low: UInt8 = 0x80
    var utf8High: UInt8 = 0xBF
    var sawNonWhitespace = false
    var topLevelIsObject = false
    var invalidUTF8 = false
    var syntaxError = false

    // Field capture (top-level only).
    var captureMessage = true
    var messageCap = 256 * 1024
    var stringCap = 8 * 1024
    var keyBytes: [UInt8] = []
    var currentKey: TopLevelKey = .other
    var fields: [TopLevelKey: [UInt8]] = [:]
    var truncatedFields: Set<UInt8> = []
    var isMeta = false
    var isCompactSummary = false
    private var capturing: TopLevelKey? = nil
    private var captureBuffer: [UInt8] = []
    private var captureOverflow = false
    private var literalKey: TopLevelKey = .other

    init() {}

    mutating func reset(captureMessage: Bool) {
        mode = .value
        stack.removeAll(keepingCapacity: true)
        stringIsKey = false
        hexLeft = 0
        literalIndex = 0
        utf8Needed = 0
        sawNonWhitespace = false
        topLevelIsObject = false
        invalidUTF8 = false
        syntaxError = false
        self.captureMessage = captureMessage
        keyBytes.removeAll(keepingCapacity: true)
        currentKey = .other
        fields.removeAll(keepingCapacity: true)
        truncatedFields.removeAll()
        isMeta = false
        isCompactSummary = false
        capturing = nil
        captureBuffer.removeAll(keepingCapacity: true)
        captureOverflow = false
    }

    @inline(__always) private static func isWhitespace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
    }

    @inline(__always) private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// Feeds the next bytes of the current line (never including its `\n`).
    mutating func feed(_ buf: UnsafeRawBufferPointer) {
        guard let base = buf.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let count = buf.count
        var i = 0
        // Start of a pending capture within this chunk.
        var captureFrom = capturing == nil ? -1 : 0
        while i < count {
            let b = base[i]
            if utf8Needed > 0 {
                // Inside a multi-byte sequence (in a string, or after a syntax error).
                if b < utf8Low || b > utf8High {
                    invalidUTF8 = true
                    utf8Needed = 0
                    continue  // re-examine this byte on its own
                }
                utf8Needed -= 1
                utf8Low = 0x80; utf8High = 0xBF
                i += 1
                continue
            }
            switch mode {
            case .string:
                // Fast path through ordinary string bytes.
                var j = i
                while j < count {
                    let c = base[j]
                    if c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 { break }
                    j += 1
                }
                if stringIsKey, stack.count == 1, j > i, keyBytes.count < 32 {
                    keyBytes.append(contentsOf: UnsafeBufferPointer(start: base + i, count: min(j - i, 32 - keyBytes.count)))
                }
                i = j
                if i >= count { continue }
                let c = base[i]
                if c == 0x22 {
                    i += 1
                    if stringIsKey {
                        if stack.count == 1 { currentKey = TopLevelKey(keyBytes) }
                        mode = .colon
                    } else {
                        if capturing != nil, stack.count == 1 {
                            finishCapture(base, from: captureFrom, to: i - 1)
                            captureFrom = -1
                        }
                        mode = .afterValue
                    }
                } else if c == 0x5C {
                    if stringIsKey, stack.count == 1, keyBytes.count < 32 { keyBytes.append(c) }
                    mode = .escape
                    i += 1
                } else if c < 0x20 {
                    fail()
                } else {
                    startUTF8(c)
                    i += 1
                }
                continue
            case .escape:
                switch b {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: mode = .string
                case 0x75: mode = .hex; hexLeft = 4
                default: fail(); continue
                }
                if stringIsKey, stack.count == 1, keyBytes.count < 32 { keyBytes.append(b) }
                i += 1
                continue
            case .hex:
                let isHex = Self.isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
                guard isHex else { fail(); continue }
                hexLeft -= 1
                if hexLeft == 0 { mode = .string }
                i += 1
                continue
            case .failed:
                if b >= 0x80 { startUTF8(b) }
                i += 1
                continue
            default:
                break
            }
            if Self.isWhitespace(b) {
                switch mode {
                case .value, .arrayValueOrEnd, .objectKeyOrEnd, .objectKey, .colon, .afterValue:
                    i += 1
                case .numZero, .numInt, .numFrac, .numExpDigits:
                    mode = .afterValue
                    i += 1
                default:
                    fail()
                }
                continue
            }
            switch mode {
            case .value, .arrayValueOrEnd:
                if mode == .arrayValueOrEnd, b == 0x5D {
                    closeContainer(object: false, base: base, i: i, captureFrom: &captureFrom)
                    i += 1
                    continue
                }
                let atTop = stack.isEmpty
                if atTop {
                    if sawNonWhitespace { fail(); continue }
                    sawNonWhitespace = true
                    topLevelIsObject = b == 0x7B
                }
                // A top-level field's value begins.
                if stack.count == 1, stack[0] {
                    if currentKey.isStringField, b == 0x22 {
                        beginCapture(currentKey); captureFrom = i + 1
                    } else if currentKey == .message, b == 0x7B, captureMessage {
                        beginCapture(.message); captureFrom = i
                    } else if (currentKey == .isMeta || currentKey == .isCompactSummary), b == 0x74 {
                        literalKey = currentKey
                    }
                }
                switch b {
                case 0x7B: stack.append(true); mode = .objectKeyOrEnd
                case 0x5B: stack.append(false); mode = .arrayValueOrEnd
                case 0x22: stringIsKey = false; mode = .string
                case 0x74: startLiteral(Self.trueBytes)
                case 0x66: startLiteral(Self.falseBytes)
                case 0x6E: startLiteral(Self.nullBytes)
                case 0x2D: mode = .numMinus
                case 0x30: mode = .numZero
                case 0x31...0x39: mode = .numInt
                default: fail(); continue
                }
                i += 1
            case .objectKeyOrEnd, .objectKey:
                if b == 0x22 {
                    stringIsKey = true
                    if stack.count == 1 { keyBytes.removeAll(keepingCapacity: true) }
                    mode = .string
                    i += 1
                } else if b == 0x7D, mode == .objectKeyOrEnd {
                    closeContainer(object: true, base: base, i: i, captureFrom: &captureFrom)
                    i += 1
                } else {
                    fail()
                }
            case .colon:
                if b == 0x3A { mode = .value; i += 1 } else { fail() }
            case .afterValue:
                guard let top = stack.last else { fail(); continue }
                if b == 0x2C {
                    mode = top ? .objectKey : .value
                    if stack.count == 1 { currentKey = .other; literalKey = .other }
                    i += 1
                } else if b == (top ? 0x7D : 0x5D) {
                    closeContainer(object: top, base: base, i: i, captureFrom: &captureFrom)
                    i += 1
                } else {
                    fail()
                }
            case .literal:
                if b == literal[literalIndex] {
                    literalIndex += 1
                    i += 1
                    if literalIndex == literal.count {
                        if stack.count == 1, literal.count == 4, literal[0] == 0x74 {
                            if literalKey == .isMeta { isMeta = true }
                            if literalKey == .isCompactSummary { isCompactSummary = true }
                        }
                        literalKey = .other
                        mode = .afterValue
                    }
                } else {
                    fail()
                }
            case .numMinus:
                if b == 0x30 { mode = .numZero; i += 1 } else if Self.isDigit(b) { mode = .numInt; i += 1 } else { fail() }
            case .numZero:
                if b == 0x2E { mode = .numDot; i += 1 } else if b == 0x65 || b == 0x45 { mode = .numExp; i += 1 } else { endNumber() }
            case .numInt:
                if Self.isDigit(b) { i += 1 } else if b == 0x2E { mode = .numDot; i += 1 }
                else if b == 0x65 || b == 0x45 { mode = .numExp; i += 1 } else { endNumber() }
            case .numDot:
                if Self.isDigit(b) { mode = .numFrac; i += 1 } else { fail() }
            case .numFrac:
                if Self.isDigit(b) { i += 1 } else if b == 0x65 || b == 0x45 { mode = .numExp; i += 1 } else { endNumber() }
            case .numExp:
                if b == 0x2B || b == 0x2D { mode = .numExpSign; i += 1 }
                else if Self.isDigit(b) { mode = .numExpDigits; i += 1 } else { fail() }
            case .numExpSign:
                if Self.isDigit(b) { mode = .numExpDigits; i += 1 } else { fail() }
            case .numExpDigits:
                if Self.isDigit(b) { i += 1 } else { endNumber() }
            case .string, .escape, .hex, .failed:
                break  // handled above
            }
        }
        // Keep what a capture saw of this chunk.
        if capturing != nil, captureFrom >= 0, captureFrom < count {
            appendCapture(UnsafeBufferPointer(start: base + captureFrom, count: count - captureFrom))
        }
    }

    /// Ends the line. Returns the problem, or nil when the line is one JSON object.
    mutating func finish() -> LineProblem? {
        if mode.isNumberEnd { endNumber() }
        if utf8Needed > 0 { invalidUTF8 = true }
        if invalidUTF8 { return .invalidUTF8 }
        if !sawNonWhitespace && !syntaxError { return .blank }
        if syntaxError || mode != .afterValue || !stack.isEmpty { return .notJSON }
        return topLevelIsObject ? nil : .notObject
    }

    // MARK: - helpers

    private mutating func fail() {
        syntaxError = true
        mode = .failed
        capturing = nil
    }

    private static let trueBytes = Array("true".utf8)
    private static let falseBytes = Array("false".utf8)
    private static let nullBytes = Array("null".utf8)

    private mutating func startLiteral(_ word: [UInt8]) {
        literal = word
        literalIndex = 1
        mode = .literal
    }

    private mutating func endNumber() {
        // The byte that ended the number is examined again in afterValue.
        mode = .afterValue
    }

    private mutating func startUTF8(_ b: UInt8) {
        switch b {
        case 0xC2...0xDF: utf8Needed = 1; utf8Low = 0x80; utf8High = 0xBF
        case 0xE0: utf8Needed = 2; utf8Low = 0xA0; utf8High = 0xBF
        case 0xE1...0xEC, 0xEE...0xEF: utf8Needed = 2; utf8Low = 0x80; utf8High = 0xBF
        case 0xED: utf8Needed = 2; utf8Low = 0x80; utf8High = 0x9F
        case 0xF0: utf8Needed = 3; utf8Low = 0x90; utf8High = 0xBF
        case 0xF1...0xF3: utf8Needed = 3; utf8Low = 0x80; utf8High = 0xBF
        case 0xF4: utf8Needed = 3; utf8Low = 0x80; utf8High = 0x8F
        default: invalidUTF8 = true
        }
    }

    private mutating func closeContainer(object: Bool, base: UnsafePointer<UInt8>, i: Int, captureFrom: inout Int) {
        stack.removeLast()
        mode = .afterValue
        if stack.count == 1, capturing == .message {
            finishCapture(base, from: captureFrom, to: i + 1)
            captureFrom = -1
        }
    }

    private mutating func beginCapture(_ key: TopLevelKey) {
        capturing = key
        captureBuffer.removeAll(keepingCapacity: true)
        captureOverflow = false
    }

    private mutating func appendCapture(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let key = capturing, !captureOverflow else { return }
        let cap = key == .message ? messageCap : stringCap
        let room = cap - captureBuffer.count
        if bytes.count > room {
            if key == .message {
                captureOverflow = true
                captureBuffer.removeAll()
                return
            }
            captureBuffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[0..<max(0, room)]))
            captureOverflow = true
            return
        }
        captureBuffer.append(contentsOf: bytes)
    }

    private mutating func finishCapture(_ base: UnsafePointer<UInt8>, from: Int, to: Int) {
        guard let key = capturing else { return }
        if from >= 0, to > from {
            appendCapture(UnsafeBufferPointer(start: base + from, count: to - from))
        }
        if !(key == .message && captureOverflow) {
            fields[key] = captureBuffer
            if captureOverflow { truncatedFields.insert(key.rawValue) }
        }
        capturing = nil
        captureBuffer.removeAll(keepingCapacity: true)
    }
}

extension JSONLineScanner.Mode {
    var isNumberEnd: Bool { self == .numZero || self == .numInt || self == .numFrac || self == .numExpDigits }
}

/// Unescapes the raw bytes of a JSON string (without its quotes).
func decodeJSONString(_ raw: [UInt8]) -> String {
    guard raw.contains(0x5C) else { return String(decoding: raw, as: UTF8.self) }
    var out = [UInt8]()
    out.reserveCapacity(raw.count)
    var units = [UInt16]()
    func flushUnits() {
        if !units.isEmpty {
            out.append(contentsOf: Array(String(decoding: units, as: UTF16.self).utf8))
            units.removeAll()
        }
    }
    var i = 0
    while i < raw.count {
        let b = raw[i]
        if b != 0x5C {
            flushUnits()
            out.append(b)
            i += 1
            continue
        }
        guard i + 1 < raw.count else { break }
        let e = raw[i + 1]
        i += 2
        if e == 0x75 {
            guard i + 4 <= raw.count, let v = UInt16(String(decoding: raw[i..<i + 4], as: UTF8.self), radix: 16) else { break }
            units.append(v)
            i += 4
            continue
        }
        flushUnits()
        switch e {
        case 0x62: out.append(0x08)
        case 0x66: out.append(0x0C)
        case 0x6E: out.append(0x0A)
        case 0x72: out.append(0x0D)
        case 0x74: out.append(0x09)
        default: out.append(e)
        }
    }
    flushUnits()
    return String(decoding: out, as: UTF8.self)
}
