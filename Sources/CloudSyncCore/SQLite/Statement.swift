import CSQLiteExtension

/// A prepared statement, finalized when released.
///
/// Not `Sendable`: bound to the connection that prepared it.
public final class Statement {
    let handle: OpaquePointer
    unowned let connection: Connection
    let sql: String
    private let api: SQLiteAPI

    init(handle: OpaquePointer, connection: Connection, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
        self.api = connection.api
    }

    deinit { _ = api.r.finalize(handle) }

    // MARK: Binding

    /// Clears bindings and resets, ready for a new execution.
    @inline(__always)
    public func reset() {
        _ = api.r.reset(handle)
        _ = api.r.clear_bindings(handle)
    }

    /// Binds `values` to consecutive parameters starting at `first`.
    public func bind(_ values: [SQLValue], from first: Int32 = 1) throws(CloudSyncError) {
        for (offset, value) in values.enumerated() {
            try bind(value, at: first + Int32(offset))
        }
    }

    /// Binds one value to parameter `index` (from 1).
    public func bind(_ value: SQLValue, at index: Int32) throws(CloudSyncError) {
        let rc: Int32
        switch value {
        case .null: rc = api.r.bind_null(handle, index)
        case .integer(let v): rc = api.r.bind_int64(handle, index, v)
        case .real(let v): rc = api.r.bind_double(handle, index, v)
        case .text(let bytes): rc = bindText(bytes, at: index)
        case .blob(let bytes): rc = bindBlob(bytes, at: index)
        }
        try check(rc)
    }

    @inline(__always)
    /// Binds an integer without boxing it in a `SQLValue` (hot paths).
    public func bind(_ value: Int64, at index: Int32) {
        _ = api.r.bind_int64(handle, index, value)
    }

    @inline(__always)
    /// Binds text without boxing it in a `SQLValue` (hot paths).
    public func bind(_ value: String, at index: Int32) {
        _ = api.r.bind_text(handle, index, value, -1, cloudsync_transient())
    }

    @inline(__always)
    /// Binds a blob; returns SQLite's result code.
    public func bindBlob(_ bytes: [UInt8], at index: Int32) -> Int32 {
        bytes.withUnsafeBytes { buffer in
            // A zero-length blob must still be a BLOB, not NULL: pass a non-null pointer.
            api.r.bind_blob(handle, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count), cloudsync_transient())
        }
    }

    @inline(__always)
    func bindText(_ bytes: [UInt8], at index: Int32) -> Int32 {
        Self.withText(bytes) { api.r.bind_text(handle, index, $0, $1, cloudsync_transient()) }
    }

    /// Binds a function argument or column value without converting it.
    @inline(__always)
    public func bind(rawValue: OpaquePointer?, at index: Int32) {
        _ = api.r.bind_value(handle, index, rawValue)
    }

    // MARK: Stepping

    /// Advances to the next row; false when done. Throws on error (the statement is reset).
    @discardableResult @inline(__always)
    public func step() throws(CloudSyncError) -> Bool {
        let rc = api.r.step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let error = CloudSyncError(.sqlite, connection.lastErrorMessage, resultCode: rc, sql: sql)
        _ = api.r.reset(handle)
        throw error
    }

    /// Runs to completion and resets.
    @inline(__always)
    public func run() throws(CloudSyncError) {
        defer { reset() }
        while try step() {}
    }

    // MARK: Reading

    /// Columns in the result.
    public var columnCount: Int32 { api.r.column_count(handle) }

    @inline(__always)
    /// Column `index` (from 0) of the current row as an integer.
    public func int64(at index: Int32) -> Int64 { api.r.column_int64(handle, index) }

    @inline(__always)
    /// Whether column `index` of the current row is NULL.
    public func isNull(at index: Int32) -> Bool { api.r.column_type(handle, index) == SQLITE_NULL }

    /// Column `index` of the current row as a value.
    public func value(at index: Int32) -> SQLValue {
        switch api.r.column_type(handle, index) {
        case SQLITE_INTEGER: return .integer(api.r.column_int64(handle, index))
        case SQLITE_FLOAT: return .real(api.r.column_double(handle, index))
        case SQLITE_TEXT:
            let pointer = api.r.column_text(handle, index)
            let count = Int(api.r.column_bytes(handle, index))
            return .text(Self.bytes(pointer.map(UnsafeRawPointer.init), count))
        case SQLITE_BLOB:
            let pointer = api.r.column_blob(handle, index)
            let count = Int(api.r.column_bytes(handle, index))
            return .blob(Self.bytes(pointer, count))
        default: return .null
        }
    }

    /// Column `index` of the current row as text, nil when it is NULL.
    public func string(at index: Int32) -> String? {
        guard let pointer = api.r.column_text(handle, index) else { return nil }
        let count = Int(api.r.column_bytes(handle, index))
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// Column `index` of the current row as bytes.
    public func blob(at index: Int32) -> [UInt8] {
        let pointer = api.r.column_blob(handle, index)
        return Self.bytes(pointer, Int(api.r.column_bytes(handle, index)))
    }

    /// The raw column value, valid until the next step or reset.
    @inline(__always)
    public func rawValue(at index: Int32) -> OpaquePointer? { api.r.column_value(handle, index) }

    /// Calls `body` with a C pointer to `bytes` (never null, even when empty) and its length.
    static func withText<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>, Int32) -> T) -> T {
        if bytes.isEmpty { return "".withCString { body($0, 0) } }
        return bytes.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: CChar.self), Int32($0.count)) }
    }

    static func bytes(_ pointer: UnsafeRawPointer?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private func check(_ rc: Int32) throws(CloudSyncError) {
        if rc != SQLITE_OK {
            throw CloudSyncError(.sqlite, connection.lastErrorMessage, resultCode: rc, sql: sql)
        }
    }
}

extension Statement {
    /// Appends column `index` of the current row to `writer` in the wire encoding.
    @inline(__always)
    func encodeColumn(_ index: Int32, into writer: inout ByteWriter) {
        let r = connection.api.routines
        switch r.pointee.column_type(handle, index) {
        case SQLITE_INTEGER: writer.appendInteger(r.pointee.column_int64(handle, index))
        case SQLITE_FLOAT: writer.appendReal(r.pointee.column_double(handle, index))
        case SQLITE_TEXT:
            let pointer = r.pointee.column_text(handle, index)
            writer.appendText(UnsafeRawBufferPointer(start: pointer, count: Int(r.pointee.column_bytes(handle, index))))
        case SQLITE_BLOB:
            let pointer = r.pointee.column_blob(handle, index)
            writer.appendBlob(UnsafeRawBufferPointer(start: pointer, count: Int(r.pointee.column_bytes(handle, index))))
        default: writer.appendNull()
        }
    }
}
