import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
@testable import CloudSyncNetwork

/// Server instances on one PostgreSQL, devices syncing through them over real HTTP, and a
/// program writing to the PostgreSQL tables directly.
@Suite(
    "Sync through several servers on PostgreSQL", .serialized,
    .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"),
    .enabled(if: PostgresTestDatabase.isAvailable, "PostgreSQL is not installed"))
struct PostgresEndToEndTests {
    static let schema = "CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)"
    static let database = "todo.sqlite"

    /// `count` server instances on `postgres`, serving `todo.sqlite`, and an API key.
    func instances(_ count: Int, _ postgres: PostgresTestDatabase) throws -> ([ServerProcess], String) {
        let servers = try (0..<count).map { _ in try ServerProcess(postgres: postgres.url) }
        let key = try servers[0].createDatabase(Self.database, schema: Self.schema)
        for server in servers { try server.start() }
        return (servers, key)
    }

    /// The todo rows as PostgreSQL holds them.
    func serverRows(_ connection: PostgresConnection) async throws -> [[SQLValue]] {
        let schema = try await schemaName(connection)
        var rows: [[SQLValue]] = []
        for try await (id, title, done) in try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT id, title, done FROM \(schema).todo ORDER BY id"), logger: PostgresTestDatabase.logger
        ).decode((String, String, Int64).self) {
            rows.append([.string(id), .string(title), .integer(done)])
        }
        return rows
    }

    func schemaName(_ connection: PostgresConnection) async throws -> String {
        for try await name in try await connection.query(
            "SELECT schema_name FROM cloudsync.databases WHERE name = \(Self.database)", logger: PostgresTestDatabase.logger
        ).decode(String.self) {
            return "\"\(name)\""
        }
        throw ServerFailure("no catalog entry for \(Self.database)")
    }

    @Test func devicesAlternatingBetweenTwoInstancesWhileWritingConverge() async throws {
        try await PostgresTestDatabase.with { postgres in
            let (servers, key) = try instances(2, postgres)
            let urls = servers.map(\.url)
            let written = Mutex<Set<String>>([])
            let deleted = Mutex<Set<String>>([])
            // Four devices, each on its own thread: random writes, each sync through a random
            // instance.
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 4) { index in
                do {
                    var random = SystemRandomNumberGenerator()
                    let device = try Device(schema: Self.schema, server: urls[index % 2], database: Self.database, apiKey: key)
                    for round in 0..<12 {
                        for item in 0..<5 {
                            let id = "d\(index)-\(round)-\(item)"
                            try device.execute("INSERT INTO todo(id, title) VALUES ('\(id)', 'from \(index)')")
                            written.withLock { _ = $0.insert(id) }
                        }
                        // Edits of shared rows: concurrent writes to the same cells.
                        try device.execute("INSERT INTO todo(id, title) VALUES ('shared-\(round % 3)', 'd\(index) r\(round)') ON CONFLICT(id) DO UPDATE SET title = excluded.title, done = done + 1")
                        if round % 4 == 3 {
                            let id = "d\(index)-\(round - 1)-0"
                            try device.execute("DELETE FROM todo WHERE id = '\(id)'")
                            deleted.withLock { _ = $0.insert(id) }
                        }
                        try device.use(server: urls.randomElement(using: &random)!, key: key)
                        try device.sync()
                    }
                } catch {
                    failures.withLock { $0.append("device \(index): \(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")

            // Fresh devices, one per instance, receive everything.
            let readers = try urls.map { try Device(schema: Self.schema, server: $0, database: Self.database, apiKey: key) }
            for reader in readers { try reader.sync() }
            let expected = written.withLock { $0 }.subtracting(deleted.withLock { $0 })
            for reader in readers {
                let ids = Set(try reader.rows().compactMap { $0[0].stringValue }.filter { !$0.hasPrefix("shared") })
                #expect(ids == expected)
                #expect(try reader.rows().count == expected.count + 3)
            }
            #expect(try readers[0].rows() == readers[1].rows())
            let expectedRows = try readers[0].rows()
            #expect(try await postgres.withConnection { try await serverRows($0) } == expectedRows)
            _ = servers
        }
    }

    @Test func aProgramWritingToTheTablesAndDevicesMergeByTheCRDTRules() async throws {
        try await PostgresTestDatabase.with { postgres in
            let (servers, key) = try instances(1, postgres)
            let a = try Device(schema: Self.schema, server: servers[0].url, database: Self.database, apiKey: key)
            let b = try Device(schema: Self.schema, server: servers[0].url, database: Self.database, apiKey: key)
            try await postgres.withConnection { connection in
                let schema = try await schemaName(connection)
                func sql(_ text: String) async throws {
                    try await connection.query(PostgresQuery(unsafeSQL: text), logger: PostgresTestDatabase.logger)
                }

                try a.execute("INSERT INTO todo(id, title) VALUES ('1', 'milk'), ('2', 'bread')")
                try a.sync()
                // The program inserts, updates and deletes with plain SQL.
                try await sql("INSERT INTO \(schema).todo(id, title) VALUES ('p1', 'from the program')")
                try await sql("UPDATE \(schema).todo SET done = 1 WHERE id = '1'")
                try await sql("DELETE FROM \(schema).todo WHERE id = '2'")
                try b.sync()
                try a.sync()
                #expect(try b.rows() == [[.string("1"), .string("milk"), .integer(1)], [.string("p1"), .string("from the program"), .integer(0)]])
                #expect(try a.rows() == b.rows())

                // Concurrent edits of one cell: the program's transaction and a device both write
                // the title once; equal versions, so the greater value wins everywhere.
                try await sql("UPDATE \(schema).todo SET title = 'apple' WHERE id = 'p1'")
                try a.execute("UPDATE todo SET title = 'zebra' WHERE id = 'p1'")
                try a.sync()
                try b.sync()
                try a.sync()
                #expect(try await serverRows(connection).first { $0[0] == .string("p1") }?[1] == .string("zebra"))
                #expect(try a.rows() == b.rows())
                // A device edit reaches the table; a later program edit wins over the older one.
                try b.execute("UPDATE todo SET title = 'oat milk' WHERE id = '1'")
                try b.sync()
                #expect(try await serverRows(connection).first { $0[0] == .string("1") }?[1] == .string("oat milk"))
                try await sql("UPDATE \(schema).todo SET title = 'soy milk' WHERE id = '1'")
                // A row deleted by a device disappears from the table; one re-inserted by the
                // program comes back on the devices.
                try a.execute("DELETE FROM todo WHERE id = 'p1'")
                try a.sync()
                try await sql("INSERT INTO \(schema).todo(id, title) VALUES ('p1', 'again')")
                try a.sync()
                try b.sync()
                #expect(try a.rows() == b.rows())
                #expect(try await serverRows(connection) == a.rows())
                #expect(try a.rows().first { $0[0] == .string("1") }?[1] == .string("soy milk"))
                #expect(try a.rows().first { $0[0] == .string("p1") }?[1] == .string("again"))
            }
            _ = servers
        }
    }

    @Test func anInstanceKilledMidRequestLeavesTheOthersServingAndRetriesComplete() async throws {
        try await PostgresTestDatabase.with { postgres in
            let (servers, key) = try instances(2, postgres)
            let victim = servers[0], survivor = servers[1]
            let device = try Device(schema: Self.schema, server: victim.url, database: Self.database, apiKey: key)
            // A large upload, so that the kill lands while requests are in flight.
            try device.execute("BEGIN")
            for index in 0..<3000 {
                try device.execute("INSERT INTO todo(id, title) VALUES ('k\(index)', '\(String(repeating: "x", count: 40))')")
            }
            try device.execute("COMMIT")
            let killed = DispatchSemaphore(value: 0)
            let killer = Thread {
                Thread.sleep(forTimeInterval: 0.05)
                _ = victim.stop(signal: SIGKILL)
                killed.signal()
            }
            killer.start()
            let interrupted = (try? device.sync()) == nil
            killed.wait()
            #expect(interrupted, "the kill should land while the upload is in flight")

            // Retry through the instance still running: everything arrives once.
            try device.use(server: survivor.url, key: key)
            try device.sync()
            #expect(try !device.hasUnsentChanges)
            let reader = try Device(schema: Self.schema, server: survivor.url, database: Self.database, apiKey: key)
            try reader.sync()
            #expect(try reader.rows().count == 3000)
            #expect(try reader.rows() == device.rows())
        }
    }
}

extension Device {
    /// Points the device at another server instance of the same database.
    func use(server: String, key: String) throws {
        try connection.run("SELECT cloudsync_network_init(?1)", [.string("\(server)/\(PostgresEndToEndTests.database)")])
        try connection.run("SELECT cloudsync_network_set_apikey(?1)", [.string(key)])
    }
}
