import CloudSync
import Foundation
import GRDB
import Testing
import CloudSyncCore

/// Registration, migrations and sync state, without a server.
@Suite struct GRDBIntegrationTests {
    @Test func migrationEnablesSyncAndStateReadsAsSwiftValues() async throws {
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)

        let initial = try await queue.read { db in try db.syncState }
        let site = try #require(initial.siteID)
        #expect(site.count == 32)
        #expect(site.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(initial.synchronizedTables == ["todo"])
        #expect(initial.databaseVersion == 0)
        #expect(initial.hasUnsentChanges == false)
        #expect(initial.sendCursor == SyncCursor(dbVersion: 0, seq: 0))

        try await insert(queue, id: "a", title: "first")
        try await queue.write { db in
            try db.execute(sql: "UPDATE todo SET done = 1 WHERE id = 'a'")
            try db.execute(sql: "INSERT INTO todo (id, title) VALUES ('b', 'second')")
        }
        let after = try await queue.read { db in try db.syncState }
        #expect(after.siteID == site)
        // One db_version per transaction.
        #expect(after.databaseVersion == 2)
        #expect(after.hasUnsentChanges == true)
        let clocks = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT count(DISTINCT pk) FROM todo_cloudsync") }
        #expect(clocks == 2)
    }

    @Test func poolRegistersEveryConnectionAndReadersAnswerState() async throws {
        let directory = try TemporaryDirectory()
        let pool = try makePool(directory)
        try await insert(pool, id: "a", title: "from the pool writer")
        // Readers have the engine's functions, and read sync state without writing.
        let (version, state) = try await pool.read { db in
            (try String.fetchOne(db, sql: "SELECT cloudsync_version()"), try db.syncState)
        }
        #expect(version == CloudSync.engineVersion)
        #expect(state.databaseVersion == 1)
        #expect(state.hasUnsentChanges)
        let writerSite = try await pool.write { db in try db.syncSiteID }
        #expect(state.siteID == writerSite)
        // A second pool on the same file (another process, say) tracks its writes too.
        let second = try DatabasePool(path: directory.path("pool.sqlite"), configuration: syncConfiguration())
        try await insert(second, id: "b", title: "from another pool")
        #expect(try await pool.read { db in try db.syncDatabaseVersion } == 2)
    }

    @Test func badInputThrowsTypedErrors() async throws {
        let queue = try DatabaseQueue(configuration: syncConfiguration())
        await #expect {
            try await queue.write { db in try db.enableSync(table: "missing") }
        } throws: { error in
            (error as? SyncError)?.code == .unknownTable
        }
        try await queue.write { db in
            try db.execute(sql: todoSchema)
            try db.enableSync(table: "todo", algorithm: .addWins)
        }
        await #expect {
            try await queue.write { db in try db.enableSync(table: "todo", algorithm: .growOnlySet) }
        } throws: { error in
            let error = error as? SyncError
            return error?.code == .misuse && error?.message.contains("aws") == true
        }
        #expect(throws: SyncError.self) { try SyncClient(database: queue, endpoint: "ftp://example.com/todo", credential: .apiKey("k")) }
        do {
            _ = try SyncClient(database: queue, endpoint: "http://127.0.0.1:1/todo.sqlite")
            Issue.record("a client without a credential was created")
        } catch {
            #expect(error.code == .misuse)
        }
        // The endpoint's own ?apikey= is enough.
        let client = try SyncClient(database: queue, endpoint: "http://127.0.0.1:1/todo.sqlite?apikey=csk_x")
        #expect(client.currentBearer == "csk_x")
        #expect(client.endpoint.database == "todo.sqlite")
    }

    @Test(arguments: Transport.allCases) func unreachableServerFailsWithNetworkErrorAndKeepsChanges(over transport: Transport) async throws {
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        try await insert(queue, id: "a", title: "offline")
        // Port 9 (discard) on loopback: nothing listens there in the test environment.
        let client = try SyncClient(database: queue, endpoint: "http://127.0.0.1:9/todo.sqlite", credential: .apiKey("k"), over: transport)
        let log = EventLog(client)
        do {
            try await client.sync()
            Issue.record("sync succeeded without a server")
        } catch {
            #expect(error.code == .network)
            #expect(error.httpStatus == nil)
            #expect(error.isTransient)
        }
        #expect(try await queue.read { db in try db.hasUnsentChanges })
        #expect(await log.wait { events in events.contains(where: \.isFailure) })
        #expect(log.all.first == .started(.sync))
    }

    @Test func backoffDoublesUpToTheCapWithJitter() {
        let options = BackgroundSyncOptions(initialBackoff: 1, maxBackoff: 10, jitter: 0.5)
        #expect(options.backoff(afterFailures: 1) == 1)
        #expect(options.backoff(afterFailures: 2) == 2)
        #expect(options.backoff(afterFailures: 4) == 8)
        #expect(options.backoff(afterFailures: 5) == 10)
        #expect(options.backoff(afterFailures: 500) == 10)
    }

    @Test func alteringASynchronizedTableKeepsTracking() async throws {
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        try await queue.write { db in
            try db.alterSynchronizedTable("todo") { db in
                try db.execute(sql: "ALTER TABLE todo ADD COLUMN note TEXT NOT NULL DEFAULT ''")
            }
            try db.execute(sql: "INSERT INTO todo (id, title, note) VALUES ('n', 't', 'hello')")
        }
        let noted = try await queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM todo_cloudsync WHERE col_name = 'note'")
        }
        #expect(noted == 1)
    }
}
