import CSQLiteExtension

/// `cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id,
/// cl, seq)`: an aggregate that packs its rows into one payload (wire-format §4).
enum PayloadEncodeAggregate {
    struct State {
        var builder = PayloadBuilder()
        var error: CloudSyncError?
    }

    static let name = "cloudsync_payload_encode"

    static func register(on connection: Connection, context: SyncContext) throws(CloudSyncError) {
        let box = Unmanaged.passRetained(FunctionBox(context: context, handler: { _, _, _ in })).toOpaque()
        let rc = connection.api.r.create_function_v2(
            connection.handle, name, 9, SQLITE_UTF8, box, nil,
            { sqlContext, count, values in
                let api = HostAPI.current
                guard let state = PayloadEncodeAggregate.stateSlot(api, sqlContext, create: true) else {
                    api.r.result_error_nomem(sqlContext)
                    return
                }
                guard state.pointee.error == nil else { return }
                if state.pointee.builder.rowCount == 0 {
                    // The database's format, chosen once per aggregate.
                    let box = Unmanaged<FunctionBox>.fromOpaque(api.r.user_data(sqlContext)!).takeUnretainedValue()
                    do throws(CloudSyncError) {
                        state.pointee.builder.body.format = try box.context.payloadFormat()
                    } catch {
                        state.pointee.error = error
                        return
                    }
                }
                let arguments = SQLArguments(api: api, count: count, values: values)
                if let problem = PayloadEncodeAggregate.validate(arguments) {
                    state.pointee.error = CloudSyncError(.misuse, "cloudsync_payload_encode: \(problem)")
                    return
                }
                for index in 0..<Int(count) {
                    arguments.encode(index, into: &state.pointee.builder.body)
                }
                state.pointee.builder.endRow()
            },
            { sqlContext in
                let api = HostAPI.current
                let result = SQLResult(api: api, context: sqlContext)
                guard let pointer = PayloadEncodeAggregate.stateSlot(api, sqlContext, create: false) else {
                    result.set(.null)
                    return
                }
                let state = pointer.move()
                pointer.deallocate()
                PayloadEncodeAggregate.clearSlot(api, sqlContext)
                if let error = state.error {
                    result.fail(error)
                    return
                }
                let box = Unmanaged<FunctionBox>.fromOpaque(api.r.user_data(sqlContext)!).takeUnretainedValue()
                do throws(CloudSyncError) {
                    let hash = try box.context.schemaHash(for: state.builder.body.format)
                    result.set(.blob(state.builder.finish(schemaHash: hash, libraryVersion: SyncContext.version)))
                } catch {
                    result.fail(error)
                }
            },
            { box in
                if let box { Unmanaged<FunctionBox>.fromOpaque(box).release() }
            })
        if rc != SQLITE_OK { throw connection.error(rc) }
    }

    /// The per-group state, allocated on the first row; SQLite's aggregate context holds its
    /// address (the context itself is zeroed memory Swift values cannot live in).
    private static func stateSlot(_ api: SQLiteAPI, _ context: OpaquePointer?, create: Bool) -> UnsafeMutablePointer<State>? {
        let size = Int32(MemoryLayout<UnsafeMutablePointer<State>?>.size)
        guard let raw = api.r.aggregate_context(context, create ? size : 0) else { return nil }
        let slot = raw.assumingMemoryBound(to: UnsafeMutablePointer<State>?.self)
        if let existing = slot.pointee { return existing }
        guard create else { return nil }
        let fresh = UnsafeMutablePointer<State>.allocate(capacity: 1)
        fresh.initialize(to: State())
        slot.pointee = fresh
        return fresh
    }

    private static func clearSlot(_ api: SQLiteAPI, _ context: OpaquePointer?) {
        api.r.aggregate_context(context, 0)?.assumingMemoryBound(to: UnsafeMutablePointer<State>?.self).pointee = nil
    }

    /// Checks the types of one row; returns what is wrong, if anything.
    private static func validate(_ arguments: SQLArguments) -> String? {
        let expectations: [(Int, Int32, String)] = [
            (0, SQLITE_TEXT, "tbl must be TEXT"), (1, SQLITE_BLOB, "pk must be a BLOB"),
            (2, SQLITE_TEXT, "col_name must be TEXT"), (4, SQLITE_INTEGER, "col_version must be an INTEGER"),
            (5, SQLITE_INTEGER, "db_version must be an INTEGER"), (6, SQLITE_BLOB, "site_id must be a BLOB"),
            (7, SQLITE_INTEGER, "cl must be an INTEGER"), (8, SQLITE_INTEGER, "seq must be an INTEGER"),
        ]
        for (index, type, message) in expectations where arguments.type(index) != type {
            return message
        }
        return nil
    }
}
