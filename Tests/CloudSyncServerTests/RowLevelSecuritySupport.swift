import CloudSyncCore
import Foundation
import Testing

@testable import CloudSyncServer

/// The shared-database schema of the Row-Level Security tests: personal and project tasks,
/// project memberships, and a tenant column.
let rlsSchema = """
    CREATE TABLE tasks(id TEXT PRIMARY KEY NOT NULL, user_id TEXT, project_id TEXT, org_id TEXT, title TEXT NOT NULL DEFAULT '');
    CREATE TABLE members(project_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(project_id, user_id));
    """

/// A device of the RLS tests: `Device` with both tables synchronized, syncing straight
/// through a storage as a given principal (the HTTP layer is covered by the end-to-end tests).
final class RLSDevice: @unchecked Sendable {
    let device: Device
    var principal: Principal

    init(_ principal: Principal) throws {
        device = try Device(schema: rlsSchema, table: "tasks")
        _ = try device.context.initialize(table: "members")
        self.principal = principal
    }

    var site: SiteID { SiteID(bytes: device.site)! }

    func execute(_ sql: String) throws { try device.execute(sql) }

    /// Sends pending changes (advancing the send cursor, as clients do even for refused rows),
    /// then receives every page. Returns what the server refused.
    @discardableResult
    func sync(_ storage: EmbeddedStorage, _ database: String = "shared") async throws -> [DeniedRows] {
        var denied: [DeniedRows] = []
        if let upload = try device.pendingUpload() {
            denied = try await storage.merge(database: database, site: site, payload: upload.payload, as: principal).denied
            device.sendCursor = upload.last
        }
        try await receive(storage, database)
        return denied
    }

    func receive(_ storage: EmbeddedStorage, _ database: String = "shared") async throws {
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

func claims(_ user: String, attributes: String = "{}", database: String = "shared") -> Principal {
    .user(AccessClaims(userID: user, name: user.capitalized, attributesJSON: attributes, database: database, tokenID: UUID().uuidString))
}

/// A storage in a temporary directory with the `shared` database.
func withRLSStorage(_ body: (EmbeddedStorage) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-rls-tests-\(UUID().uuidString)")
    let storage = try EmbeddedStorage(directory: directory, logger: quietLogger)
    do {
        try await storage.createDatabase(name: "shared", schema: rlsSchema, tables: nil)
        try await body(storage)
    } catch {
        await storage.close()
        try? FileManager.default.removeItem(at: directory)
        throw error
    }
    await storage.close()
    try? FileManager.default.removeItem(at: directory)
}

/// Rows of the server's `tasks` table, as the administrator sees them.
func serverTasks(_ storage: EmbeddedStorage) throws -> [[SQLValue]] {
    let handle = try Device.api.openDatabase(path: storage.databasePath("shared"))
    defer { Device.api.closeDatabase(handle) }
    return try Connection(handle: handle, api: Device.api).rows("SELECT id, user_id, project_id, org_id, title FROM tasks ORDER BY id")
}
