import Synchronization

/// Connections of a storage's pool in use right now, against its maximum.
public struct ConnectionPoolUse: Sendable, Equatable {
    public var inUse: Int
    public var maximum: Int
}

/// A storage with a connection pool (PostgreSQL), sampled by `GET /metrics`.
public protocol ReportsConnectionPool: Sendable {
    var connectionPoolUse: ConnectionPoolUse { get }
}

/// Counts the leases a storage holds on its pool: postgres-nio does not publish its pool's
/// state, so the storage counts around each of its (two) ways into the pool.
final class PoolLeases: Sendable {
    let maximum: Int
    private let inUse = Atomic<Int>(0)

    init(maximum: Int) {
        self.maximum = maximum
    }

    var use: ConnectionPoolUse { ConnectionPoolUse(inUse: inUse.load(ordering: .relaxed), maximum: maximum) }

    func during<T>(_ body: () async throws -> T) async rethrows -> T {
        inUse.add(1, ordering: .relaxed)
        defer { inUse.subtract(1, ordering: .relaxed) }
        return try await body()
    }
}
