/// Merges runs of incoming changes into one synchronized table: loads a row's clocks, lets
/// `MergeRules` and `RowMergeState` decide, then writes the row and its clocks in a few
/// statements.
final class RowMerger {
    private let connection: Connection
    private let table: SyncTable
    private let key: [SQLValue]
    let keyBlob: [UInt8]
    var state: RowMergeState
    /// Block columns whose blocks this run changed, to materialize when it ends.
    var pendingBlockColumns: Set<String> = []

    /// - Parameters:
    ///   - clocks: the row's stored clocks by slot (`MergeStatements.loadClocks`).
    ///   - rowIsKnown: the row has clocks here, perhaps only block clocks (no slot).
    init(table: SyncTable, keyBlob: [UInt8], clocks: [Int: CellClock], rowIsKnown: Bool = false, connection: Connection) throws(CloudSyncError) {
        self.connection = connection
        self.table = table
        self.keyBlob = keyBlob
        let key: [SQLValue]
        do throws(CloudSyncError) {
            key = try PrimaryKeyCodec.decode(keyBlob)
        } catch {
            throw CloudSyncError(.malformedPayload, "a change for table \(table.name) has an invalid primary key: \(error.message)")
        }
        guard key.count == table.primaryKey.count else {
            throw CloudSyncError(.malformedPayload, "a change for table \(table.name) has \(key.count) primary key values; the table has \(table.primaryKey.count)")
        }
        self.key = key
        self.state = RowMergeState(columnCount: table.columns.count, clocks: clocks, rowIsKnown: rowIsKnown)
    }

    /// Merges one change for cell `slot` whose stored clock will be `clock`; `localClock`
    /// stamps a local change the merge makes (an add-wins revival).
    func merge(_ change: Change, slot: Int, clock: CellClock, localClock: () -> CellClock) throws(CloudSyncError) {
        let isSentinel = slot == state.sentinel
        let decision = try MergeRules.decide(
            algorithm: table.algorithm,
            isSentinel: isSentinel,
            causalLength: change.causalLength,
            colVersion: change.colVersion,
            localCausalLength: state.causalLength,
            hasLocalSentinel: state.hasSentinel,
            localColVersion: isSentinel ? nil : state.clocks[slot]?.colVersion,
            incomingValueIsGreater: { () throws(CloudSyncError) in
                ValueOrdering.isGreater(change.value, than: try localValue(slot))
            })
        // A revival's causal length is the one after the local delete.
        let length = decision == .revive ? state.causalLength : change.causalLength
        state.apply(decision, slot: slot, value: change.value, causalLength: length, clock: clock,
                    keepsDeletedClocks: table.algorithm == .addWins, localClock: localClock)
    }

    private func localValue(_ slot: Int) throws(CloudSyncError) -> SQLValue {
        if let pending = state.writes[slot] { return pending }
        if state.hasStructuralChanges { try flush() }
        let read = try table.merge.read(slot, connection)
        try read.bind(key)
        defer { read.reset() }
        return try read.step() ? read.value(at: 0) : .null
    }

    /// The pending effects, for a `WriteBatch` to write; they no longer count as pending.
    func takeEffects() -> RowEffects? {
        guard state.hasEffects else { return nil }
        let written = state.writes.indices.filter { state.writes[$0] != nil }
        let dirty = state.dirty.indices.filter { state.dirty[$0] }
        let effects = RowEffects(
            key: key, keyBlob: keyBlob,
            deletesRow: state.deletesRow, ensuresRow: state.ensuresRow,
            writes: written.map { ($0, state.writes[$0]!) },
            dropsOtherClocks: state.dropsOtherClocks,
            resurrects: state.resurrects,
            clocks: dirty.map { (table.slotName($0), state.clocks[$0]!) })
        state.markFlushed()
        return effects
    }

    /// Writes the pending effects now (before a value is read back for a tie).
    func flush() throws(CloudSyncError) {
        guard let effects = takeEffects() else { return }
        var batch = WriteBatch(table: table)
        batch.add(effects)
        try batch.write(connection)
    }
}
