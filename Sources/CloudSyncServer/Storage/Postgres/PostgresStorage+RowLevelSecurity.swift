import CloudSyncCore
import Logging
import PostgresNIO

/// Row-Level Security on PostgreSQL: the engine (`RowSecurity`) over PostgreSQL's statements
/// (`PostgresRowSecurityStore`, `PostgresRowMerger`), with checks and visibility written in
/// PostgreSQL's SQL (docs/postgres.md, "Row-Level Security").
extension PostgresStorage {
    /// The Row-Level Security engine for a token user in the caller's transaction, or nil
    /// when the database has no policies.
    func rowSecurity(_ database: PostgresDatabase, claims: AccessClaims, connection: PostgresConnection) async throws -> RowSecurity<PostgresRowSecurityStore>? {
        let compiled = try await compiledPolicies(database, connection: connection)
        guard !compiled.byTable.isEmpty else { return nil }
        return RowSecurity(
            store: PostgresRowSecurityStore(database: database, connection: connection, logger: logger),
            claims: claims, policies: compiled.byTable, epoch: compiled.epoch)
    }
}
