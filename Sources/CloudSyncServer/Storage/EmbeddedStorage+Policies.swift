import CloudSyncCore
import Logging

/// Row-Level Security policies, stored inside each managed database (`PolicyStore`).
extension EmbeddedStorage {
    public func setPolicy(_ policy: TablePolicy, database name: String) async throws {
        let database = try await managedDatabase(name)
        let stored = try await database.writer.runAsync { connection in
            try await Self.engineCall {
                try await Self.inWriteTransaction(connection) {
                    try PolicyStore.set(policy, context: try connection.engine)
                }
            }
        }
        AuditLog(logger: logger).setPolicy(database: name, table: stored.table)
    }

    public func policies(database name: String, table: String?) async throws -> [TablePolicy] {
        let database = try await managedDatabase(name)
        return try await database.readers.run { connection in
            try Self.engineCall { () throws -> [TablePolicy] in
                guard try PolicyStore.hasPolicies(connection.connection) else { return [] }
                return try PolicyStore.load(connection.connection)
                    .filter { $0.enabled && $0.policy.isShown(for: table) }
                    .map(\.policy)
            }
        }
    }

    public func disablePolicy(database name: String, table: String) async throws {
        let database = try await managedDatabase(name)
        try await database.writer.runAsync { connection in
            try await Self.engineCall {
                try await Self.inWriteTransaction(connection) {
                    try PolicyStore.disable(table: table, context: try connection.engine)
                }
            }
        }
        AuditLog(logger: logger).disabledPolicy(database: name, table: table)
    }
}
