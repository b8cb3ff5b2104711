import CloudSyncCore
import PostgresNIO

extension PostgresTable {
    /// `(…), (…)`: one tuple of placeholders per key, its values appended to `binds`.
    func keyValues(_ keys: [[SQLValue]], into binds: inout PostgresBindings) throws -> String {
        var tuples: [String] = []
        for values in keys {
            guard values.count == key.count else {
                throw SyncStorageError(.badPayload, "a key of table \(name) has \(values.count) values instead of \(key.count)")
            }
            var marks: [String] = []
            for (index, column) in key.enumerated() {
                try PostgresValues.bind(values[index], as: column.type, column: "\(name).\(column.name)", into: &binds)
                marks.append(PostgresValues.placeholder(binds.count, column.type))
            }
            tuples.append("(" + marks.joined(separator: ", ") + ")")
        }
        return tuples.joined(separator: ", ")
    }
}
