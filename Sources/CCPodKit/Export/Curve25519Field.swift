import Foundation

/// Numbers modulo p = 2^255 - 19, just enough to turn an Ed25519 public key into the X25519
/// public key of the same secret (`montgomeryU`). Four 64-bit limbs, little-endian; values
/// stay below 2^256 and are reduced below p when compared or written out. Not constant-time:
/// it only ever handles public keys.
struct Field25519: Equatable {
    private(set) var limbs: [UInt64]

    static let p: [UInt64] = [0xFFFF_FFFF_FFFF_FFED, .max, .max, 0x7FFF_FFFF_FFFF_FFFF]
    static let zero = Field25519(limbs: [0, 0, 0, 0])
    static let one = Field25519(limbs: [1, 0, 0, 0])

    private init(limbs: [UInt64]) {
        self.limbs = limbs
    }

    /// 32 little-endian bytes, taken as they are (below 2^256).
    init(littleEndian bytes: [UInt8]) {
        precondition(bytes.count == 32)
        var limbs = [UInt64](repeating: 0, count: 4)
        for index in 0..<32 {
            let byte = UInt64(bytes[index])
            limbs[index / 8] |= byte << UInt64(8 * (index % 8))
        }
        self.limbs = limbs
    }

    /// The value below p, as 32 little-endian bytes.
    var bytes: [UInt8] {
        let r = reduced.limbs
        return (0..<32).map { (index: Int) -> UInt8 in UInt8(truncatingIfNeeded: r[index / 8] >> UInt64(8 * (index % 8))) }
    }

    /// Whether the 256-bit value is below p (a canonical encoding).
    var isCanonical: Bool { !Self.atLeast(limbs, Self.p) }

    var reduced: Field25519 {
        var x = limbs
        while Self.atLeast(x, Self.p) { x = Self.subtract(x, Self.p) }
        return Field25519(limbs: x)
    }

    static func == (a: Field25519, b: Field25519) -> Bool { a.reduced.limbs == b.reduced.limbs }

    private static func atLeast(_ a: [UInt64], _ b: [UInt64]) -> Bool {
        for i in stride(from: 3, through: 0, by: -1) where a[i] != b[i] { return a[i] > b[i] }
        return true
    }

    /// a - b for a ≥ b.
    private static func subtract(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var r = a
        var borrow: UInt64 = 0
        for i in 0..<4 {
            let (d1, o1) = a[i].subtractingReportingOverflow(b[i])
            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
            r[i] = d2
            borrow = (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        return r
    }

    /// `r + extra·2^256`, with 2^256 ≡ 38 (mod p) folded back in until it fits four limbs.
    private static func fold(_ limbs: [UInt64], _ extra: UInt64) -> Field25519 {
        var r = limbs
        var carry = extra * 38
        while carry != 0 {
            for i in 0..<4 {
                let (s, o) = r[i].addingReportingOverflow(carry)
                r[i] = s
                carry = o ? 1 : 0
                if carry == 0 { break }
            }
            if carry != 0 { carry = 38 }
        }
        return Field25519(limbs: r)
    }

    static func + (a: Field25519, b: Field25519) -> Field25519 {
        var r = [UInt64](repeating: 0, count: 4)
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (s1, o1) = a.limbs[i].addingReportingOverflow(b.limbs[i])
            let (s2, o2) = s1.addingReportingOverflow(carry)
            r[i] = s2
            carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        return fold(r, carry)
    }

    static func - (a: Field25519, b: Field25519) -> Field25519 {
        let x = a.reduced.limbs, y = b.reduced.limbs
        if atLeast(x, y) { return Field25519(limbs: subtract(x, y)) }
        // x + p < 2^256 because x < p < 2^255.
        let xp = (Field25519(limbs: x) + Field25519(limbs: p)).limbs
        return Field25519(limbs: subtract(xp, y))
    }

    static func * (a: Field25519, b: Field25519) -> Field25519 {
        var t = [UInt64](repeating: 0, count: 8)
        for i in 0..<4 {
            var carry: UInt64 = 0
            for j in 0..<4 {
                let (hi, lo) = a.limbs[i].multipliedFullWidth(by: b.limbs[j])
                let (s1, o1) = t[i + j].addingReportingOverflow(lo)
                let (s2, o2) = s1.addingReportingOverflow(carry)
                t[i + j] = s2
                carry = hi + (o1 ? 1 : 0) + (o2 ? 1 : 0)
            }
            t[i + 4] = carry
        }
        // t = low + high·2^256 ≡ low + high·38.
        var r = Array(t[0..<4])
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (hi, lo) = t[i + 4].multipliedFullWidth(by: 38)
            let (s1, o1) = r[i].addingReportingOverflow(lo)
            let (s2, o2) = s1.addingReportingOverflow(carry)
            r[i] = s2
            carry = hi + (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        return fold(r, carry)
    }

    /// The inverse, as self^(p-2) (Fermat); zero has none and gives zero.
    var inverse: Field25519 {
        let e: [UInt64] = [0xFFFF_FFFF_FFFF_FFEB, .max, .max, 0x7FFF_FFFF_FFFF_FFFF]
        var result = Field25519.one
        for bit in stride(from: 254, through: 0, by: -1) {
            result = result * result
            if (e[bit / 64] >> UInt64(bit % 64)) & 1 == 1 { result = result * self }
        }
        return result
    }

    /// The X25519 (Montgomery u) form of an Ed25519 public key: u = (1 + y) / (1 - y), where y is
    /// the key's 255 low bits (the top bit is the sign of x, which u does not depend on).
    /// Nil for an encoding that is not canonical or for y = 1, which has no u.
    static func montgomeryU(ed25519 key: [UInt8]) -> [UInt8]? {
        guard key.count == 32 else { return nil }
        var yBytes = key
        yBytes[31] &= 0x7F
        let y = Field25519(littleEndian: yBytes)
        guard y.isCanonical else { return nil }
        let denominator = one - y
        guard denominator != zero else { return nil }
        return ((one + y) * denominator.inverse).bytes
    }
}
