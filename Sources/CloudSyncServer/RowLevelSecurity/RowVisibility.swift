import CloudSyncCore

/// One user's view of the rows of the policy-protected tables of a database, and what their
/// devices hold of them.
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
/// *offset*; downloads add it and uploads subtract it (`cloudsync_rls_rows`). Synthesized
/// hides and shows are stored per user in `cloudsync_rls_outbox` at reserved `db_version`s,
/// so every device of the user receives them in feed order, whatever its cursor.
///
/// Not `Sendable`: works on one connection inside one write transaction.
final class RowVisibility {
    let context: SyncContext
    let claims: AccessClaims
    let policies: [String: CompiledTablePolicy]
    private var connection: Connection { context.connection }
    private var eventVersion: Int64?
    private var eventSeq: Int64 = 0

    init(context: SyncContext, claims: AccessClaims, policies: [String: CompiledTablePolicy]) {
        self.context = context
        self.claims = claims
        self.policies = policies
    }

    func policy(for table: String) -> CompiledTablePolicy? {
        policies[table.lowercased()]
    }

    // MARK: Entries

    func entry(table: String, pk: [UInt8]) throws(CloudSyncError) -> MirrorEntry? {
        guard let row = try connection.rows(
            "SELECT mirrored, cl_offset, hidden_cl FROM cloudsync_rls_rows WHERE user_id = ?1 AND tbl = ?2 AND pk = ?3",
            [.string(claims.userID), .string(table), .blob(pk)]).first
        else { return nil }
        return MirrorEntry(mirrored: row[0].integerValue == 1, offset: row[1].integerValue ?? 0, hiddenCL: row[2].integerValue ?? 0)
    }

    private func store(_ entry: MirrorEntry, table: String, pk: [UInt8]) throws(CloudSyncError) {
        try connection.run(
            "INSERT OR REPLACE INTO cloudsync_rls_rows(user_id, tbl, pk, mirrored, cl_offset, hidden_cl) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            [.string(claims.userID), .string(table), .blob(pk), .integer(entry.mirrored ? 1 : 0), .integer(entry.offset), .integer(entry.hiddenCL)])
    }

    // MARK: Policy evaluation

    /// Whether the stored row `pk` of `policy.table` passes the select policy.
    func isVisible(_ policy: CompiledTablePolicy, pk: [UInt8]) throws(CloudSyncError) -> Bool {
        let statement = try connection.prepare(policy.selectRowSQL)
        try statement.bind(try PrimaryKeyCodec.decode(pk))
        return try statement.step() && statement.int64(at: 0) == 1
    }

    // MARK: Refresh

    /// Brings the user's visibility up to date with every change committed so far and
    /// returns the `db_version` it now covers. Rows that changed since the last refresh are
    /// evaluated one by one; a table is evaluated whole only when its policy, the user's
    /// claims, or a table its select policy reads has changed.
    @discardableResult
    func refresh() throws -> Int64 {
        let now = try context.databaseVersion()
        let epoch = try PolicyStore.epoch(connection)
        let state = try connection.rows(
            "SELECT evaluated_version, epoch, claims FROM cloudsync_rls_users WHERE user_id = ?1", [.string(claims.userID)]).first
        let since = state?[0].integerValue ?? 0
        let everything = state == nil || state?[1].integerValue != epoch || state?[2].stringValue != claims.policyInputs
        for policy in policies.values.sorted(by: { $0.table.name < $1.table.name }) {
            var whole = everything || policy.dependsOnUntrackedTable
            if !whole {
                for dependency in policy.selectDependencies {
                    guard let table = try context.synchronizedTable(named: dependency) else { continue }
                    if try connection.scalar("SELECT 1 FROM \(table.clockTable) WHERE db_version > ?1 LIMIT 1", [.integer(since)]) != nil {
                        whole = true
                        break
                    }
                }
            }
            if whole {
                try refreshWhole(policy, since: since)
            } else {
                let changed = try connection.rows(
                    "SELECT DISTINCT pk FROM \(policy.table.clockTable) WHERE db_version > ?1", [.integer(since)])
                for row in changed {
                    guard case .blob(let pk) = row[0] else { continue }
                    try reevaluate(policy, pk: pk, since: since)
                }
            }
        }
        try connection.run(
            "INSERT OR REPLACE INTO cloudsync_rls_users(user_id, evaluated_version, epoch, claims) VALUES (?1, ?2, ?3, ?4)",
            [.string(claims.userID), .integer(now), .integer(epoch), .string(claims.policyInputs)])
        return now
    }

    private func refreshWhole(_ policy: CompiledTablePolicy, since: Int64) throws {
        var visible: Set<[UInt8]> = []
        for row in try connection.rows(policy.selectAllSQL) {
            if case .blob(let pk) = row[0] { visible.insert(pk) }
        }
        var mirrored: Set<[UInt8]> = []
        for row in try connection.rows(
            "SELECT pk FROM cloudsync_rls_rows WHERE user_id = ?1 AND tbl = ?2 AND mirrored = 1",
            [.string(claims.userID), .string(policy.table.name)]) {
            if case .blob(let pk) = row[0] { mirrored.insert(pk) }
        }
        for pk in visible.subtracting(mirrored).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let length = try context.causalLength(table: policy.table.name, pk: pk)
            if length % 2 == 1 { try show(policy.table.name, pk: pk, length: length, since: since) }
        }
        for pk in mirrored.subtracting(visible).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let length = try context.causalLength(table: policy.table.name, pk: pk)
            // A deleted row stays mirrored: its delete reaches the devices as a real change.
            if length % 2 == 1 { try hide(policy.table.name, pk: pk, length: length) }
        }
    }

    private func reevaluate(_ policy: CompiledTablePolicy, pk: [UInt8], since: Int64) throws {
        let length = try context.causalLength(table: policy.table.name, pk: pk)
        guard length % 2 == 1 else { return }
        let visible = try isVisible(policy, pk: pk)
        let mirrored = try entry(table: policy.table.name, pk: pk)?.mirrored ?? false
        if visible && !mirrored {
            try show(policy.table.name, pk: pk, length: length, since: since)
        } else if !visible && mirrored {
            try hide(policy.table.name, pk: pk, length: length)
        }
    }

    // MARK: Transitions

    /// Starts mirroring a live row whose causal length is `length`.
    /// - Parameter since: the version up to which the user's devices may already have
    ///   received changes; a row first seen whose changes all come later needs no event,
    ///   since the devices will get them all from the feed.
    private func show(_ table: String, pk: [UInt8], length: Int64, since: Int64) throws(CloudSyncError) {
        let existing = try entry(table: table, pk: pk)
        var allNew = false
        if existing == nil {
            let clocks = try context.synchronizedTable(named: table)!.clockTable
            allNew = try connection.scalar("SELECT min(db_version) FROM \(clocks) WHERE pk = ?1", [.blob(pk)])?.integerValue ?? 0 > since
        }
        try apply(MirrorEntry.show(existing, length: length, changesAreAllNew: allNew), table: table, pk: pk)
    }

    /// Stops mirroring a live row whose causal length is `length`.
    private func hide(_ table: String, pk: [UInt8], length: Int64) throws(CloudSyncError) {
        try apply(MirrorEntry.hide(try entry(table: table, pk: pk), length: length), table: table, pk: pk)
    }

    /// Returns the devices' copy of a row to the server's truth after its upload was denied.
    /// - Parameter deviceCL: the highest causal length the upload carried for the row.
    func correct(_ policy: CompiledTablePolicy, pk: [UInt8], deviceCL: Int64) throws(CloudSyncError) {
        let table = policy.table.name
        let length = try context.causalLength(table: table, pk: pk)
        var visible = false
        if length % 2 == 1 { visible = try isVisible(policy, pk: pk) }
        try apply(MirrorEntry.correct(try entry(table: table, pk: pk), length: length, visible: visible, deviceCL: deviceCL), table: table, pk: pk)
    }

    /// Records, for this user only, a delete the server has no row for (it never had it, or
    /// deleted it already): the user's other devices receive it, and the user's later uploads
    /// from an earlier life of the row are discarded, as every replica of the user would. It is
    /// not stored in the table's clocks, where it could pre-empt a key another user creates.
    func recordDelete(_ policy: CompiledTablePolicy, pk: [UInt8], deviceCL: Int64) throws(CloudSyncError) {
        let table = policy.table.name
        guard let transition = MirrorEntry.recordDelete(try entry(table: table, pk: pk), deviceCL: deviceCL) else { return }
        try apply(transition, table: table, pk: pk)
    }

    private func apply(_ transition: MirrorEntry.Transition, table: String, pk: [UInt8]) throws(CloudSyncError) {
        try store(transition.entry, table: table, pk: pk)
        if let event = transition.event { try addEvent(event, table: table, pk: pk) }
    }

    // MARK: Events

    private func addEvent(_ event: MirrorEntry.Event, table: String, pk: [UInt8]) throws(CloudSyncError) {
        let version: Int64
        if let eventVersion {
            version = eventVersion
        } else {
            version = try context.reserveVersion()
            eventVersion = version
        }
        try connection.run(
            "INSERT INTO cloudsync_rls_outbox(user_id, db_version, seq, tbl, pk, kind, cl) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            [.string(claims.userID), .integer(version), .integer(eventSeq), .string(table), .blob(pk), .string(event.kind.rawValue), .integer(event.cl)])
        eventSeq += 1
    }
}
