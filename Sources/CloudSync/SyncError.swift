import CloudSyncCore
import GRDB

/// An error raised by the CloudSync Swift API: a machine-readable ``code`` and a ``message``
/// meant for people.
///
/// Every failure of the API, whether from bad input, the engine, the database or the network,
/// arrives as a `SyncError`; nothing traps on bad input.
///
/// ```swift
/// do {
///     try await client.sync()
/// } catch where error.code == .unauthorized {
///     // ask the user to sign in again
/// } catch {
///     print(error.message)
/// }
/// ```
public struct SyncError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The category of an error.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// An API called with wrong arguments or in the wrong state.
        public static let misuse = Code(rawValue: "misuse")
        /// The server could not be reached, or answered with an error other than the ones below.
        public static let network = Code(rawValue: "network")
        /// The server refused the credential (HTTP 401 or 403), after a token refresh if one
        /// was possible.
        public static let unauthorized = Code(rawValue: "unauthorized")
        /// A payload that is not a valid payload.
        public static let malformedPayload = Code(rawValue: "malformed_payload")
        /// A payload made against a schema this database never had.
        public static let schemaMismatch = Code(rawValue: "schema_mismatch")
        /// A payload larger than the configured limits.
        public static let tooLarge = Code(rawValue: "too_large")
        /// A table that does not exist or is not synchronized.
        public static let unknownTable = Code(rawValue: "unknown_table")
        /// A column that the table does not have.
        public static let unknownColumn = Code(rawValue: "unknown_column")
        /// A table whose schema cannot be synchronized as it is.
        public static let unsupportedSchema = Code(rawValue: "unsupported_schema")
        /// An error reported by SQLite (through the engine or GRDB); ``SyncError/resultCode``
        /// carries its result code.
        public static let database = Code(rawValue: "database")
        /// The operation was cancelled (its task was cancelled, or the client stopped).
        public static let cancelled = Code(rawValue: "cancelled")
    }

    /// What kind of error this is.
    public var code: Code
    /// What went wrong, and where there is one, the fix.
    public var message: String
    /// The HTTP status the server answered, for errors that got an answer.
    public var httpStatus: Int?
    /// The SQLite result code, for ``Code/database`` errors.
    public var resultCode: Int32?

    public init(_ code: Code, _ message: String, httpStatus: Int? = nil, resultCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.resultCode = resultCode
    }

    public var description: String { "\(code): \(message)" }

    /// Whether retrying later may succeed (the server was unreachable or failed): what the
    /// background mode backs off on.
    public var isTransient: Bool {
        switch code {
        case .network: httpStatus.map { $0 >= 500 || $0 == 408 || $0 == 429 } ?? true
        default: false
        }
    }
}

extension SyncError {
    /// Maps an error of the engine.
    init(_ error: CloudSyncError) {
        let code: Code = switch error.code {
        case .malformedPayload: .malformedPayload
        case .schemaMismatch: .schemaMismatch
        case .tooLarge: .tooLarge
        case .unknownTable: .unknownTable
        case .unknownColumn: .unknownColumn
        case .unsupportedSchema: .unsupportedSchema
        case .sqlite: .database
        case .network where error.httpStatus == 401 || error.httpStatus == 403: .unauthorized
        case .network: .network
        default: .misuse
        }
        self.init(code, error.message, httpStatus: error.httpStatus, resultCode: error.resultCode)
    }

    /// Maps any error thrown inside the API (engine, GRDB, cancellation).
    static func wrapping(_ error: any Error) -> SyncError {
        switch error {
        case let error as SyncError: error
        case let error as CloudSyncError: SyncError(error)
        case let error as DatabaseError:
            SyncError(.database, error.message ?? "\(error)", resultCode: error.extendedResultCode.rawValue)
        case is CancellationError: SyncError(.cancelled, "the sync was cancelled")
        default: SyncError(.misuse, "\(error)")
        }
    }
}

/// Runs `body`, turning whatever it throws into a ``SyncError``.
@inline(__always)
func mappingErrors<T>(_ body: () throws -> T) throws(SyncError) -> T {
    do { return try body() } catch { throw SyncError.wrapping(error) }
}

@inline(__always)
func mappingErrors<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws(SyncError) -> T {
    do { return try await body() } catch { throw SyncError.wrapping(error) }
}
