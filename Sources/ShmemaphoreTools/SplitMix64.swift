/// SplitMix64: a tiny, fast, seedable generator (Steele, Lea & Flood 2014).
///
/// Used wherever the tool needs reproducible randomness: the server's choice
/// of names under `--seed`, and the pixels of the conformance images, which
/// must be the same on every machine and every run.
package struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z &>> 31)
    }

    /// Fills `buffer` with pseudo-random bytes, eight per step, in
    /// little-endian order so that the bytes do not depend on the host.
    package mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        var offset = 0
        while offset &+ 8 <= count {
            base.storeBytes(of: next().littleEndian, toByteOffset: offset, as: UInt64.self)
            offset &+= 8
        }
        if offset < count {
            var last = next()
            while offset < count {
                base.storeBytes(of: UInt8(truncatingIfNeeded: last), toByteOffset: offset, as: UInt8.self)
                last &>>= 8
                offset &+= 1
            }
        }
    }
}
