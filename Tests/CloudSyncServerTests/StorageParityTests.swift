import CloudSyncCore
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import CloudSyncServer
import CloudSyncTestSupport

/// What both storages must do the same way, where they once drifted apart: the Row-Level
/// Security outbox read in bounded steps, the log of credentials, UUIDv7 site ids.
@Suite("Storage parity")
struct StorageParityTests {
    @Test("a user's outbox is read at most `limit` events at a time", arguments: StorageBackend.allCases)
    func outboxIsBounded(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            try await storage.setPolicy(RowLevelSecurityTests.personal, database: "shared")
            let alice = try RLSDevice(claims("alice"))
            let admin = try RLSDevice(.administrator)
            try alice.execute("INSERT INTO tasks(id, user_id, title) VALUES ('a1', 'alice', '1'), ('a2', 'alice', '2'), ('a3', 'alice', '3'), ('a4', 'alice', '4'), ('a5', 'alice', '5')")
            try await alice.sync(storage)
            try await admin.sync(storage)
            // Five rows leave Alice: her next download records five hides in her outbox.
            try admin.execute("UPDATE tasks SET user_id = 'bob'")
            try await admin.sync(storage)
            try await alice.sync(storage)
            #expect(try alice.taskIDs().isEmpty)

            let outbox = try await Self.outbox(data, user: "alice", limits: [2, 10])
            #expect(outbox[0].count == 2)
            #expect(outbox[1].count == 5)
            #expect(Array(outbox[1].prefix(2)) == outbox[0])
            #expect(outbox[1].allSatisfy { $0.event.kind == .hide })
        }
    }

    @Test("a download page takes no change once it holds maxBytes, on every storage, filtered or not, whole versions finished", arguments: StorageBackend.allCases)
    func pagesAreBoundedByBytes(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            try await storage.setPolicy(RowLevelSecurityTests.personal, database: "shared")
            let alice = try RLSDevice(claims("alice"))
            // Six rows, each a version of its own on the server, with a 3,000-byte title that
            // LZ4 barely shrinks.
            for i in 0..<6 {
                try alice.execute("INSERT INTO tasks(id, user_id, title) VALUES ('a\(i)', 'alice', hex(randomblob(1500)))")
                try await alice.sync(storage)
            }
            let other = SiteID(bytes: Array(repeating: 9, count: 16))!
            for principal in [Principal.administrator, claims("alice")] {
                let all = try #require(try await storage.changes(database: "shared", excludingSite: other, after: .start, limit: 1000, as: principal))
                for base in [ChangesPageOptions.v1Clients, .v2Clients] {
                    var pages: [ChangesPage] = []
                    var cursor = SyncCursor.start
                    while let page = try await storage.changes(
                        database: "shared", excludingSite: other, after: cursor, limit: 1000, options: base.bounded(to: 5000), as: principal) {
                        pages.append(page)
                        cursor = page.last
                    }
                    #expect(pages.map(\.count).reduce(0, +) == all.count, "\(principal) \(base)")
                    // 5,000 bytes hold at most two titles: a page passes the bound by one change.
                    #expect(pages.count >= 3, "\(principal) \(base): \(pages.map(\.count))")
                    let largest = base.wholeVersions ? 2 * 3_000 + 1_000 : 5_000 + 3_000 + 500
                    #expect(pages.allSatisfy { $0.payload.count < largest }, "\(principal) \(base): \(pages.map(\.payload.count))")
                    // Whole versions: each row (four changes) is a version, never cut.
                    if base.wholeVersions { #expect(pages.allSatisfy { $0.count % 4 == 0 }, "\(pages.map(\.count))") }
                }
            }
        }
    }

    /// The user's outbox after the start, read through the backend's `RowSecurityStore` with
    /// each of `limits`.
    private static func outbox(_ data: TestStorage, user: String, limits: [Int]) async throws -> [[FilteredPageBuilder.OutboxEvent]] {
        switch data.backend {
        case .embedded:
            let connection = try SQLiteConnection(path: try data.embedded.databasePath("shared"), engine: true, setup: "PRAGMA busy_timeout = 5000")
            defer { connection.close() }
            let store = try EmbeddedRowSecurityStore(context: try connection.engine)
            return try limits.map { try store.outbox(user: user, after: .start, limit: $0) }
        case .postgres:
            let database = try await #require(data.storage as? PostgresStorage).database("shared")
            return try await data.postgres.withConnection { connection in
                let store = PostgresRowSecurityStore(database: database, connection: connection, logger: quietLogger)
                var result: [[FilteredPageBuilder.OutboxEvent]] = []
                for limit in limits { result.append(try await store.outbox(user: user, after: .start, limit: limit)) }
                return result
            }
        }
    }

    @Test("creating and revoking API keys and access tokens is logged alike on every storage", arguments: StorageBackend.allCases)
    func credentialLog(backend: StorageBackend) async throws {
        let records = LogRecords()
        var logger = Logger(label: "cloudsync-parity-tests") { _ in RecordingLogHandler(records: records) }
        logger.logLevel = .info
        let data = try await TestStorage.make(backend, logger: logger)
        try await finally(await Self.logCredentialChanges(data, records: records)) { await data.destroy() }
    }

    private static func logCredentialChanges(_ data: TestStorage, records: LogRecords) async throws {
        let storage = data.storage
        try await storage.createDatabase(name: "todo", schema: todoSchema, tables: nil)
        let key = try await storage.createAPIKey(database: "todo")
        try await storage.revokeAPIKey(key)
        let authority = TokenAuthority(storage: storage)
        let token = try await authority.issue(database: "todo", userID: "alice")
        let tokenID = try await authority.verify(token).tokenID
        try await authority.revoke(token)

        let hash = String(APIKey.hash(key).prefix(12))
        let credentials = records.all.filter { $0.message.contains("API key") || $0.message.contains("access token") }
        #expect(credentials.map(\.message) == ["created API key", "revoked API key", "issued access token", "revoked access token"])
        #expect(credentials.map(\.metadata) == [
            ["database": "todo", "key_hash": hash],
            ["key_hash": hash],
            ["database": "todo", "user": "alice", "token_id": tokenID],
            ["token_id": tokenID],
        ])
    }

    @Test("a new database's site id is a UUIDv7 of now", arguments: StorageBackend.allCases)
    func siteIDIsUUIDv7(backend: StorageBackend) async throws {
        try await withStorage(backend) { data in
            let before = UInt64(Date().timeIntervalSince1970 * 1000)
            try await data.storage.createDatabase(name: "todo", schema: todoSchema, tables: nil)
            // Any request opens the database (the embedded storage records its site id then).
            _ = try await data.storage.changes(database: "todo", excludingSite: SiteID(bytes: Array(repeating: 1, count: 16))!, after: .start, limit: 1, as: .administrator)
            let after = UInt64(Date().timeIntervalSince1970 * 1000)
            let sql = backend.pick(
                embedded: "SELECT site_id FROM cloudsync_site_id WHERE rowid = 0",
                postgres: "SELECT site_id FROM cloudsync.databases WHERE name = 'todo'")
            let rows = try await data.query(sql, database: "todo")
            guard case .blob(let site)? = rows.first?.first else {
                Issue.record("no site id: \(rows)")
                return
            }
            #expect(site.count == 16)
            #expect(site[6] >> 4 == 7, "version nibble of \(Hex.encode(site))")
            #expect(site[8] & 0xC0 == 0x80, "variant bits of \(Hex.encode(site))")
            let milliseconds = site.prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect((before...after).contains(milliseconds), "timestamp \(milliseconds) outside \(before)...\(after)")
        }
    }
}

/// Log records kept for a test.
final class LogRecords: Sendable {
    struct Record: Sendable {
        var message: String
        var metadata: [String: String]
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { records.withLock { $0 } }

    func append(_ record: Record) {
        records.withLock { $0.append(record) }
    }
}

/// A log handler that keeps what it is given.
struct RecordingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.append(LogRecords.Record(message: event.message.description, metadata: merged.mapValues(\.description)))
    }
}
