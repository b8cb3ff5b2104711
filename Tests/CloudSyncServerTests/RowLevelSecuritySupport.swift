import CloudSyncCore
import Foundation
import Testing

@testable import CloudSyncServer

/// The shared-database schema of the Row-Level Security tests: personal and project tasks,
/// project memberships, and a tenant column.
let rlsSchema = """
    CREATE TABLE tasks(id TEXT PRIMARY KEY NOT NULL, user_id TEXT, project_id TEXT, org_id TEXT, title TEXT NOT NULL DEFAULT '');
    CREATE TABLE members(project_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(project_id, user_id));
    CREATE TABLE ledger(id TEXT PRIMARY KEY NOT NULL, owner INTEGER, amount REAL);
    """

/// A device of the RLS tests: `Device` with both tables synchronized, syncing straight
/// through a storage of either backend as a given principal (the HTTP layer is covered by the
/// end-to-end tests).
final class RLSDevice: @unchecked Sendable {
    let device: Device
    var principal: Principal

    init(_ principal: Principal) throws {
        device = try Device(schema: rlsSchema, table: "tasks")
        _ = try device.context.initialize(table: "members")
        _ = try device.context.initialize(table: "ledger")
        self.principal = principal
    }

    /// A device of another schema, with `table` synchronized.
    init(_ principal: Principal, schema: String, table: String) throws {
        device = try Device(schema: schema, table: table)
        self.principal = principal
    }

    var site: SiteID { SiteID(bytes: device.site)! }

    func execute(_ sql: String) throws { try device.execute(sql) }

    /// Sends pending changes (advancing the send cursor, as clients do even for refused rows),
    /// then receives every page. Returns what the server refused.
    @discardableResult
    func sync(_ storage: any SyncStorage, _ database: String = "shared") async throws -> [DeniedRows] {
        var denied: [DeniedRows] = []
        if let upload = try device.pendingUpload() {
            denied = try await storage.merge(database: database, site: site, payload: upload.payload, as: principal).denied
            device.sendCursor = upload.last
        }
        try await receive(storage, database)
        return denied
    }

    func receive(_ storage: any SyncStorage, _ database: String = "shared") async throws {
        for _ in 0..<1000 {
            guard let page = try await storage.changes(database: database, excludingSite: site, after: device.checkCursor, limit: 50, as: principal) else { return }
            let report = try device.context.applyPayload(page.payload)
            #expect(SyncCursor(dbVersion: report.lastDbVersion, seq: report.lastSeq) == page.last)
            device.checkCursor = page.last
        }
        throw TestFailure("more than 1000 pages")
    }

    func tasks() throws -> [[SQLValue]] {
        try device.context.connection.rows("SELECT id, user_id, project_id, org_id, title FROM tasks ORDER BY id")
    }

    func taskIDs() throws -> [String] {
        try tasks().map { $0[0].stringValue ?? "" }
    }
}

extension StorageBackend {
    /// `embedded` on the embedded storage, `postgres` on PostgreSQL: policy expressions are
    /// written in the backend's SQL, and its own error messages name what is wrong with them.
    func pick<Value>(embedded: Value, postgres: Value) -> Value {
        switch self {
        case .embedded: embedded
        case .postgres: postgres
        }
    }
}

func claims(_ user: String, attributes: String = "{}", database: String = "shared") -> Principal {
    .user(AccessClaims(userID: user, name: user.capitalized, attributesJSON: attributes, database: database, tokenID: UUID().uuidString))
}

/// An empty storage of `backend` with the `shared` database (`rlsSchema`), destroyed afterwards.
func withRLSStorage(_ backend: StorageBackend, _ body: (TestStorage) async throws -> Void) async throws {
    try await withStorage(backend) { data in
        try await data.storage.createDatabase(name: "shared", schema: rlsSchema, tables: nil)
        try await body(data)
    }
}

/// Rows of the server's `tasks` table, as the administrator sees them, read outside the
/// storage (the database file, or the PostgreSQL schema), ordered by id as `RLSDevice.tasks()`
/// orders them (sorted here by the id's bytes, the order of SQLite's BINARY collation,
/// whatever PostgreSQL's collation).
func serverTasks(_ data: TestStorage) async throws -> [[SQLValue]] {
    let rows = try await data.query("SELECT id, user_id, project_id, org_id, title FROM tasks", database: "shared")
    return rows.sorted { idBytes($0).lexicographicallyPrecedes(idBytes($1)) }
}

private func idBytes(_ row: [SQLValue]) -> [UInt8] {
    if case .text(let bytes) = row[0] { return bytes }
    return []
}
