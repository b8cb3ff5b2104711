/// The routines table the SQL function trampolines use.
///
/// SQLite hands a function callback only its `sqlite3_context`; reading the user data out of
/// it already needs the API, so the table must be reachable without it. One process uses one
/// SQLite library with this engine (the last one that registered it).
enum HostAPI {
    private static let address = Locked<UInt>(0)

    static func install(_ api: SQLiteAPI) {
        address.withLock { $0 = UInt(bitPattern: api.routines) }
    }

    static var current: SQLiteAPI {
        SQLiteAPI(routines: UnsafeRawPointer(bitPattern: address.withLock { $0 })!)
    }
}
