#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then random bits; monotonic within
/// the process even when several are made in the same millisecond or the clock steps back.
package enum UUIDv7 {
    /// The last time and 74-bit tail handed out: `high` holds the tail's top 12 bits (rand_a),
    /// `low` its other 62 (rand_b). Two words rather than one 128-bit integer, which older Apple
    /// platforms lack.
    private struct Stamp {
        var milliseconds: UInt64 = 0
        var high: UInt64 = 0
        var low: UInt64 = 0
    }

    private static let last = Locked(Stamp())
    private static let lowMask: UInt64 = (1 << 62) - 1
    private static let highMask: UInt64 = (1 << 12) - 1

    /// A new UUIDv7 as 16 bytes.
    package static func generate() -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        let now = currentMilliseconds()
        let stamp: Stamp = last.withLock { state in
            // Within one millisecond, or if the clock went back, keep the previous time and
            // count up from the previous tail.
            if now > state.milliseconds {
                let high = (random.next() as UInt64) & highMask
                let low = (random.next() as UInt64) & lowMask
                // Half the range, leaving headroom for increments.
                state = Stamp(milliseconds: now, high: high >> 1, low: (low >> 1) | ((high & 1) << 61))
            } else {
                state.low += ((random.next() as UInt64) & 0xFFFF) + 1
                if state.low > lowMask {
                    state.low &= lowMask
                    state.high += 1
                }
                if state.high > highMask { state = Stamp(milliseconds: state.milliseconds + 1) }
            }
            return state
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: stamp.milliseconds >> (40 - 8 * UInt64(i))) }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: stamp.high >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: stamp.high)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: stamp.low >> 56)
        for i in 9..<16 { bytes[i] = UInt8(truncatingIfNeeded: stamp.low >> (8 * UInt64(15 - i))) }
        return bytes
    }

    /// The canonical text form `xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`.
    package static func format(_ bytes: [UInt8]) -> String {
        UUIDText.format(bytes)
    }

    private static func currentMilliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }
}
