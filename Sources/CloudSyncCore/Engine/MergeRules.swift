/// The merge rules of crdt-model.md as a pure function: given one incoming change and this
/// replica's state of the row, what happens. No I/O, so every rule is tested directly.
enum MergeRules {
    enum Decision: Equatable {
        /// The change loses, or this replica already has it.
        case ignore
        /// Delete the row here, store the incoming sentinel, drop the row's other clocks.
        case delete
        /// Make the row exist, reset its other clocks to version 0, store the sentinel.
        case resurrect
        /// Write the value and store its clock; resurrect first when `resurrectFirst`.
        case write(resurrectFirst: Bool)
        /// Store the sentinel only: the row already lives in this causal length, implicitly
        /// (clocks without a sentinel). Keeps every replica's clock rows identical.
        case recordSentinel
        /// Add-wins only: keep the incoming clock of a deleted row's cell, as knowledge of what
        /// the deleting replicas had seen; delete the row first when `deleteFirst`.
        case retain(deleteFirst: Bool)
        /// Add-wins only: an update this replica's delete had not seen brings the row back in
        /// a new causal length, recorded as a local change so every replica follows.
        case revive
    }

    /// The row's causal length here: the sentinel's version, else 1 if any clock exists, else 0.
    static func localCausalLength(sentinel: Int64?, hasClocks: Bool) -> Int64 {
        if let sentinel { return sentinel }
        return hasClocks ? 1 : 0
    }

    /// Decides the fate of one incoming change.
    /// - Parameters:
    ///   - isSentinel: the change is a row-existence change (`__[RIP]__`).
    ///   - causalLength: the incoming change's `cl`.
    ///   - colVersion: the incoming change's `col_version`.
    ///   - localCausalLength: the row's causal length here.
    ///   - hasLocalSentinel: whether that length is stored in a sentinel (not implied).
    ///   - localColVersion: this cell's clock here, if it has one.
    ///   - incomingValueIsGreater: compares values; called only for a version tie.
    static func decide(
        algorithm: SyncAlgorithm,
        isSentinel: Bool,
        causalLength cl: Int64,
        colVersion: Int64,
        localCausalLength local: Int64,
        hasLocalSentinel: Bool = true,
        localColVersion: Int64?,
        incomingValueIsGreater: () throws(CloudSyncError) -> Bool
    ) throws(CloudSyncError) -> Decision {
        if algorithm == .addWins && !isSentinel {
            if let decision = addWinsDecision(cl: cl, colVersion: colVersion, local: local, localColVersion: localColVersion) {
                return decision
            }
        }
        if cl < local { return .ignore }
        if cl % 2 == 0 {
            // Rows of a grow-only set are never removed.
            if algorithm == .growOnlySet || cl == local { return .ignore }
            return .delete
        }
        if isSentinel {
            guard cl == local else { return .resurrect }
            return hasLocalSentinel ? .ignore : .recordSentinel
        }
        if cl > local {
            return .write(resurrectFirst: local > 0 || cl > 1)
        }
        guard let localColVersion else { return .write(resurrectFirst: false) }
        if colVersion != localColVersion {
            return colVersion > localColVersion ? .write(resurrectFirst: false) : .ignore
        }
        return try incomingValueIsGreater() ? .write(resurrectFirst: false) : .ignore
    }

    /// The add-wins rules that differ from the causal-length set; nil where they agree.
    private static func addWinsDecision(cl: Int64, colVersion: Int64, local: Int64, localColVersion: Int64?) -> Decision? {
        let isNewer = localColVersion.map { colVersion > $0 } ?? true
        if cl % 2 == 0 {
            // A deleted row's cell clock travels with its delete.
            if cl > local { return .retain(deleteFirst: true) }
            if cl == local { return isNewer ? .retain(deleteFirst: false) : .ignore }
            return nil
        }
        if local % 2 == 0 && cl == local - 1 {
            return isNewer ? .revive : .ignore
        }
        return nil
    }
}
