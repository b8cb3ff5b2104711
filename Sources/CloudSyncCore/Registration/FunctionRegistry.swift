import CSQLiteExtension

/// One registered SQL function: its handler and the context it works on.
final class FunctionBox {
    // Untyped throws: closure literals do not infer typed throws; the trampoline maps errors.
    typealias Handler = (SyncContext, SQLArguments, SQLResult) throws -> Void
    let context: SyncContext
    let handler: Handler

    init(context: SyncContext, handler: @escaping Handler) {
        self.context = context
        self.handler = handler
    }
}

/// Registers scalar SQL functions whose implementations are Swift closures.
enum FunctionRegistry {
    static let deterministic = SQLITE_DETERMINISTIC
    /// Functions that triggers call must be innocuous to run under `trusted_schema = OFF`.
    static let innocuous: Int32 = 0x0020_0000

    static func register(
        _ name: String, arguments: Int32, flags: Int32 = 0,
        on connection: Connection, context: SyncContext, handler: @escaping FunctionBox.Handler
    ) throws(CloudSyncError) {
        let box = Unmanaged.passRetained(FunctionBox(context: context, handler: handler)).toOpaque()
        let rc = connection.api.r.create_function_v2(
            connection.handle, name, arguments, SQLITE_UTF8 | flags, box,
            { sqlContext, count, values in
                let api = HostAPI.current
                let result = SQLResult(api: api, context: sqlContext)
                // SQLite keeps the box alive for the call: no retain/release on this hot path.
                Unmanaged<FunctionBox>.fromOpaque(api.r.user_data(sqlContext)!)._withUnsafeGuaranteedRef { box in
                    do {
                        try box.handler(box.context, SQLArguments(api: api, count: count, values: values), result)
                    } catch let error as CloudSyncError {
                        result.fail(error)
                    } catch {
                        result.fail(CloudSyncError(.misuse, "\(error)"))
                    }
                }
            },
            nil, nil,
            { box in
                if let box { Unmanaged<FunctionBox>.fromOpaque(box).release() }
            })
        if rc != SQLITE_OK {
            throw connection.error(rc)
        }
    }
}
