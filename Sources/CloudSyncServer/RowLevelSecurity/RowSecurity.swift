import CloudSyncCore

/// One token user's view of the policy-protected rows of a database, and what their devices
/// hold of them: the Row-Level Security engine of both storages, over the batched operations
/// of a `RowSecurityStore`.
///
/// The devices of a user are ordinary CRDT replicas that know nothing of policies, so every
/// visibility change reaches them as changes:
///
/// - A row the user stops seeing is *hidden*: the devices get a delete whose causal length is
///   one above what they hold.
/// - A row the user starts seeing (again) is *shown*: the devices get the whole row. If they
///   hold a hiding delete, the row is sent at a causal length above it.
///
/// So a user's devices may count a row's causal length ahead of the server by an even
/// *offset*; downloads add it and uploads subtract it (`MirrorEntry`). Synthesized hides and
/// shows are stored per user in the outbox at reserved `db_version`s, so every device of the
/// user receives them in feed order, whatever its cursor.
///
/// Entry changes and events are kept here and written by `flush()`, a few statements for many
/// rows. Not `Sendable`: used inside one transaction of one request.
final class RowSecurity<Store: RowSecurityStore> {
    typealias Policy = Store.Policy

    let store: Store
    let claims: AccessClaims
    /// Keyed by lowercased table name.
    let policies: [String: Policy]
    /// The policy epoch the policies were compiled at.
    let epoch: Int64
    /// Entries changed and not yet written: table -> pk -> entry.
    private var changed: [String: [[UInt8]: MirrorEntry]] = [:]
    private var pendingEvents: [(table: String, pk: [UInt8], event: MirrorEntry.Event)] = []
    private var eventVersion: Int64?
    private var eventSeq: Int64 = 0

    init(store: Store, claims: AccessClaims, policies: [String: Policy], epoch: Int64) {
        self.store = store
        self.claims = claims
        self.policies = policies
        self.epoch = epoch
    }

    func policy(for table: String) -> Policy? {
        policies[table.lowercased()]
    }

    // MARK: Entries

    /// The entries of `pks` of `table`, with the changes not yet written.
    func entries(table: String, pks: [[UInt8]]) async throws -> [[UInt8]: MirrorEntry] {
        let pending = changed[table] ?? [:]
        var result = try await store.entries(user: claims.userID, table: table, pks: pks.filter { pending[$0] == nil })
        for pk in pks {
            if let entry = pending[pk] { result[pk] = entry }
        }
        return result
    }

    private func mirroredKeys(table: String) async throws -> Set<[UInt8]> {
        var keys = try await store.mirroredKeys(user: claims.userID, table: table)
        for (pk, entry) in changed[table] ?? [:] {
            if entry.mirrored { keys.insert(pk) } else { keys.remove(pk) }
        }
        return keys
    }

    /// Records a transition, written by `flush()`.
    func apply(_ transition: MirrorEntry.Transition, table: String, pk: [UInt8]) {
        changed[table, default: [:]][pk] = transition.entry
        if let event = transition.event { pendingEvents.append((table, pk, event)) }
    }

    /// Writes the changed entries, and the events at the version reserved for this request's
    /// events (the first flush with events reserves it).
    func flush() async throws {
        if !changed.isEmpty {
            try await store.storeEntries(changed, user: claims.userID)
            changed = [:]
        }
        guard !pendingEvents.isEmpty else { return }
        let version: Int64
        if let eventVersion {
            version = eventVersion
        } else {
            version = try await store.reserveVersion()
            eventVersion = version
        }
        let events = pendingEvents.enumerated().map { index, pending in
            FilteredPageBuilder.OutboxEvent(version: version, seq: eventSeq + Int64(index), table: pending.table, pk: pending.pk, event: pending.event)
        }
        try await store.storeEvents(events, user: claims.userID)
        eventSeq += Int64(events.count)
        pendingEvents = []
    }

    // MARK: Refresh

    /// Brings the user's visibility up to date with every change committed so far, and
    /// writes it. Rows that changed since the last refresh are evaluated; a table is
    /// evaluated whole only when its policy, the user's claims, or a table its select policy
    /// reads has changed.
    func refresh() async throws {
        let now = try await store.databaseVersion()
        let state = try await store.evaluation(user: claims.userID)
        let since = state?.version ?? 0
        let everything = state == nil || state?.epoch != epoch || state?.claims != claims.policyInputs
        for policy in policies.values.sorted(by: { $0.tableName < $1.tableName }) {
            var whole = everything || policy.dependsOnUntrackedTable
            for dependency in policy.selectDependencies.sorted() where !whole {
                whole = try await store.hasChanges(table: dependency, after: since)
            }
            if whole {
                try await refreshWhole(policy, since: since)
            } else {
                try await refreshChanged(policy, since: since)
            }
        }
        try await store.recordEvaluation(RowSecurityEvaluation(version: now, epoch: epoch, claims: claims.policyInputs), user: claims.userID)
        try await flush()
    }

    private func refreshWhole(_ policy: Policy, since: Int64) async throws {
        let name = policy.tableName
        let visible = try await store.visibleKeys(policy)
        let mirrored = try await mirroredKeys(table: name)
        let shown = visible.subtracting(mirrored).sorted { $0.lexicographicallyPrecedes($1) }
        let hidden = mirrored.subtracting(visible).sorted { $0.lexicographicallyPrecedes($1) }
        let facts = try await store.facts(policy, of: .keys(shown + hidden))
        let existing = try await entries(table: name, pks: shown + hidden)
        for pk in shown {
            guard let row = facts[pk], row.length % 2 == 1 else { continue }
            apply(MirrorEntry.show(existing[pk], length: row.length, changesAreAllNew: row.oldest > since), table: name, pk: pk)
        }
        for pk in hidden {
            // A deleted row stays mirrored: its delete reaches the devices as a real change.
            guard let row = facts[pk], row.length % 2 == 1 else { continue }
            apply(MirrorEntry.hide(existing[pk], length: row.length), table: name, pk: pk)
        }
    }

    private func refreshChanged(_ policy: Policy, since: Int64) async throws {
        let name = policy.tableName
        let facts = try await store.facts(policy, of: .changedAfter(since))
        let pks = facts.keys.sorted { $0.lexicographicallyPrecedes($1) }
        let existing = try await entries(table: name, pks: pks)
        for pk in pks {
            guard let row = facts[pk], row.length % 2 == 1 else { continue }
            let mirrored = existing[pk]?.mirrored ?? false
            if row.visible && !mirrored {
                apply(MirrorEntry.show(existing[pk], length: row.length, changesAreAllNew: row.oldest > since), table: name, pk: pk)
            } else if !row.visible && mirrored {
                apply(MirrorEntry.hide(existing[pk], length: row.length), table: name, pk: pk)
            }
        }
    }
}
