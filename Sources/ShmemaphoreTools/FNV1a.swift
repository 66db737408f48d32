/// The 64-bit FNV-1a hash that the conformance output uses to identify
/// payloads (docs/CONFORMANCE.md): offset basis 0xcbf29ce484222325, prime
/// 0x100000001b3, one byte at a time.
package enum FNV1a64 {
    package static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    package static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The hash of `bytes`.
    ///
    /// FNV-1a is inherently serial (each step needs the previous one), so the
    /// speed comes from keeping the loop tight: one unaligned 8-byte load
    /// feeds eight steps, and only wrapping operators (which the compiler
    /// inlines even in debug builds) are used.
    package static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash = offsetBasis
        guard let base = bytes.baseAddress else { return hash }
        let count = bytes.count
        var offset = 0
        while offset &+ 8 <= count {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            hash = (hash ^ (word & 0xFF)) &* prime
            hash = (hash ^ ((word &>> 8) & 0xFF)) &* prime
            hash = (hash ^ ((word &>> 16) & 0xFF)) &* prime
            hash = (hash ^ ((word &>> 24) & 0xFF)) &* prime
            hash = (hash ^ ((word &>> 32) & 0xFF)) &* prime
            hash = (hash ^ ((word &>> 40) & 0xFF)) &* prime
            hash = (hash ^ ((word &>> 48) & 0xFF)) &* prime
            hash = (hash ^ (word &>> 56)) &* prime
            offset &+= 8
        }
        while offset < count {
            hash = (hash ^ UInt64(base.load(fromByteOffset: offset, as: UInt8.self))) &* prime
            offset &+= 1
        }
        return hash
    }

    /// The hash of a byte array.
    package static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// `value` as exactly 16 lower-case hex digits, as the output format wants.
    package static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Parses 16 lower-case hex digits; nil for anything else.
    package static func parseHex(_ text: Substring) -> UInt64? {
        guard text.utf8.count == 16,
            text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        return UInt64(text, radix: 16)
    }
}
