import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import CloudSyncServer

@Suite("Database names")
struct DatabaseNameTests {
    @Test("valid names", arguments: ["todo.sqlite", "a", "_x", "0", "A-b_c.d", "x..y", String(repeating: "n", count: 64)])
    func valid(name: String) {
        #expect(DatabaseName.isValid(name))
    }

    @Test("invalid names", arguments: ["", "../x", "..", ".", ".hidden", "-x", "a/b", "a\\b", "a b", "é", "x%2F", "todo.sqlite\0", String(repeating: "n", count: 65)])
    func invalid(name: String) {
        #expect(!DatabaseName.isValid(name))
        #expect(throws: SyncStorageError.self) { try DatabaseName.validate(name) }
    }
}

/// The storage protocol, on every backend.
@Suite("Storage")
struct StorageTests {
    static let twoTables = todoSchema + "; CREATE TABLE note(id TEXT PRIMARY KEY NOT NULL, body TEXT);"

    @Test("create, list, refuse duplicates, bad names and bad schemas", arguments: StorageBackend.allCases)
    func databases(backend: StorageBackend) async throws {
        try await withStorage(backend) { data in
            let storage = data.storage
            let synced = try await storage.createDatabase(name: "b.sqlite", schema: Self.twoTables, tables: nil)
            #expect(synced == ["note", "todo"])
            #expect(try await storage.createDatabase(name: "a.sqlite", schema: Self.twoTables, tables: ["TODO"]) == ["todo"])
            #expect(try await storage.listDatabases() == ["a.sqlite", "b.sqlite"])
            #expect(try await storage.databaseExists("a.sqlite"))
            #expect(try await !storage.databaseExists("c"))
            #expect(try await !storage.databaseExists("../x"))

            await #expect(throws: SyncStorageError(.databaseExists, "database a.sqlite already exists")) {
                try await storage.createDatabase(name: "a.sqlite", schema: todoSchema, tables: nil)
            }
            for bad in ["../x", "a/b", ""] {
                let error = await #expect(throws: SyncStorageError.self) {
                    try await storage.createDatabase(name: bad, schema: todoSchema, tables: nil)
                }
                #expect(error?.kind == .invalidName)
            }
            for (schema, tables) in [(todoSchema, ["nope"]), ("CREATE TABLE (", nil), ("CREATE INDEX", nil), ("", nil), (todoSchema, [])] as [(String, [String]?)] {
                let error = await #expect(throws: SyncStorageError.self, "schema '\(schema)' tables \(String(describing: tables))") {
                    try await storage.createDatabase(name: "c", schema: schema, tables: tables)
                }
                #expect(error?.kind == .invalidSchema, "schema '\(schema)' tables \(String(describing: tables))")
            }
            // Failed creations leave nothing behind.
            #expect(try await storage.listDatabases() == ["a.sqlite", "b.sqlite"])
            #expect(try await !storage.databaseExists("c"))
            switch data.location {
            case .directory(let directory):
                let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("databases").path).sorted()
                #expect(files == ["a.sqlite", "b.sqlite"])
            case .postgres(let postgres):
                let schemas = try await postgres.withConnection { connection in
                    try await connection.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cs\\_%' ORDER BY nspname", logger: PostgresTestDatabase.logger)
                        .collect().map { try $0.decode(String.self) }
                }
                #expect(schemas == [PostgresStorage.schemaName(for: "a.sqlite"), PostgresStorage.schemaName(for: "b.sqlite")].sorted())
            }
            // The second database synchronizes only todo.
            let device = try Device(schema: Self.twoTables)
            _ = try device.context.initialize(table: "note")
            try device.execute("INSERT INTO note VALUES ('n', 'x')")
            let refused = await #expect(throws: SyncStorageError.self) {
                _ = try await storage.merge(database: "a.sqlite", site: SiteID(bytes: device.site)!, payload: try #require(try device.pendingUpload()).payload, as: .administrator)
            }
            #expect(refused?.kind == .badPayload)
        }
    }

    @Test("the server database is a synchronized peer with its own site id, stamping merges in order", arguments: StorageBackend.allCases)
    func serverDatabaseIsAPeer(backend: StorageBackend) async throws {
        try await withStorage(backend) { data in
            let storage = data.storage
            try await storage.createDatabase(name: "todo", schema: todoSchema, tables: nil)
            let device = try Device()
            try device.insertTodos(3, prefix: "a")
            let site = try #require(SiteID(bytes: device.site))
            let result = try await storage.merge(database: "todo", site: site, payload: try #require(try device.pendingUpload()).payload, as: .administrator)
            #expect(result.changes > 0)
            #expect(result.failedRows.isEmpty)
            // Merged changes get the merge's db_version and consecutive seqs.
            let other = try #require(SiteID(hex: String(repeating: "1", count: 32)))
            let page = try #require(try await storage.changes(database: "todo", excludingSite: other, after: .start, limit: 100, as: .administrator))
            let changes = try PayloadDecoder.decode(page.payload).changes
            #expect(page.count == result.changes)
            #expect(Set(changes.map(\.dbVersion)) == [1])
            #expect(changes.map(\.seq) == Array(0..<Int64(changes.count)))
            #expect(page.last == SyncCursor(dbVersion: 1, seq: Int64(changes.count - 1)))
            // The uploader's site id and clocks travel unchanged.
            #expect(changes.allSatisfy { $0.siteID == device.site })
            // A second upload is a later transaction.
            try device.execute("UPDATE todo SET done = 1 WHERE id = 'a-0'")
            device.sendCursor = try #require(try device.pendingUpload()).last
            try device.execute("UPDATE todo SET done = 1 WHERE id = 'a-1'")
            _ = try await storage.merge(database: "todo", site: site, payload: try #require(try device.pendingUpload()).payload, as: .administrator)
            let second = try #require(try await storage.changes(database: "todo", excludingSite: other, after: page.last, limit: 100, as: .administrator))
            #expect(second.count == 1)
            #expect(second.last == SyncCursor(dbVersion: 2, seq: 0))
            // Excluding the uploader's site leaves nothing.
            #expect(try await storage.changes(database: "todo", excludingSite: site, after: .start, limit: 100, as: .administrator) == nil)
            await #expect(throws: SyncStorageError(.unknownDatabase, "database nope does not exist")) {
                _ = try await storage.changes(database: "nope", excludingSite: site, after: .start, limit: 1, as: .administrator)
            }
            await #expect(throws: SyncStorageError(.unknownDatabase, "database nope does not exist")) {
                _ = try await storage.merge(database: "nope", site: site, payload: try #require(try device.pendingUpload()).payload, as: .administrator)
            }
        }
    }

    @Test("API keys are stored hashed, verified, scoped and revocable", arguments: StorageBackend.allCases)
    func apiKeys(backend: StorageBackend) async throws {
        try await withStorage(backend) { data in
            let storage = data.storage
            try await storage.createDatabase(name: "todo", schema: todoSchema, tables: nil)
            let key = try await storage.createAPIKey(database: "todo")
            #expect(key.hasPrefix("csk_"))
            #expect(key.count == 68)
            let second = try await storage.createAPIKey(database: "todo")
            #expect(second != key)
            #expect(try await storage.verifyAPIKey(key) == APIKeyGrant(database: "todo"))
            #expect(try await storage.verifyAPIKey(key + "x") == nil)

            // Only the SHA-256 is in the catalog.
            switch data.location {
            case .directory(let directory):
                let catalog = try Data(contentsOf: directory.appendingPathComponent("catalog.sqlite"))
                    + ((try? Data(contentsOf: directory.appendingPathComponent("catalog.sqlite-wal"))) ?? Data())
                #expect(catalog.range(of: Data(key.utf8)) == nil)
                #expect(catalog.range(of: Data(APIKey.hash(key).utf8)) != nil)
            case .postgres(let postgres):
                let (withKey, withHash) = try await postgres.withConnection { connection in
                    let rows = try await connection.query(
                        "SELECT count(*) FILTER (WHERE k::text LIKE '%' || \(key) || '%'), count(*) FILTER (WHERE k::text LIKE '%' || \(APIKey.hash(key)) || '%') FROM cloudsync.api_keys k",
                        logger: PostgresTestDatabase.logger).collect()
                    return try rows[0].decode((Int64, Int64).self)
                }
                #expect(withKey == 0)
                #expect(withHash == 1)
            }
            #expect(APIKey.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

            try await storage.revokeAPIKey(key)
            #expect(try await storage.verifyAPIKey(key) == nil)
            #expect(try await storage.verifyAPIKey(second) == APIKeyGrant(database: "todo"))
            // Revoking again is fine; an unknown key is an error.
            try await storage.revokeAPIKey(key)
            let unknown = await #expect(throws: SyncStorageError.self) { try await storage.revokeAPIKey("csk_nope") }
            #expect(unknown?.kind == .unknownKey)
            let noDatabase = await #expect(throws: SyncStorageError.self) { try await storage.createAPIKey(database: "missing") }
            #expect(noDatabase?.kind == .unknownDatabase)
        }
    }

    @Test("merges survive closing and reopening the storage", arguments: StorageBackend.allCases)
    func durableAcrossReopen(backend: StorageBackend) async throws {
        let data = try await TestStorage.make(backend)
        let device = try Device()
        try device.insertTodos(4, prefix: "a")
        let site = try #require(SiteID(bytes: device.site))
        let storage = data.storage
        try await storage.createDatabase(name: "todo", schema: todoSchema, tables: nil)
        let key = try await storage.createAPIKey(database: "todo")
        _ = try await storage.merge(database: "todo", site: site, payload: try #require(try device.pendingUpload()).payload, as: .administrator)
        await storage.close()

        let reopened = try await data.openAnother()
        #expect(try await reopened.listDatabases() == ["todo"])
        #expect(try await reopened.verifyAPIKey(key) == APIKeyGrant(database: "todo"))
        let other = try #require(SiteID(hex: String(repeating: "2", count: 32)))
        let page = try #require(try await reopened.changes(database: "todo", excludingSite: other, after: .start, limit: 1000, as: .administrator))
        let fresh = try Device()
        try fresh.apply(page.payload)
        #expect(try fresh.snapshot() == device.snapshot())
        // New merges continue the clock after the old ones.
        try device.execute("UPDATE todo SET done = 1 WHERE id = 'a-2'")
        device.sendCursor = try #require(try device.pendingUpload()).last
        try device.execute("UPDATE todo SET done = 1 WHERE id = 'a-3'")
        _ = try await reopened.merge(database: "todo", site: site, payload: try #require(try device.pendingUpload()).payload, as: .administrator)
        let next = try #require(try await reopened.changes(database: "todo", excludingSite: other, after: page.last, limit: 1000, as: .administrator))
        #expect(next.count == 1)
        #expect(next.last.dbVersion == page.last.dbVersion + 1)
        await reopened.close()
        await data.destroy(close: false)
    }
}

@Suite("Blob store")
struct BlobStoreTests {
    @Test("upload tokens are single-use and scoped")
    func uploadLifecycle() async throws {
        let store = BlobStore(lifetime: .seconds(60), maxBytes: 100)
        let site = try #require(SiteID(hex: String(repeating: "a", count: 32)))
        let other = try #require(SiteID(hex: String(repeating: "b", count: 32)))
        let token = await store.issueUpload(database: "db", site: site)
        #expect(SyncRoutes.isToken(token))
        #expect(await store.issueUpload(database: "db", site: site) != token)
        await #expect(throws: BlobStore.Failure.notUploaded) { try await store.takeUpload(token: token, database: "db", site: site) }
        try await store.beginUpload(token: token)
        await #expect(throws: BlobStore.Failure.alreadyUsed) { try await store.beginUpload(token: token) }
        try await store.finishUpload(token: token, payload: [1, 2, 3])
        #expect(await store.totalBytes == 3)
        await #expect(throws: BlobStore.Failure.wrongScope) { try await store.takeUpload(token: token, database: "db", site: other) }
        await #expect(throws: BlobStore.Failure.wrongScope) { try await store.takeUpload(token: token, database: "db2", site: site) }
        #expect(try await store.takeUpload(token: token, database: "db", site: site) == [1, 2, 3])
        #expect(await store.totalBytes == 0)
        await #expect(throws: BlobStore.Failure.alreadyUsed) { try await store.takeUpload(token: token, database: "db", site: site) }
        await #expect(throws: BlobStore.Failure.full) { try await store.storeDownload(database: "db", site: site, payload: [UInt8](repeating: 0, count: 101)) }
    }

    @Test("a download page's bytes go once its device checks past it; other devices' pages stay")
    func downloadsGoOnceTheDeviceMovesOn() async throws {
        let store = BlobStore(lifetime: .seconds(60), maxBytes: 1000)
        let site = SiteID(bytes: Array(repeating: 1, count: 16))!, other = SiteID(bytes: Array(repeating: 2, count: 16))!
        let page = [UInt8](repeating: 7, count: 400)
        let first = try await store.storeDownload(database: "db", site: site, payload: page, last: SyncCursor(dbVersion: 3, seq: 9))
        let second = try await store.storeDownload(database: "db", site: site, payload: page, last: SyncCursor(dbVersion: 5, seq: 0))
        let theirs = try await store.storeDownload(database: "db", site: other, payload: [1, 2], last: SyncCursor(dbVersion: 3, seq: 9))
        #expect(await store.totalBytes == 802)
        await #expect(throws: BlobStore.Failure.full) { try await store.storeDownload(database: "db", site: site, payload: page, last: .start) }

        // A check before the first page's end keeps both; one at its end lets it go.
        await store.releaseDownloads(database: "db", site: site, through: SyncCursor(dbVersion: 3, seq: 8))
        #expect(await store.totalBytes == 802)
        await store.releaseDownloads(database: "db", site: site, through: SyncCursor(dbVersion: 3, seq: 9))
        #expect(await store.totalBytes == 402)
        await #expect(throws: BlobStore.Failure.expired) { try await store.download(token: first) }
        #expect(try await store.download(token: second) == page)
        #expect(try await store.download(token: theirs) == [1, 2])
        _ = try await store.storeDownload(database: "db", site: site, payload: page, last: SyncCursor(dbVersion: 6, seq: 0))
        await store.releaseDownloads(database: "db2", site: site, through: SyncCursor(dbVersion: 9, seq: 0))
        #expect(await store.totalBytes == 802)
    }

    @Test("token extraction from blob URLs")
    func tokens() {
        let token = String(repeating: "ab", count: 32)
        #expect(SyncRoutes.token(fromURL: "http://h:1/v1/blobs/\(token)") == token)
        #expect(SyncRoutes.token(fromURL: "https://h/prefix/v1/blobs/\(token)?x=1") == token)
        #expect(SyncRoutes.token(fromURL: "http://h/v1/blobs/\(token.uppercased())") == nil)
        #expect(SyncRoutes.token(fromURL: "http://h/v1/other/\(token)") == nil)
        #expect(SyncRoutes.token(fromURL: "") == nil)
    }
}
