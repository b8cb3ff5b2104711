import CloudSyncCore
import CloudSyncCurl
import CSQLiteLinked
import Foundation
@testable import CloudSyncNetwork

/// A device: a local database with the engine and the network functions, as an application
/// that loaded the extension would have it.
final class Device {
    static let api = SQLiteAPI(routines: cloudsync_linked_routines())

    let handle: OpaquePointer
    let context: SyncContext
    var connection: Connection { context.connection }

    init(path: String = ":memory:", schema: String, server: String, database: String, apiKey: String) throws {
        handle = try Self.api.openDatabase(path: path)
        context = try CloudSyncEngine.register(database: handle, api: Self.api)
        try NetworkFunctions.register(on: context) { () throws(CloudSyncError) in try CurlTransport() }
        try connection.execute(schema)
        try connection.execute("SELECT cloudsync_init('*')")
        try connection.run("SELECT cloudsync_network_init(?1)", [.string("\(server)/\(database)")])
        try connection.run("SELECT cloudsync_network_set_apikey(?1)", [.string(apiKey)])
    }

    deinit {
        context.releaseResources()
        Self.api.closeDatabase(handle)
    }

    func execute(_ sql: String) throws { try connection.execute(sql) }

    /// `cloudsync_network_sync()`: the number of changes received.
    @discardableResult
    func sync() throws -> Int64 {
        try connection.scalar("SELECT cloudsync_network_sync()")?.integerValue ?? -1
    }

    func rows(_ table: String = "todo") throws -> [[SQLValue]] {
        try connection.rows("SELECT * FROM \(table) ORDER BY 1")
    }

    var hasUnsentChanges: Bool {
        get throws { try connection.scalar("SELECT cloudsync_network_has_unsent_changes()")?.integerValue == 1 }
    }
}

/// Rows of a table in a database file, read with plain SQLite (no engine).
func rows(ofFile path: String, table: String = "todo") throws -> [[SQLValue]] {
    let handle = try Device.api.openDatabase(path: path)
    defer { Device.api.closeDatabase(handle) }
    return try Connection(handle: handle, api: Device.api).rows("SELECT * FROM \(table) ORDER BY 1")
}
