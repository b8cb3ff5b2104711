/// One cell's clock as stored in a clock table.
struct CellClock: Equatable {
    var colVersion: Int64
    var dbVersion: Int64
    var site: Int64
    var seq: Int64
}

/// The state of one row while a run of incoming changes for it is merged, and the effects
/// still to be written. Pure: `RowMerger` loads it and writes its effects.
///
/// Cells are addressed by slot: the table's non-key columns in order, then the sentinel.
struct RowMergeState {
    let sentinel: Int

    /// Every clock of the row by slot, the sentinel's last.
    private(set) var clocks: [CellClock?]
    /// Column values to write, by slot.
    private(set) var writes: [SQLValue?]
    /// Slots whose clocks must be stored.
    private(set) var dirty: [Bool]
    /// The table row must be deleted before anything else is written.
    private(set) var deletesRow = false
    /// The table row must exist after the writes (inserted with defaults if missing).
    private(set) var ensuresRow = false
    /// The row's non-sentinel clocks stored before must be removed.
    private(set) var dropsOtherClocks = false
    /// The row came back in a new causal length: clocks of the old life without a slot
    /// (blocks) must go.
    private(set) var resurrects = false
    /// The row had clocks without a slot (blocks) when loaded.
    private let rowIsKnown: Bool
    private(set) var hasWrites = false
    private(set) var hasDirtyClocks = false

    init(columnCount: Int, clocks: [Int: CellClock], rowIsKnown: Bool = false) {
        sentinel = columnCount
        self.rowIsKnown = rowIsKnown
        self.clocks = Array(repeating: nil, count: columnCount + 1)
        for (slot, clock) in clocks { self.clocks[slot] = clock }
        writes = Array(repeating: nil, count: columnCount)
        dirty = Array(repeating: false, count: columnCount + 1)
    }

    var causalLength: Int64 {
        MergeRules.localCausalLength(sentinel: clocks[sentinel]?.colVersion, hasClocks: rowIsKnown || clocks.contains { $0 != nil })
    }

    var hasSentinel: Bool { clocks[sentinel] != nil }

    /// Whether the table row may differ from the database: reading a value then needs a flush.
    var hasStructuralChanges: Bool { deletesRow || ensuresRow }

    var hasEffects: Bool { deletesRow || ensuresRow || hasWrites || hasDirtyClocks }

    private mutating func store(_ slot: Int, _ clock: CellClock?) {
        clocks[slot] = clock
        dirty[slot] = true
        hasDirtyClocks = true
    }

    mutating func delete(sentinel clock: CellClock, keepingClocks: Bool = false) {
        deletesRow = true
        ensuresRow = false
        writes = Array(repeating: nil, count: writes.count)
        hasWrites = false
        if !keepingClocks {
            for slot in clocks.indices where slot != sentinel {
                clocks[slot] = nil
                dirty[slot] = false
            }
            dropsOtherClocks = true
        }
        store(sentinel, clock)
    }

    mutating func resurrect(sentinel clock: CellClock) {
        ensuresRow = true
        resurrects = true
        for slot in clocks.indices where slot != sentinel {
            if var existing = clocks[slot], existing.colVersion != 0 {
                existing.colVersion = 0
                store(slot, existing)
            }
        }
        store(sentinel, clock)
    }

    mutating func write(_ slot: Int, _ value: SQLValue, clock: CellClock) {
        ensuresRow = true
        writes[slot] = value
        hasWrites = true
        store(slot, clock)
    }

    /// Clears the effects after they were written, keeping the clocks as the new baseline.
    mutating func markFlushed() {
        deletesRow = false
        ensuresRow = false
        dropsOtherClocks = false
        resurrects = false
        if hasWrites { writes = Array(repeating: nil, count: writes.count) }
        if hasDirtyClocks { dirty = Array(repeating: false, count: dirty.count) }
        hasWrites = false
        hasDirtyClocks = false
    }

    /// Applies one decision of `MergeRules` for a change of `slot` whose clock is `clock`. A
    /// revival takes its sentinel's clock from `localClock` (a new local change).
    mutating func apply(
        _ decision: MergeRules.Decision, slot: Int, value: SQLValue, causalLength: Int64, clock: CellClock,
        keepsDeletedClocks: Bool = false, localClock: () -> CellClock = { CellClock(colVersion: 0, dbVersion: 0, site: 0, seq: 0) }
    ) {
        var sentinelClock = clock
        sentinelClock.colVersion = causalLength
        switch decision {
        case .ignore:
            break
        case .recordSentinel:
            store(sentinel, sentinelClock)
        case .retain(let deleteFirst):
            if deleteFirst { delete(sentinel: sentinelClock, keepingClocks: true) }
            store(slot, clock)
        case .revive:
            var local = localClock()
            local.colVersion = causalLength + 1
            resurrect(sentinel: local)
            write(slot, value, clock: clock)
        case .delete:
            delete(sentinel: sentinelClock, keepingClocks: keepsDeletedClocks)
        case .resurrect:
            resurrect(sentinel: sentinelClock)
        case .write(let resurrectFirst):
            if resurrectFirst { resurrect(sentinel: sentinelClock) }
            write(slot, value, clock: clock)
        }
    }
}
