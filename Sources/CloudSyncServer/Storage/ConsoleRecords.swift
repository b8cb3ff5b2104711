/// One managed database as the dashboard shows it.
public struct DatabaseSummary: Sendable, Equatable {
    /// A table of the database's schema.
    public struct Table: Sendable, Equatable {
        public var name: String
        /// Whether the sync engine tracks it; the others stay on the server.
        public var synchronized: Bool
        public var rows: Int64
    }

    public var name: String
    /// The tables of its schema, by name.
    public var tables: [Table]
    /// The database's current version: the last `db_version` of its changes feed.
    public var dbVersion: Int64
    /// Bytes on disk (the SQLite file and its WAL, or the PostgreSQL relations of its schema).
    public var sizeBytes: Int64
}

/// A device (site id) that synced with a database.
public struct DeviceRecord: Sendable, Equatable {
    public var site: String
    /// The token user bound to the site; nil for a device that syncs with an API key.
    public var userID: String?
    /// ISO 8601, UTC.
    public var lastSeen: String
    /// The `db_version` up to which the device has downloaded, nil if it never checked.
    public var checkedVersion: Int64?
}

/// An API key, by the hash it is stored as.
public struct APIKeyRecord: Sendable, Equatable {
    public var hash: String
    public var createdAt: String
    public var revokedAt: String?
}

/// An issued access token.
public struct AccessTokenRecord: Sendable, Equatable {
    public var tokenID: String
    public var userID: String
    public var name: String?
    /// Unix time, nil when it does not expire.
    public var expiresAt: Int64?
    public var createdAt: String
    public var revokedAt: String?
}

/// Rows Row-Level Security refused in one upload.
public struct RefusedRowsEvent: Sendable, Equatable {
    /// How many events the storages keep.
    public static let retained = 200

    /// ISO 8601, UTC; set by the storage when recorded.
    public var at: String
    public var database: String
    public var site: String
    public var userID: String
    public var table: String
    public var rows: Int

    public init(at: String = "", database: String, site: String, userID: String, table: String, rows: Int) {
        self.at = at
        self.database = database
        self.site = site
        self.userID = userID
        self.table = table
        self.rows = rows
    }
}
