#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then random bits; monotonic within
/// the process even when several are made in the same millisecond or the clock steps back.
package enum UUIDv7 {
    private static let last = Mutex<(milliseconds: UInt64, tail: UInt128)>((0, 0))

    /// A new UUIDv7 as 16 bytes.
    package static func generate() -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        let now = currentMilliseconds()
        let (milliseconds, tail): (UInt64, UInt128) = last.withLock { state in
            // tail: 74 bits (12 of rand_a, 62 of rand_b). Within one millisecond, or if the
            // clock went back, keep the previous time and count up from the previous tail.
            let mask: UInt128 = (1 << 74) - 1
            if now > state.milliseconds {
                let fresh = (UInt128(random.next() as UInt64) << 64 | UInt128(random.next() as UInt64)) & mask
                state = (now, fresh >> 1) // leave headroom for increments
            } else {
                let step = UInt128((random.next() as UInt64) & 0xFFFF) + 1
                let next = state.tail + step
                if next > mask {
                    state = (state.milliseconds + 1, 0)
                } else {
                    state.tail = next
                }
            }
            return state
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(i))) }
        let randA = UInt16(truncatingIfNeeded: tail >> 62) & 0x0FFF
        bytes[6] = 0x70 | UInt8(randA >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: randA)
        let randB = UInt64(truncatingIfNeeded: tail) & ((1 << 62) - 1)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: randB >> 56)
        for i in 9..<16 { bytes[i] = UInt8(truncatingIfNeeded: randB >> (8 * UInt64(15 - i))) }
        return bytes
    }

    /// The canonical text form `xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`.
    package static func format(_ bytes: [UInt8]) -> String {
        let hex = Hex.encode(bytes)
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    private static func currentMilliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }
}
