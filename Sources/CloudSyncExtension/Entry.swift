import CloudSyncCore
import CloudSyncCurl
import CloudSyncNetwork
import CSQLiteExtension

/// The extension's entry point, found by SQLite from the library name (`.load ./cloudsync`).
@_cdecl("sqlite3_cloudsync_init")
public func sqlite3_cloudsync_init(
    _ database: OpaquePointer?,
    _ errorMessage: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ routines: UnsafeRawPointer?
) -> Int32 {
    guard let database, let routines else { return SQLITE_MISUSE }
    let api = SQLiteAPI(routines: routines)
    do {
        let context = try CloudSyncEngine.register(database: database, api: api)
        try NetworkFunctions.register(on: context) { () throws(CloudSyncError) in try CurlTransport() }
        return SQLITE_OK
    } catch {
        // The host frees the message with sqlite3_free, so it must come from sqlite3_malloc.
        let text = Array(error.message.utf8CString)
        if let errorMessage, let copy = api.allocate(count: text.count) {
            copy.initialize(from: text, count: text.count)
            errorMessage.pointee = copy
        }
        return SQLITE_ERROR
    }
}
