import CloudSyncCore

/// The storage operations the Row-Level Security engine (`RowSecurity`) runs on, each a few
/// statements of the storage's own SQL over many rows: the per-user tables
/// (`cloudsync_rls_users`, `cloudsync_rls_rows`, `cloudsync_rls_outbox`, see `PolicyStore`
/// and docs/postgres.md), the protected rows and their clocks, and the changes feed.
///
/// Called inside one transaction that no other writer of the database commits during (the
/// embedded storage's writer, PostgreSQL's clock row), with the token's claims visible to
/// the policy expressions.
protocol RowSecurityStore: AnyObject {
    associatedtype Policy: ProtectedTablePolicy

    /// The site id of the database.
    var serverSite: [UInt8] { get }
    /// The schema hash a page of `format` is stamped with.
    func schemaHash(for format: PayloadFormat) async throws -> UInt64
    /// The database's current `db_version`.
    func databaseVersion() async throws -> Int64
    /// Whether the synchronized table `table` (lowercased name) has a clock newer than
    /// `version`; false for any other table.
    func hasChanges(table: String, after version: Int64) async throws -> Bool

    // MARK: Rows

    /// The keys of the stored rows of the policy's table that pass its select policy.
    func visibleKeys(_ policy: Policy) async throws -> Set<[UInt8]>
    /// The facts of the selected rows of the policy's table, by pk.
    func facts(_ policy: Policy, of selection: RowFacts.Selection) async throws -> [[UInt8]: RowFacts]
    /// The current changes (sentinel and cells) of rows `pks` of `table`, by pk, in feed order.
    func rowChanges(table: String, pks: [[UInt8]]) async throws -> [[UInt8]: [Change]]
    /// The first `limit` changes of the feed after `cursor`, not made at `site`, in feed order.
    func feed(excluding site: SiteID, after cursor: SyncCursor, limit: Int) async throws -> [Change]

    // MARK: The user's state

    /// What the user's visibility was last computed from; nil for a user never evaluated.
    func evaluation(user: String) async throws -> RowSecurityEvaluation?
    func recordEvaluation(_ evaluation: RowSecurityEvaluation, user: String) async throws
    /// The user's entries of rows `pks` of `table` (absent: the devices never had the row).
    func entries(user: String, table: String, pks: [[UInt8]]) async throws -> [[UInt8]: MirrorEntry]
    /// The rows of `table` the user's devices mirror.
    func mirroredKeys(user: String, table: String) async throws -> Set<[UInt8]>
    /// A few rows the user's devices hold, mirrored first (at most 8).
    func carrierCandidates(user: String) async throws -> [CarrierCandidate]
    /// Inserts or replaces the user's entries: table -> pk -> entry.
    func storeEntries(_ entries: [String: [[UInt8]: MirrorEntry]], user: String) async throws
    /// A `db_version` above every version given so far and below every later one, for
    /// synthesized events.
    func reserveVersion() async throws -> Int64
    func storeEvents(_ events: [FilteredPageBuilder.OutboxEvent], user: String) async throws
    /// The user's outbox after `cursor`, in order, at most `limit` events.
    func outbox(user: String, after cursor: SyncCursor, limit: Int) async throws -> [FilteredPageBuilder.OutboxEvent]
}
