import CSQLiteExtension

/// The SQLite C API the engine calls: the routines table of one SQLite library.
///
/// A loadable extension receives this table from its host in `sqlite3_cloudsync_init`; a
/// Swift program that links SQLite obtains the same table for its own library. Routing every
/// call through it is what lets one engine run inside hosts that carry their own SQLite copy.
public struct SQLiteAPI: @unchecked Sendable {
    // The table is static, immutable data owned by the SQLite library for the process lifetime.
    @usableFromInline let routines: UnsafePointer<sqlite3_api_routines>

    /// Wraps a routines table as passed to an extension entry point.
    public init(routines: UnsafeRawPointer) {
        self.routines = routines.assumingMemoryBound(to: sqlite3_api_routines.self)
    }

    // Addressing the table in place: `routines.pointee` through a getter would copy the whole
    // struct on every call.
    @inlinable var r: sqlite3_api_routines { unsafeAddress { routines } }

    /// The version number of the SQLite library behind the table (e.g. 3040001).
    public var libraryVersionNumber: Int32 { routines.pointee.libversion_number() }
}

/// SQLite's result codes the engine tests for (the C macros are not all importable as Int32).
enum ResultCode {
    static let ok = SQLITE_OK
    static let row = SQLITE_ROW
    static let done = SQLITE_DONE
    static let constraint = SQLITE_CONSTRAINT
}

extension SQLiteAPI {
    /// Memory from `sqlite3_malloc`, for strings the host will `sqlite3_free`.
    public func allocate(count: Int) -> UnsafeMutablePointer<CChar>? {
        r.malloc(Int32(count))?.assumingMemoryBound(to: CChar.self)
    }
}

extension SQLiteAPI {
    /// Opens (creating if needed) the database at `path` with this SQLite library. The caller
    /// closes it with `closeDatabase`.
    public func openDatabase(path: String) throws(CloudSyncError) -> OpaquePointer {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
        let rc = r.open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.flatMap { r.errmsg($0) }.map { String(cString: $0) } ?? "cannot open \(path)"
            if let handle { _ = r.close(handle) }
            throw CloudSyncError(.sqlite, message, resultCode: rc)
        }
        _ = r.busy_timeout(handle, 5000)
        return handle
    }

    /// Closes a database opened with `openDatabase`.
    @discardableResult
    public func closeDatabase(_ handle: OpaquePointer) -> Int32 {
        r.close(handle)
    }
}
