import CloudSyncCore
import CSQLiteLinked
import GRDB

/// Entry point of the CloudSync Swift API: registers the sync engine on GRDB connections.
///
/// The engine is the one `cloudsync.so` contains, linked into your app: the same SQL
/// functions, storage tables, payloads and sync protocol.
///
/// ```swift
/// var config = Configuration()
/// config.enableCloudSync()               // every connection of the queue or pool
/// let dbQueue = try DatabaseQueue(path: path, configuration: config)
/// ```
public enum CloudSync {
    /// The engine's version (also written into payload headers).
    public static var engineVersion: String { SyncContext.versionString }

    /// The routines table of the SQLite library GRDB links (the system SQLite on Linux).
    static let sqliteAPI = SQLiteAPI(routines: cloudsync_linked_routines())

    /// Registers the engine's SQL functions (`cloudsync_*`) and the `cloudsync_changes`
    /// virtual table on `db`. Call it from `Configuration.prepareDatabase` (or use
    /// ``GRDB/Configuration/enableCloudSync()``), so that every connection of a
    /// `DatabasePool`, readers included, can run the triggers of synchronized tables.
    ///
    /// Registering again on the same connection does nothing.
    public static func register(_ db: Database) throws(SyncError) {
        _ = try context(db)
    }

    /// The engine's context of `db`'s connection, registering the engine if needed.
    ///
    /// A context belongs to its connection: use it only inside the database access closure
    /// that gave you `db`.
    static func context(_ db: Database) throws(SyncError) -> SyncContext {
        guard let handle = db.sqliteConnection else {
            throw SyncError(.misuse, "the database connection is closed")
        }
        do {
            return try CloudSyncEngine.register(database: handle, api: sqliteAPI)
        } catch {
            throw SyncError.wrapping(error)
        }
    }
}

extension Configuration {
    /// Registers the sync engine on every connection this configuration opens (the writer and,
    /// for a `DatabasePool`, each reader), through `prepareDatabase`.
    ///
    /// ```swift
    /// var config = Configuration()
    /// config.enableCloudSync()
    /// let dbPool = try DatabasePool(path: path, configuration: config)
    /// ```
    public mutating func enableCloudSync() {
        prepareDatabase { db in try CloudSync.register(db) }
    }
}
