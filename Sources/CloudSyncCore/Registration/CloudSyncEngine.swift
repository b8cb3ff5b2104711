import CSQLiteExtension

/// Entry point of the engine: registers its SQL functions and the `cloudsync_changes`
/// virtual table on a connection.
public enum CloudSyncEngine {
    /// The oldest SQLite the engine supports (Debian 12 ships 3.40).
    public static let minimumSQLiteVersion: Int32 = 3_037_000

    /// Contexts by connection handle, so that loading the engine twice on one connection
    /// returns the first registration.
    private static let registry = Locked<[UInt: UInt]>([:])

    /// Registers the engine on the connection `database` of the SQLite library whose routines
    /// table is `api`, and returns the connection's context. Registering again on the same
    /// connection returns the existing context.
    @discardableResult
    public static func register(database: OpaquePointer, api: SQLiteAPI) throws(CloudSyncError) -> SyncContext {
        let version = api.libraryVersionNumber
        guard version >= minimumSQLiteVersion else {
            throw CloudSyncError(.misuse, "cloudsync needs SQLite 3.37 or newer; this host runs \(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)")
        }
        HostAPI.install(api)
        let key = UInt(bitPattern: database)
        if let existing = registry.withLock({ $0[key] }) {
            return Unmanaged<SyncContext>.fromOpaque(UnsafeRawPointer(bitPattern: existing)!).takeUnretainedValue()
        }
        let connection = Connection(handle: database, api: api)
        let context = SyncContext(connection: connection)
        try SQLFunctions.register(on: connection, context: context)
        try PayloadEncodeAggregate.register(on: connection, context: context)
        try ChangesVirtualTable.register(on: connection, context: context)
        let address = UInt(bitPattern: Unmanaged.passUnretained(context).toOpaque())
        registry.withLock { $0[key] = address }
        context.onRelease = { registry.withLock { _ = $0.removeValue(forKey: key) } }
        return context
    }

    /// Registers a scalar SQL function on the context's connection, for modules that extend
    /// the engine (the network layer). Errors thrown by `body` become SQL errors.
    /// - Parameter arguments: the argument count, or -1 for any.
    public static func registerFunction(
        _ name: String, arguments: Int32, on context: SyncContext,
        _ body: @escaping (SyncContext, SQLArguments) throws -> SQLValue
    ) throws(CloudSyncError) {
        try FunctionRegistry.register(name, arguments: arguments, on: context.connection, context: context) { context, arguments, result in
            result.set(try body(context, arguments))
        }
    }
}
