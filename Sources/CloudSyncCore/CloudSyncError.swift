/// An error raised by the sync engine: a machine-readable code and a message meant for people.
///
/// Every failure the engine reports, whether from bad input, misuse or SQLite itself, is a
/// `CloudSyncError`. The message names the problem and, where there is one, the fix.
public struct CloudSyncError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The category of an error.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code as written in messages and by the C extension (`malformed_payload`).
        public var rawValue: String
        /// A code by name; the static members are the ones the engine raises.
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A payload that is not a valid v1 payload (truncated, corrupt, wrong signature...).
        public static let malformedPayload = Code(rawValue: "malformed_payload")
        /// A payload written against a schema this database never had.
        public static let schemaMismatch = Code(rawValue: "schema_mismatch")
        /// A payload or expanded body larger than the configured limit.
        public static let tooLarge = Code(rawValue: "too_large")
        /// A table that does not exist or is not synchronized.
        public static let unknownTable = Code(rawValue: "unknown_table")
        /// A column that the table does not have.
        public static let unknownColumn = Code(rawValue: "unknown_column")
        /// A table whose schema cannot be synchronized as it is.
        public static let unsupportedSchema = Code(rawValue: "unsupported_schema")
        /// A function called with wrong arguments or in the wrong state.
        public static let misuse = Code(rawValue: "misuse")
        /// An error reported by SQLite; `resultCode` carries its result code.
        public static let sqlite = Code(rawValue: "sqlite")
        /// A network or server failure.
        public static let network = Code(rawValue: "network")
        /// Changes the server's Row-Level Security refused (they were not applied there).
        public static let denied = Code(rawValue: "denied")
    }

    /// What kind of failure this is: match on it, not on `message`.
    public var code: Code
    /// A sentence for people, naming what is wrong and, where it helps, what to do.
    public var message: String
    /// The SQLite result code, for `.sqlite` errors.
    public var resultCode: Int32?
    /// The SQL that failed, when there is one.
    public var sql: String?
    /// The HTTP status the server answered, for `.network` errors that got an answer.
    public var httpStatus: Int?

    /// An error of kind `code`; the optional fields say where it came from.
    public init(_ code: Code, _ message: String, resultCode: Int32? = nil, sql: String? = nil, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.resultCode = resultCode
        self.sql = sql
        self.httpStatus = httpStatus
    }

    public var description: String {
        var text = message
        if let sql { text += " (SQL: \(sql))" }
        return text
    }
}
