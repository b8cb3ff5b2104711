/// What the operators' console (the dashboard at `/dashboard`) needs from a storage beyond the
/// sync protocol: administrators, an overview of each database, device bookkeeping, the keys
/// and tokens issued, and the recent refused rows.
///
/// Both storages implement it, so the dashboard behaves the same on either; a storage that does
/// not (a test double) runs the server without a dashboard.
public protocol ConsoleStorage: SyncStorage {
    // MARK: Administrators

    /// Creates administrator `user`, or replaces their password hash (`AdminPassword`).
    func setAdministrator(user: String, passwordHash: String) async throws
    /// The stored password hash of administrator `user`, nil if there is no such administrator.
    func administratorPasswordHash(user: String) async throws -> String?

    // MARK: Overview

    /// Tables, row counts, `db_version` and size of managed database `name`.
    func databaseSummary(_ name: String) async throws -> DatabaseSummary
    /// The devices that synced with `database`, most recently seen first.
    func devices(database: String) async throws -> [DeviceRecord]
    /// Notes that `site` of `database` was seen, and up to which `db_version` it has downloaded
    /// (nil: unchanged, an upload). Called at most about once a minute per device (`DeviceTracker`).
    func recordDevice(database: String, site: SiteID, userID: String?, checkedVersion: Int64?) async throws

    // MARK: Keys and tokens

    /// The API keys of `database` (their hashes; the keys themselves are never stored).
    func apiKeys(database: String) async throws -> [APIKeyRecord]
    /// Revokes the API key whose hash is `hash`. Throws `.unknownKey` if there is none.
    func revokeAPIKey(hash: String) async throws
    /// The access tokens issued for `database`, newest first.
    func accessTokens(database: String) async throws -> [AccessTokenRecord]

    // MARK: Refused rows

    /// Records rows Row-Level Security refused in one upload, keeping only the most recent
    /// `RefusedRowsEvent.retained` events.
    func recordRefusedRows(_ event: RefusedRowsEvent) async throws
    /// The most recent refusals, newest first.
    func recentRefusedRows(limit: Int) async throws -> [RefusedRowsEvent]
}
