/// How concurrent writes to one row are resolved (`cloudsync_init(table, algo)`).
public enum SyncAlgorithm: String, Sendable, CaseIterable {
    /// Causal-length set: add and delete alternate by causal length (the default).
    case causalLengthSet = "cls"
    /// Delete wins over a concurrent update or re-insert.
    case deleteWins = "dws"
    /// Add wins: an insert or update concurrent with a delete keeps the row.
    case addWins = "aws"
    /// Grow-only set: rows are only ever added.
    case growOnlySet = "gos"

    /// Parses an algorithm name, case-insensitively.
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }
}
