import CloudSyncCore
import CloudSyncTestSupport

/// Random plain-SQL writes over small key spaces of the `DifferentialTable` tables, valid on
/// both SQLite and PostgreSQL (no constraint errors: it tracks which keys exist), seeded so
/// that a failure repeats.
struct RandomWrites {
    /// What a statement does.
    enum Kind: CaseIterable, Hashable {
        case insert, multiRowInsert, update, keyChange, delete, missingKey
    }

    private var random: SeededGenerator
    /// How many statements of each kind were made.
    private(set) var counts: [Kind: Int] = [:]
    /// The keys that exist, per table name.
    private var present: [String: Set<[SQLValue]>] = [:]

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    /// Every key a table's rows may have.
    private static func keySpace(_ table: DifferentialTable) -> [[SQLValue]] {
        switch table.name {
        case DifferentialTable.items.name: (1...6).map { [.integer($0)] }
        case DifferentialTable.pairs.name: ["x", "y"].flatMap { a in (1...3).map { [.string(a), .integer($0)] } }
        case DifferentialTable.tags.name: ["a", "b", "c", "d"].map { [.string($0)] }
        default: ["k'1", "k 2", "k\"3"].map { [.string($0)] }
        }
    }

    /// A few values per type, so that updates often write the value a cell already has.
    private static func values(_ declared: String) -> [SQLValue] {
        switch declared {
        case "INTEGER": [.null, .integer(0), .integer(1), .integer(2)]
        case "REAL": [.null, .real(1.5), .real(-2.25)]
        case "BLOB": [.null, .blob([0]), .blob([1, 2])]
        default: [.null, .string("a"), .string("b"), .string("it's")]
        }
    }

    /// The next batch: one statement in autocommit, or `BEGIN`, two to five statements, `COMMIT`.
    mutating func nextBatch() -> [DualStatement] {
        guard Int.random(in: 0..<10, using: &random) < 4 else { return [nextStatement()] }
        return [.begin] + (0..<Int.random(in: 2...5, using: &random)).map { _ in nextStatement() } + [.commit]
    }

    private mutating func nextStatement() -> DualStatement {
        let table = DifferentialTable.all.randomElement(using: &random)!
        let space = Self.keySpace(table)
        let existing = space.filter { present[table.name, default: []].contains($0) }
        let missing = space.filter { !present[table.name, default: []].contains($0) }
        let roll = Int.random(in: 0..<100, using: &random)

        if roll < 30 || existing.isEmpty, let key = missing.randomElement(using: &random) {
            var rows = [row(table, key: key)]
            if roll < 5, let other = missing.filter({ $0 != key }).randomElement(using: &random) {
                rows.append(row(table, key: other))
            }
            for row in rows { present[table.name, default: []].insert(table.key.map { row[$0.name]! }) }
            counts[rows.count > 1 ? .multiRowInsert : .insert, default: 0] += 1
            return .insert(table, rows)
        }
        // From here on, mostly existing keys; sometimes a missing one (no row affected).
        let key = (Int.random(in: 0..<10, using: &random) == 0 ? missing.randomElement(using: &random) : nil)
            ?? existing.randomElement(using: &random) ?? space[0]
        let exists = present[table.name, default: []].contains(key)
        if !exists { counts[.missingKey, default: 0] += 1 }
        if roll < 45 || (roll < 60 && table.columns.isEmpty) {
            present[table.name]?.remove(key)
            counts[.delete, default: 0] += 1
            return .delete(table, key: key)
        }
        if roll < 60, exists, let target = missing.randomElement(using: &random) {
            // A key change, to a key without a row, maybe with column changes.
            var set = zip(table.key, zip(key, target)).compactMap { column, pair in pair.0 == pair.1 ? nil : (column.name, pair.1) }
            set += assignments(table, at: 0...1)
            present[table.name]?.remove(key)
            present[table.name, default: []].insert(target)
            counts[.keyChange, default: 0] += 1
            return .update(table, set: set.shuffled(using: &random), key: key)
        }
        guard !table.columns.isEmpty else {
            // Keys only: set the key to itself.
            return .update(table, set: table.key.map { $0.name }.enumerated().map { ($1, key[$0]) }, key: key)
        }
        counts[.update, default: 0] += 1
        return .update(table, set: assignments(table, at: 1...table.columns.count), key: key)
    }

    /// A row with `key` and some random columns.
    private mutating func row(_ table: DifferentialTable, key: [SQLValue]) -> [String: SQLValue] {
        var row: [String: SQLValue] = [:]
        for (column, value) in zip(table.key, key) { row[column.name] = value }
        for (name, value) in assignments(table, at: 0...table.columns.count) { row[name] = value }
        return row
    }

    /// Random values for `count` distinct random non-key columns.
    private mutating func assignments(_ table: DifferentialTable, at count: ClosedRange<Int>) -> [(String, SQLValue)] {
        let chosen = table.columns.shuffled(using: &random).prefix(Int.random(in: count, using: &random))
        return chosen.map { ($0.name, Self.values($0.declared).randomElement(using: &random)!) }
    }
}
