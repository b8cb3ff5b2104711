/// The `db_version` windows a protocol-v2 site has announced in accepted `/apply` calls
/// (sync-protocol-v2.md §5.3), kept as sorted, disjoint, non-adjacent ranges.
///
/// The site's send cursor is the end of the contiguous prefix 1…V: never more than the site
/// announced, and a hole (a window lost, or sent out of order) holds it back so that the
/// client sends the missing versions again.
struct SendWindows: Equatable, Sendable {
    /// At most this many ranges are kept; past it the highest are forgotten (they only matter
    /// once the prefix reaches them, and forgetting one makes the client re-send it).
    static let maxRanges = 256

    private(set) var ranges: [ClosedRange<Int64>]

    init(_ ranges: [ClosedRange<Int64>] = []) {
        self.ranges = []
        for range in ranges { insert(range) }
    }

    /// Parses `encoded` (`"1-5,8-9"`); nil when it is not in that form.
    init?(encoded text: String) {
        var ranges: [ClosedRange<Int64>] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard bounds.count == 2, let low = Int64(bounds[0]), let high = Int64(bounds[1]), low >= 1, low <= high else { return nil }
            ranges.append(low...high)
        }
        self.init(ranges)
    }

    /// The stored form: ranges as `low-high`, comma-separated.
    var encoded: String {
        ranges.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }

    /// The highest V such that every version 1…V is covered; 0 when version 1 is not.
    var contiguousEnd: Int64 {
        guard let first = ranges.first, first.lowerBound == 1 else { return 0 }
        return first.upperBound
    }

    /// Records an announced window. Versions below 1 are ignored; an empty result changes
    /// nothing.
    mutating func insert(_ window: ClosedRange<Int64>) {
        let low = max(1, window.lowerBound)
        guard low <= window.upperBound else { return }
        var merged = low...window.upperBound
        var kept: [ClosedRange<Int64>] = []
        for range in ranges {
            // Overlapping or adjacent ranges join the new one.
            if range.upperBound < merged.lowerBound - 1 || range.lowerBound > merged.upperBound &+ 1 {
                kept.append(range)
            } else {
                merged = min(range.lowerBound, merged.lowerBound)...max(range.upperBound, merged.upperBound)
            }
        }
        kept.append(merged)
        kept.sort { $0.lowerBound < $1.lowerBound }
        ranges = Array(kept.prefix(Self.maxRanges))
    }
}
