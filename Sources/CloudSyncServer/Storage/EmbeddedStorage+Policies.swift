import CloudSyncCore
import Logging

/// Row-Level Security policies, stored inside each managed database (`PolicyStore`).
extension EmbeddedStorage {
    public func setPolicy(_ policy: TablePolicy, database name: String) async throws {
        let database = try await managedDatabase(name)
        let stored = try await database.writer.run { connection in
            try Self.engineCall {
                try Self.inWriteTransaction(connection) {
                    try PolicyStore.set(policy, context: try connection.engine)
                }
            }
        }
        logger.info("set row-level security policy", metadata: ["database": "\(name)", "table": "\(stored.table)"])
    }

    public func policies(database name: String, table: String?) async throws -> [TablePolicy] {
        let database = try await managedDatabase(name)
        return try await database.readers.run { connection in
            try Self.engineCall { () throws -> [TablePolicy] in
                guard try PolicyStore.hasPolicies(connection.connection) else { return [] }
                return try PolicyStore.load(connection.connection)
                    .filter { $0.enabled && (table == nil || $0.policy.table.lowercased() == table!.lowercased()) }
                    .map(\.policy)
            }
        }
    }

    public func disablePolicy(database name: String, table: String) async throws {
        let database = try await managedDatabase(name)
        try await database.writer.run { connection in
            try Self.engineCall {
                try Self.inWriteTransaction(connection) {
                    try PolicyStore.disable(table: table, context: try connection.engine)
                }
            }
        }
        logger.info("disabled row-level security policy", metadata: ["database": "\(name)", "table": "\(table)"])
    }
}
