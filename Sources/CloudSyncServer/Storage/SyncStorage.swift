import CloudSyncCore

/// A site id taken from a request path: 16 bytes, written as 32 hex digits.
public struct SiteID: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Parses exactly 32 hex digits (either case); nil for anything else.
    public init?(hex text: some StringProtocol) {
        guard text.utf8.count == 32, let bytes = Hex.decode(text), bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// 32 lowercase hex digits.
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
}

/// One bounded page of a database's changes, encoded as a payload.
public struct ChangesPage: Sendable {
    /// The payload (wire-format.md).
    public var payload: [UInt8]
    /// The number of change rows in it.
    public var count: Int
    /// The cursor of its last change: where the next page starts.
    public var last: SyncCursor

    public init(payload: [UInt8], count: Int, last: SyncCursor) {
        self.payload = payload
        self.count = count
        self.last = last
    }
}

/// The outcome of merging one uploaded payload.
public struct MergeResult: Sendable, Equatable {
    /// Changes in the payload.
    public var changes: Int
    /// Rows that could not be written (a constraint failed); see `SyncContext.MergeReport`.
    public var failedRows: [String]
    /// Rows that Row-Level Security refused, per table (token users only).
    public var denied: [DeniedRows]

    public init(changes: Int, failedRows: [String] = [], denied: [DeniedRows] = []) {
        self.changes = changes
        self.failedRows = failedRows
        self.denied = denied
    }
}

/// The number of rows of one table that Row-Level Security refused in an upload.
public struct DeniedRows: Sendable, Equatable, Codable {
    public var table: String
    public var rows: Int

    public init(table: String, rows: Int) {
        self.table = table
        self.rows = rows
    }
}

/// What an API key grants.
public struct APIKeyGrant: Sendable, Equatable {
    /// The database the key was created for.
    public var database: String

    public init(database: String) {
        self.database = database
    }
}

/// An error from a storage backend. The HTTP layer maps `kind` to a status and shows
/// `message` to the client (except for `.failure`, whose message is only logged).
public struct SyncStorageError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The database does not exist (404).
        case unknownDatabase
        /// `createDatabase` for a name that is taken.
        case databaseExists
        /// A database name that does not match `DatabaseName.pattern`.
        case invalidName
        /// A schema that cannot be used (no tables, SQL error, unknown table in the list).
        case invalidSchema
        /// An API key that does not exist (revoke).
        case unknownKey
        /// An access token that was never issued by this server (revoke).
        case unknownToken
        /// A Row-Level Security policy that cannot be used (unknown table, SQL error).
        case invalidPolicy
        /// An uploaded payload that cannot be merged: malformed, unknown schema, unknown
        /// table or column (400).
        case badPayload
        /// A payload over a configured limit (413).
        case payloadTooLarge
        /// Anything else: I/O, SQLite, a bug (500).
        case failure
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Refuses a version-3 payload: its fragments are staged and joined by a device's engine;
    /// the server has no staging of its own yet, so an upload of one is a clear 400.
    static func refuseFragments(_ payload: [UInt8]) throws(SyncStorageError) {
        guard payload.count > 4, payload[4] == 3 else { return }
        throw SyncStorageError(.badPayload, "payload format version 3 (fragments of a large value, sqlite-sync 1.1) is not accepted by this server yet; upload values that fit in one payload")
    }
}

/// Where the server keeps its managed databases and API keys.
///
/// The HTTP layer talks to storage only through this protocol, so that a backend other than
/// the embedded SQLite one (PostgreSQL, say) can be added without touching it. Every method
/// may be called concurrently from many requests; implementations serialize writes per
/// database themselves. Errors should be `SyncStorageError`; anything else is a 500.
public protocol SyncStorage: Sendable {
    /// True when the server can serve requests (the catalog is readable).
    func isHealthy() async -> Bool

    // MARK: Databases

    /// True if `name` is a managed database.
    func databaseExists(_ name: String) async throws -> Bool
    /// Creates the managed database `name` from the CREATE TABLE statements in `schema` and
    /// enables sync on `tables` (nil: every table the schema creates). Returns the
    /// synchronized table names.
    @discardableResult
    func createDatabase(name: String, schema: String, tables: [String]?) async throws -> [String]
    /// Every managed database, sorted by name.
    func listDatabases() async throws -> [String]

    // MARK: Sync

    /// Merges an uploaded payload into `database`. Returns only once the merge is committed
    /// durably. Merging a payload that was already merged changes nothing. For a token user,
    /// rows the database's policies refuse are left out and reported.
    func merge(database: String, site: SiteID, payload: [UInt8], as principal: Principal) async throws -> MergeResult
    /// The changes of `database` after `cursor`, in feed order, leaving out those made at
    /// `site`, at most `limit` of them (a page may exceed it to keep one row whole, or with
    /// `options.wholeVersions` one db_version whole); nil when there are none. A token user
    /// sees only what the policies let them see. The payload is written as `options.format`.
    func changes(database: String, excludingSite site: SiteID, after cursor: SyncCursor, limit: Int, options: ChangesPageOptions, as principal: Principal) async throws -> ChangesPage?

    // MARK: Protocol-v2 send cursors

    /// Records that `site` announced `window` in an accepted `/apply` (sync-protocol-v2.md
    /// §5.3) and returns the site's send cursor: the end of the contiguous prefix of its
    /// recorded windows.
    func recordSendWindow(database: String, site: SiteID, window: ClosedRange<Int64>) async throws -> Int64
    /// The send cursor of `site` (0 for a site never seen).
    func sendCursor(database: String, site: SiteID) async throws -> Int64

    // MARK: Access tokens

    /// The secret that signs access tokens, created on first use and the same for every
    /// server instance sharing this storage.
    func tokenSigningSecret() async throws -> [UInt8]
    /// Records a token just issued, so that it can be revoked.
    func recordToken(_ claims: AccessClaims) async throws
    /// Revokes the token with id `tokenID`. Throws `.unknownToken` if it was never recorded.
    func revokeToken(id tokenID: String) async throws
    /// True if the token with id `tokenID` was revoked. Also true for an id that was never
    /// recorded: a correctly signed token the storage does not know is refused, not trusted.
    func isTokenRevoked(id tokenID: String) async throws -> Bool
    /// Binds `site` of `database` to `userID` the first time a token user syncs with it.
    /// Returns false when the site is already bound to another user.
    func bindSite(database: String, site: SiteID, userID: String) async throws -> Bool

    // MARK: Row-Level Security

    /// Enables Row-Level Security on `policy.table` with these policies, replacing earlier
    /// ones. Throws `.invalidPolicy` for an unknown table or an expression that does not
    /// compile.
    func setPolicy(_ policy: TablePolicy, database: String) async throws
    /// The policies of `database`, of one table or all, sorted by table.
    func policies(database: String, table: String?) async throws -> [TablePolicy]
    /// Turns Row-Level Security off for `table`: token users see and change all its rows.
    func disablePolicy(database: String, table: String) async throws

    // MARK: Column settings

    /// Switches `column` of `table` to block-level text merge (block-text.md), its blocks
    /// separated by `delimiter`; existing rows are converted. Devices must configure the same.
    func setBlockColumn(database: String, table: String, column: String, delimiter: String) async throws
    /// The block columns of `database`, sorted by table and column.
    func blockColumns(database: String) async throws -> [BlockColumnSetting]

    // MARK: API keys

    /// Creates an API key for `database` and returns it; only a hash of it is stored.
    func createAPIKey(database: String) async throws -> String
    /// Revokes `key`. Throws `.unknownKey` if no such key exists.
    func revokeAPIKey(_ key: String) async throws
    /// What `key` grants, or nil if it is unknown or revoked.
    func verifyAPIKey(_ key: String) async throws -> APIKeyGrant?

    /// Where blob URLs keep payloads. Storages shared by several server instances return a
    /// shared implementation; the default keeps them in this process's memory.
    func makeBlobStorage(lifetime: Duration, maxBytes: Int) -> any BlobStorage

    /// Finishes pending work and closes every database. Called once at shutdown.
    func close() async
}

extension SyncStorage {
    /// A page for protocol-v1 clients (`ChangesPageOptions.v1Clients`).
    public func changes(database: String, excludingSite site: SiteID, after cursor: SyncCursor, limit: Int, as principal: Principal) async throws -> ChangesPage? {
        try await changes(database: database, excludingSite: site, after: cursor, limit: limit, options: .v1Clients, as: principal)
    }

    public func makeBlobStorage(lifetime: Duration, maxBytes: Int) -> any BlobStorage {
        BlobStore(lifetime: lifetime, maxBytes: maxBytes)
    }
}
