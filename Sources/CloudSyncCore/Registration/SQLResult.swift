import CSQLiteExtension

/// Where a SQL function writes its result.
struct SQLResult {
    let api: SQLiteAPI
    let context: OpaquePointer?

    func set(_ value: SQLValue) {
        switch value {
        case .null: api.r.result_null(context)
        case .integer(let v): api.r.result_int64(context, v)
        case .real(let v): api.r.result_double(context, v)
        case .text(let bytes):
            Statement.withText(bytes) { api.r.result_text(context, $0, $1, cloudsync_transient()) }
        case .blob(let bytes):
            bytes.withUnsafeBytes { buffer in
                api.r.result_blob(context, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count), cloudsync_transient())
            }
        }
    }

    func setRaw(_ value: RawKeyValue) {
        switch value {
        case .null: api.r.result_null(context)
        case .integer(let v): api.r.result_int64(context, v)
        case .real(let v): api.r.result_double(context, v)
        case .text(let bytes):
            let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
            if let base { api.r.result_text(context, base, Int32(bytes.count), cloudsync_transient()) } else { set(.text([])) }
        case .blob(let bytes):
            api.r.result_blob(context, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), cloudsync_transient())
        }
    }

    func fail(_ error: CloudSyncError) {
        api.r.result_error(context, error.message, -1)
        if let code = error.resultCode, code != SQLITE_OK {
            api.r.result_error_code(context, code)
        }
    }
}
