import CloudSyncCore
import Foundation
import NIOCore
import PostgresNIO

/// Conversions between the engine's values and PostgreSQL columns (docs/postgres.md, "Types").
enum PostgresValues {
    /// Appends `value` as a parameter for a column of `type`. A value whose storage class
    /// the column cannot hold is refused: converting it would hand devices a different value
    /// from the one they sent.
    static func bind(_ value: SQLValue, as type: PostgresColumnType, column: String, into binds: inout PostgresBindings) throws(SyncStorageError) {
        func refuse() -> SyncStorageError {
            SyncStorageError(.badPayload, "column \(column) is \(type.rawValue) on this server and cannot hold \(describe(value))")
        }
        switch (value, type) {
        case (.null, _):
            binds.appendNull()
        case (.integer(let v), .bigint):
            binds.append(v)
        case (.real(let v), .bigint) where v.rounded() == v && abs(v) < 9.2e18:
            binds.append(Int64(v))
        case (.real(let v), .double):
            binds.append(v)
        case (.integer(let v), .double):
            binds.append(Double(v))
        case (.text(let utf8), .text):
            guard let string = String(validUTF8: utf8), !utf8.contains(0) else { throw refuse() }
            binds.append(string)
        case (.blob(let bytes), .bytea):
            binds.append(ByteBuffer(bytes: bytes))
        case (.integer(let v), .numeric):
            binds.append(String(v))
        case (.real(let v), .numeric):
            binds.append(v.isNaN ? "NaN" : v.isInfinite ? (v > 0 ? "Infinity" : "-Infinity") : "\(v)")
        default:
            throw refuse()
        }
    }

    /// A parameter placeholder for a column of `type`.
    static func placeholder(_ index: Int, _ type: PostgresColumnType) -> String {
        type == .numeric ? "$\(index)::numeric" : "$\(index)"
    }

    /// The expression selecting `expression` (a column of `type`) so that `value(_:type:)`
    /// can read it.
    static func select(_ expression: String, _ type: PostgresColumnType) -> String {
        type == .numeric ? "(\(expression))::text" : expression
    }

    /// The engine value of a cell selected with `select(_:_:)`.
    static func value(_ cell: PostgresCell, _ type: PostgresColumnType) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch type {
        case .bigint: return .integer(try cell.decode(Int64.self))
        case .double: return .real(try cell.decode(Double.self))
        case .text: return .string(try cell.decode(String.self))
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        case .numeric:
            let text = try cell.decode(String.self)
            if let integer = Int64(text) { return .integer(integer) }
            if text.contains("."), let integral = Int64(text.split(separator: ".")[0]), text.split(separator: ".").dropFirst().allSatisfy({ $0.allSatisfy { $0 == "0" } }) {
                return .integer(integral)
            }
            return .real(Double(text) ?? .nan)
        }
    }

    static func describe(_ value: SQLValue) -> String {
        switch value {
        case .null: "NULL"
        case .integer: "an integer"
        case .real: "a real number"
        case .text: "text"
        case .blob: "a blob"
        }
    }

}
