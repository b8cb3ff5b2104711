import CSQLiteExtension
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The arguments of one SQL function call, read in place.
///
/// Valid only during the call that received them.
public struct SQLArguments {
    let api: SQLiteAPI
    let values: UnsafeMutablePointer<OpaquePointer?>?
    /// The number of arguments.
    public let count: Int

    /// The arguments SQLite passed to a function implementation.
    public init(api: SQLiteAPI, count: Int32, values: UnsafeMutablePointer<OpaquePointer?>?) {
        self.api = api
        self.count = Int(count)
        self.values = values
    }

    @inline(__always)
    func raw(_ index: Int) -> OpaquePointer? { values?[index] }

    @inline(__always)
    func type(_ index: Int) -> Int32 { api.r.value_type(raw(index)) }

    /// Argument `index` (from 0) as a value.
    public func value(_ index: Int) -> SQLValue {
        let value = raw(index)
        switch api.r.value_type(value) {
        case SQLITE_INTEGER: return .integer(api.r.value_int64(value))
        case SQLITE_FLOAT: return .real(api.r.value_double(value))
        case SQLITE_TEXT:
            let pointer = api.r.value_text(value)
            return .text(Statement.bytes(pointer.map(UnsafeRawPointer.init), Int(api.r.value_bytes(value))))
        case SQLITE_BLOB:
            let pointer = api.r.value_blob(value)
            return .blob(Statement.bytes(pointer, Int(api.r.value_bytes(value))))
        default: return .null
        }
    }

    /// Argument `index` as text, nil when it is NULL.
    public func string(_ index: Int) -> String? {
        let value = raw(index)
        guard api.r.value_type(value) != SQLITE_NULL, let pointer = api.r.value_text(value) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(api.r.value_bytes(value))), as: UTF8.self)
    }

    /// The argument as TEXT, or a misuse error naming `parameter`.
    public func requireString(_ index: Int, _ parameter: String, of function: String) throws(CloudSyncError) -> String {
        guard index < count, type(index) == SQLITE_TEXT, let text = string(index) else {
            throw CloudSyncError(.misuse, "\(function): \(parameter) must be TEXT")
        }
        return text
    }

    /// The bytes of a TEXT or BLOB argument, without copying; valid during the call.
    @inline(__always)
    func bytes(_ index: Int) -> UnsafeRawBufferPointer {
        let value = raw(index)
        let pointer: UnsafeRawPointer? = api.r.value_type(value) == SQLITE_TEXT
            ? api.r.value_text(value).map(UnsafeRawPointer.init)
            : api.r.value_blob(value)
        return UnsafeRawBufferPointer(start: pointer, count: Int(api.r.value_bytes(value)))
    }

    /// Appends argument `index` to `writer` in the wire encoding.
    @inline(__always)
    func encode(_ index: Int, into writer: inout ByteWriter) {
        let value = raw(index)
        switch api.r.value_type(value) {
        case SQLITE_INTEGER: writer.appendInteger(api.r.value_int64(value))
        case SQLITE_FLOAT: writer.appendReal(api.r.value_double(value))
        case SQLITE_TEXT: writer.appendText(bytes(index))
        case SQLITE_BLOB: writer.appendBlob(bytes(index))
        default: writer.appendNull()
        }
    }

    /// The primary-key blob of arguments `range`.
    func encodeKey(_ range: Range<Int>) -> [UInt8] {
        var writer = ByteWriter(capacity: 32)
        writer.bytes.append(UInt8(truncatingIfNeeded: range.count))
        for index in range { encode(index, into: &writer) }
        return writer.bytes
    }

    /// Whether arguments `a` and `b` hold the same value: same storage class, same bits.
    @inline(__always)
    func same(_ a: Int, _ b: Int) -> Bool {
        let (x, y) = (raw(a), raw(b))
        let type = api.r.value_type(x)
        guard type == api.r.value_type(y) else { return false }
        switch type {
        case SQLITE_INTEGER: return api.r.value_int64(x) == api.r.value_int64(y)
        case SQLITE_FLOAT: return api.r.value_double(x).bitPattern == api.r.value_double(y).bitPattern
        case SQLITE_NULL: return true
        default:
            let (left, right) = (bytes(a), bytes(b))
            return left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
        }
    }
}
