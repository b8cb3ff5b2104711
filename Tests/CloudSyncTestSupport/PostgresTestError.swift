/// Why a PostgreSQL test cluster or database is not available.
public struct PostgresTestError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
