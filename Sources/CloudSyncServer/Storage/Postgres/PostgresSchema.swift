import CloudSyncCore
import Foundation

/// The PostgreSQL form of a column's SQLite type (docs/postgres.md, "Types").
enum PostgresColumnType: String, Sendable, Equatable {
    case bigint = "BIGINT"
    case double = "DOUBLE PRECISION"
    case text = "TEXT"
    case bytea = "BYTEA"
    case numeric = "NUMERIC"

    /// The type for a column declared `declared` in SQLite, following SQLite's affinity
    /// rules, with two refinements for common declarations of NUMERIC affinity: booleans are
    /// stored by SQLite as integers, dates and times usually as text.
    init(declared: String) {
        let type = declared.uppercased()
        if type.contains("INT") { self = .bigint }
        else if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") { self = .text }
        else if type.contains("BLOB") || type.trimmingCharacters(in: .whitespaces).isEmpty { self = .bytea }
        else if type.contains("REAL") || type.contains("FLOA") || type.contains("DOUB") { self = .double }
        else if type.contains("BOOL") { self = .bigint }
        else if type.contains("DATE") || type.contains("TIME") { self = .text }
        else { self = .numeric }
    }
}

/// One column of a managed table on PostgreSQL.
struct PostgresColumn: Sendable, Equatable {
    var name: String
    var type: PostgresColumnType
    var notNull: Bool
    /// The PostgreSQL default expression, if the SQLite column has one.
    var defaultSQL: String?
}

/// A synchronized table as created on PostgreSQL.
struct PostgresTable: Sendable, Equatable {
    var name: String
    /// Key columns, in key order.
    var key: [PostgresColumn]
    /// Other columns, in declaration order.
    var columns: [PostgresColumn]

    var allColumns: [PostgresColumn] { key + columns }

    func column(_ name: String) -> PostgresColumn? {
        allColumns.first { $0.name == name }
    }
}

/// A managed database's schema: read from its SQLite `CREATE TABLE` statements with the sync
/// engine (which also gives the schema hash devices compute), translated to PostgreSQL.
struct PostgresSchema: Sendable, Equatable {
    var sqlite: String
    var tables: [PostgresTable]
    var schemaHash: UInt64
    /// The 1.x structural hash of the same tables, which version-2 payloads carry.
    var structuralHash: UInt64

    /// Reads `sqlite` (CREATE TABLE statements) and synchronizes `tables` (nil: all).
    /// Throws `.invalidSchema` for SQL errors, unknown tables, keys the engine refuses, and
    /// defaults PostgreSQL cannot express.
    init(sqlite: String, tables requested: [String]?) throws(SyncStorageError) {
        self.sqlite = sqlite
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: ":memory:", engine: true, setup: "")
        } catch {
            throw SyncStorageError(.failure, "cannot open a scratch database: \(error.message)")
        }
        defer { connection.close() }
        do {
            let created = try SchemaTables.create(sqlite, on: connection.connection)
            var chosen: [String] = []
            for table in requested ?? created {
                guard let match = created.first(where: { $0.lowercased() == table.lowercased() }) else {
                    throw SyncStorageError(.invalidSchema, "table \(table) is not created by the schema (it creates \(created.joined(separator: ", ")))")
                }
                if !chosen.contains(match) { chosen.append(match) }
            }
            let context = try connection.engine
            var result: [PostgresTable] = []
            for name in chosen {
                do {
                    try context.initialize(table: name)
                } catch {
                    throw SyncStorageError(.invalidSchema, "cannot synchronize table \(name): \(error.message)")
                }
                result.append(try Self.read(name, connection.connection))
            }
            self.tables = result
            self.schemaHash = try context.currentSchemaHash()
            self.structuralHash = try context.currentStructuralSchemaHash()
        } catch let error as SyncStorageError {
            throw error
        } catch {
            throw SyncStorageError(.invalidSchema, "\(error)")
        }
    }

    private static func read(_ table: String, _ connection: Connection) throws -> PostgresTable {
        var key: [(Int64, PostgresColumn)] = []
        var columns: [PostgresColumn] = []
        for row in try connection.rows("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)", [.string(table)]) {
            let name = row[0].stringValue ?? ""
            let type = PostgresColumnType(declared: row[1].stringValue ?? "")
            let position = row[4].integerValue ?? 0
            let defaultSQL = try row[3].stringValue.map { source in
                guard let translated = translateDefault(source, type: type) else {
                    throw SyncStorageError(.invalidSchema, "the default of \(table).\(name) (\(source)) cannot be used on PostgreSQL: use a literal")
                }
                return translated
            }
            let column = PostgresColumn(name: name, type: type, notNull: position > 0 || row[2].integerValue == 1, defaultSQL: defaultSQL)
            if position > 0 { key.append((position, column)) } else { columns.append(column) }
        }
        return PostgresTable(name: table, key: key.sorted { $0.0 < $1.0 }.map(\.1), columns: columns)
    }

    /// The PostgreSQL form of a SQLite default: literals only (numbers, strings, blobs,
    /// NULL, TRUE/FALSE, and the current time for text columns), and only those that give the
    /// value SQLite gives once the column's affinity is applied; nil for anything else.
    static func translateDefault(_ source: String, type: PostgresColumnType) -> String? {
        var text = source.trimmingCharacters(in: .whitespaces)
        while text.hasPrefix("("), text.hasSuffix(")") { text = String(text.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces) }
        let upper = text.uppercased()
        if upper == "NULL" { return "NULL" }
        if upper == "TRUE" || upper == "FALSE" { return type == .bytea ? nil : upper == "TRUE" ? "1" : "0" }
        if upper == "CURRENT_TIMESTAMP", type == .text { return "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')" }
        if upper == "CURRENT_DATE", type == .text { return "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')" }
        if isNumber(text) {
            switch type {
            case .bigint: return isIntegral(text) ? text : nil
            case .double, .numeric: return text
            // SQLite spells a real its own way in a TEXT column: integers only.
            case .text: return Int64(text) != nil ? text : nil
            case .bytea: return nil
            }
        }
        if text.hasPrefix("'"), text.hasSuffix("'"), text.count >= 2 {
            // A number in quotes becomes that number in a numeric column, as in SQLite;
            // other text cannot be held there, nor text in a BYTEA column.
            let content = String(text.dropFirst().dropLast())
            switch type {
            case .text: return text
            case .bigint: return isNumber(content) && isIntegral(content) ? text : nil
            case .double, .numeric: return isNumber(content) ? text : nil
            case .bytea: return nil
            }
        }
        if type == .bytea, text.hasPrefix("X'") || text.hasPrefix("x'"), text.hasSuffix("'"), Hex.decode(text.dropFirst(2).dropLast()) != nil {
            return "'\\x\(text.dropFirst(2).dropLast())'::bytea"
        }
        return nil
    }

    private static func isNumber(_ text: String) -> Bool {
        guard let value = Double(text), value.isFinite else { return false }
        return text.allSatisfy { $0.isNumber || "+-.eE".contains($0) }
    }

    /// An integral number in BIGINT's range (SQLite's INTEGER affinity keeps other reals).
    private static func isIntegral(_ text: String) -> Bool {
        guard let value = Double(text) else { return false }
        return Int64(text) != nil || (value.rounded() == value && abs(value) < 9.2e18)
    }
}
