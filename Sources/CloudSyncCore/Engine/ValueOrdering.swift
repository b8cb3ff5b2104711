/// The total order by which equal-version writes of one cell are resolved
/// (crdt-model.md, step 4): INTEGER > REAL > TEXT > BLOB > NULL across storage classes;
/// numbers numerically, text and blobs byte-wise and then by length.
enum ValueOrdering {
    private static func rank(_ value: SQLValue) -> Int {
        switch value {
        case .null: 0
        case .blob: 1
        case .text: 2
        case .real: 3
        case .integer: 4
        }
    }

    /// Whether `incoming` beats `local` (strictly greater). Equal values keep the local one.
    static func isGreater(_ incoming: SQLValue, than local: SQLValue) -> Bool {
        let (a, b) = (rank(incoming), rank(local))
        if a != b { return a > b }
        switch (incoming, local) {
        case (.integer(let x), .integer(let y)): return x > y
        // totalOrder keeps NaN (which SQLite never stores, but a payload may carry) deterministic.
        case (.real(let x), .real(let y)): return !x.isTotallyOrdered(belowOrEqualTo: y)
        case (.text(let x), .text(let y)), (.blob(let x), .blob(let y)): return y.lexicographicallyPrecedes(x)
        default: return false
        }
    }
}
