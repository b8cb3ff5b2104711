import CloudSync
import Foundation
import GRDB

/// The todo table. The server database is created with the same statement
/// (`cloudsync-example schema`): payloads carry a hash of the synchronized tables' schema.
/// `notes` merges line by line (block mode), on the devices and, with `cloudsync-server column
/// set --table todo --column notes --algo block`, on the server.
let todoSchema = "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, notes TEXT NOT NULL DEFAULT '');"

struct Todo: Codable, FetchableRecord, PersistableRecord, Equatable, Sendable {
    var id: String
    var title: String
    var done: Bool
    /// Free text whose lines merge one by one: two devices editing different lines both keep
    /// their edit.
    var notes: String = ""
}

/// A local todo database: GRDB, with the sync engine on every connection and the todo table
/// synchronized by the app's first migration.
struct TodoStore: Sendable {
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the database at `path`; a pool lets readers (the `watch`
    /// observer) run alongside writes.
    init(path: String, pool: Bool = false) throws {
        var config = Configuration()
        config.enableCloudSync()
        writer = pool ? try DatabasePool(path: path, configuration: config) : try DatabaseQueue(path: path, configuration: config)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("create todo") { db in
            try db.execute(sql: todoSchema)
            try db.enableSync(table: "todo", blockText: [.lines("notes")])
        }
        try migrator.migrate(writer)
    }

    @discardableResult
    func add(_ title: String, notes: String = "") async throws -> Todo {
        try await writer.write { db in
            // cloudsync_uuid(): a UUIDv7, unique across devices.
            let id = try String.fetchOne(db, sql: "SELECT cloudsync_uuid()") ?? UUID().uuidString.lowercased()
            let todo = Todo(id: id, title: title, done: false, notes: notes)
            try todo.insert(db)
            return todo
        }
    }

    /// Marks the todo whose id is `id`, or starts with it, done.
    func markDone(_ id: String) async throws -> Todo? {
        try await update(id) { $0.done = true }
    }

    /// Changes the todo whose id is `id`, or starts with it; nil when no single todo matches.
    func update(_ id: String, _ change: @escaping @Sendable (inout Todo) throws -> Void) async throws -> Todo? {
        try await writer.write { db in
            let matches = try Todo.filter(sql: "id = ? OR id LIKE ? || '%'", arguments: [id, id]).fetchAll(db)
            guard matches.count == 1, var todo = matches.first else { return nil }
            try change(&todo)
            try todo.update(db)
            return todo
        }
    }

    func rename(_ id: String, to title: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE todo SET title = ? WHERE id = ?", arguments: [title, id])
        }
    }

    func delete(_ id: String) async throws {
        _ = try await writer.write { db in try Todo.deleteOne(db, key: id) }
    }

    func all() async throws -> [Todo] {
        try await writer.read { db in try Todo.order(Column("title"), Column("id")).fetchAll(db) }
    }
}

func format(_ todos: [Todo]) -> String {
    if todos.isEmpty { return "  (no todos)" }
    return todos.map { todo in
        let line = "  [\(todo.done ? "x" : " ")] \(todo.title)  (\(todo.id))"
        guard !todo.notes.isEmpty else { return line }
        return line + "\n" + todo.notes.split(separator: "\n", omittingEmptySubsequences: false).map { "      | \($0)" }.joined(separator: "\n")
    }.joined(separator: "\n")
}

/// `notes` with line `line` (1-based) replaced by `text`, or appended when `line` is one past
/// the last; nil for a line number out of range.
func replacingLine(_ line: Int, of notes: String, with text: String) -> String? {
    var lines = notes.isEmpty ? [] : notes.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard line >= 1, line <= lines.count + 1 else { return nil }
    if line == lines.count + 1 { lines.append(text) } else { lines[line - 1] = text }
    return lines.joined(separator: "\n")
}
