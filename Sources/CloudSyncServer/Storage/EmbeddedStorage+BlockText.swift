import CloudSyncCore

extension EmbeddedStorage {
    public func setBlockColumn(database name: String, table: String, column: String, delimiter: String) async throws {
        let database = try await managedDatabase(name)
        try await database.writer.runAsync { connection in
            try await Self.engineCall {
                try await Self.inWriteTransaction(connection) {
                    let context = try connection.engine
                    try context.setColumnSetting(table: table, column: column, "algo", .string("block"))
                    try context.setColumnSetting(table: table, column: column, "delimiter", .string(delimiter))
                }
            }
        }
    }

    public func blockColumns(database name: String) async throws -> [BlockColumnSetting] {
        let database = try await managedDatabase(name)
        return try await database.readers.run { connection in
            try Self.engineCall { try connection.engine.blockColumnSettings() }
        }.map { BlockColumnSetting(table: $0.table, column: $0.column, delimiter: $0.delimiter) }
    }
}
