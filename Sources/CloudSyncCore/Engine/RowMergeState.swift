/// One cell's clock as stored in a clock table.
struct CellClock: Equatable {
    var colVersion: Int64
    var dbVersion: Int64
    var site: Int64
    var seq: Int64
}

/// The state of one row while a run of incoming changes for it is merged, and the effects
/// still to be written. Pure: `RowMerger` loads it and writes its effects.
struct RowMergeState {
    static let sentinel = Change.sentinelColumn

    /// Every clock of the row, the sentinel included.
    private(set) var clocks: [String: CellClock]
    /// The table row must be deleted before anything else is written.
    private(set) var deletesRow = false
    /// The table row must exist after the writes (inserted with defaults if missing).
    private(set) var ensuresRow = false
    /// Column values to write.
    private(set) var writes: [String: SQLValue] = [:]
    /// Clocks to store.
    private(set) var dirtyClocks: Set<String> = []
    /// The row's non-sentinel clocks stored before must be removed.
    private(set) var dropsOtherClocks = false

    init(clocks: [String: CellClock]) {
        self.clocks = clocks
    }

    var causalLength: Int64 {
        MergeRules.localCausalLength(sentinel: clocks[Self.sentinel]?.colVersion, hasClocks: !clocks.isEmpty)
    }

    /// Whether the table row may differ from the database: reading a value then needs a flush.
    var hasStructuralChanges: Bool { deletesRow || ensuresRow }

    var hasEffects: Bool { deletesRow || ensuresRow || !writes.isEmpty || !dirtyClocks.isEmpty }

    mutating func delete(sentinel: CellClock, keepingClocks: Bool = false) {
        deletesRow = true
        ensuresRow = false
        writes.removeAll()
        if keepingClocks {
            clocks[Self.sentinel] = sentinel
            dirtyClocks.insert(Self.sentinel)
        } else {
            clocks = [Self.sentinel: sentinel]
            dirtyClocks = [Self.sentinel]
            dropsOtherClocks = true
        }
    }

    mutating func retain(_ column: String, clock: CellClock) {
        clocks[column] = clock
        dirtyClocks.insert(column)
    }

    mutating func resurrect(sentinel: CellClock) {
        ensuresRow = true
        for (column, var clock) in clocks where column != Self.sentinel && clock.colVersion != 0 {
            clock.colVersion = 0
            clocks[column] = clock
            dirtyClocks.insert(column)
        }
        clocks[Self.sentinel] = sentinel
        dirtyClocks.insert(Self.sentinel)
    }

    mutating func write(_ column: String, _ value: SQLValue, clock: CellClock) {
        ensuresRow = true
        writes[column] = value
        clocks[column] = clock
        dirtyClocks.insert(column)
    }

    /// The value this row will hold in `column`, if a pending write decides it.
    func pendingValue(_ column: String) -> SQLValue? { writes[column] }

    /// Clears the effects after they were written, keeping the clocks as the new baseline.
    mutating func markFlushed() {
        deletesRow = false
        ensuresRow = false
        writes.removeAll()
        dirtyClocks.removeAll()
        dropsOtherClocks = false
    }

    /// Applies one decision of `MergeRules` for `change`, whose clock is `clock`. A revival
    /// takes its sentinel's clock from `localClock` (a new local change).
    mutating func apply(
        _ decision: MergeRules.Decision, column: String, value: SQLValue, causalLength: Int64, clock: CellClock,
        keepsDeletedClocks: Bool = false, localClock: () -> CellClock = { CellClock(colVersion: 0, dbVersion: 0, site: 0, seq: 0) }
    ) {
        switch decision {
        case .ignore:
            break
        case .retain(let deleteFirst):
            if deleteFirst {
                delete(sentinel: CellClock(colVersion: causalLength, dbVersion: clock.dbVersion, site: clock.site, seq: clock.seq), keepingClocks: true)
            }
            retain(column, clock: clock)
        case .revive:
            var sentinel = localClock()
            sentinel.colVersion = causalLength + 1
            resurrect(sentinel: sentinel)
            write(column, value, clock: clock)
        case .delete:
            delete(sentinel: CellClock(colVersion: causalLength, dbVersion: clock.dbVersion, site: clock.site, seq: clock.seq), keepingClocks: keepsDeletedClocks)
        case .resurrect:
            resurrect(sentinel: CellClock(colVersion: causalLength, dbVersion: clock.dbVersion, site: clock.site, seq: clock.seq))
        case .recordSentinel:
            clocks[Self.sentinel] = CellClock(colVersion: causalLength, dbVersion: clock.dbVersion, site: clock.site, seq: clock.seq)
            dirtyClocks.insert(Self.sentinel)
        case .write(let resurrectFirst):
            if resurrectFirst {
                resurrect(sentinel: CellClock(colVersion: causalLength, dbVersion: clock.dbVersion, site: clock.site, seq: clock.seq))
            }
            write(column, value, clock: clock)
        }
    }
}
