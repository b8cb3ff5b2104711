import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// What only the PostgreSQL storage does (docs/postgres.md): schema translation, values the
/// columns cannot hold, several instances on one database, and the same merge results as the
/// embedded storage.
@Suite("PostgreSQL storage", .enabled(if: StorageBackend.postgresAvailable, "PostgreSQL is not installed"))
struct PostgresStorageTests {
    // MARK: Schema translation

    /// Every affinity rule of docs/postgres.md, literal defaults, and a composite key declared
    /// in another order than its columns.
    static let typesSchema = """
        CREATE TABLE t(
          a INTEGER NOT NULL,
          b TEXT NOT NULL,
          c_int INT DEFAULT 7,
          c_varchar VARCHAR(20) DEFAULT 'x''y',
          c_clob CLOB,
          c_blob BLOB DEFAULT X'0aFF',
          c_none,
          c_real REAL DEFAULT 1.5,
          c_float FLOAT,
          c_double DOUBLE PRECISION DEFAULT (-2),
          c_fp FLOATING POINT,
          c_numeric NUMERIC DEFAULT 3,
          c_decimal DECIMAL(10, 2) DEFAULT 2.5,
          c_bool BOOLEAN NOT NULL DEFAULT TRUE,
          c_date DATE DEFAULT CURRENT_DATE,
          c_stamp DATETIME DEFAULT CURRENT_TIMESTAMP,
          c_null TEXT DEFAULT NULL,
          c_neg INTEGER DEFAULT -5,
          PRIMARY KEY(b, a))
        """

    static let expectedTypes: [String: (type: String, nullable: Bool)] = [
        "a": ("bigint", false), "b": ("text", false),
        "c_int": ("bigint", true), "c_varchar": ("text", true), "c_clob": ("text", true),
        "c_blob": ("bytea", true), "c_none": ("bytea", true),
        "c_real": ("double precision", true), "c_float": ("double precision", true), "c_double": ("double precision", true),
        // "FLOATING POINT" contains INT: INTEGER affinity, as in SQLite.
        "c_fp": ("bigint", true),
        "c_numeric": ("numeric", true), "c_decimal": ("numeric", true),
        "c_bool": ("bigint", false), "c_date": ("text", true), "c_stamp": ("text", true),
        "c_null": ("text", true), "c_neg": ("bigint", true),
    ]

    static let typesColumns = "a, b, c_int, c_varchar, c_clob, c_blob, c_none, c_real, c_float, c_double, c_fp, c_numeric, c_decimal, c_bool, c_date, c_stamp, c_null, c_neg"

    @Test("schema translation: column types by affinity, NOT NULL, composite keys, clock tables")
    func schemaTranslation() async throws {
        try await withStorage(.postgres) { data in
            #expect(try await data.storage.createDatabase(name: "types", schema: Self.typesSchema, tables: nil) == ["t"])
            let schema = PostgresStorage.schemaName(for: "types")
            let (columns, key, clockColumns, clockKey) = try await data.postgres.withConnection { connection in
                #expect(try await TestStorage.schemaName(of: "types", connection: connection) == schema)
                return (
                    try await Self.columns(schema, "t", connection),
                    try await Self.primaryKey(schema, "t", connection),
                    try await Self.columns(schema, "t_cloudsync", connection),
                    try await Self.primaryKey(schema, "t_cloudsync", connection))
            }
            #expect(columns.count == Self.expectedTypes.count)
            for (name, expected) in Self.expectedTypes {
                #expect(columns[name]?.type == expected.type, "column \(name)")
                #expect(columns[name]?.nullable == expected.nullable, "column \(name)")
            }
            #expect(key == ["b", "a"])
            // The clock table: the key's values with the key columns' types, in key order.
            #expect(clockColumns["k1"]?.type == "text")
            #expect(clockColumns["k2"]?.type == "bigint")
            #expect(clockColumns["col_name"]?.type == "text")
            #expect(clockColumns["col_version"]?.type == "bigint")
            #expect(clockColumns["db_version"]?.type == "bigint")
            #expect(clockColumns["site_id"]?.type == "bytea")
            #expect(clockColumns["seq"]?.type == "bigint")
            #expect(clockColumns.count == 7)
            #expect(clockKey == ["k1", "k2", "col_name"])
        }
    }

    @Test("defaults give the values SQLite gives, and reach devices as such")
    func defaults() async throws {
        try await withStorage(.postgres) { data in
            try await data.storage.createDatabase(name: "types", schema: Self.typesSchema, tables: nil)
            // Another program inserts a row with only its key; the triggers record it.
            _ = try await data.postgres.withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(PostgresStorage.schemaName(for: "types")).t(a, b) VALUES (1, 'k')"), logger: PostgresTestDatabase.logger)
            }
            let server = try await data.query("SELECT \(Self.typesColumns) FROM t", database: "types")
            let reference = try Device(schema: Self.typesSchema, table: "t")
            try reference.execute("INSERT INTO t(a, b) VALUES (1, 'k')")
            let sqlite = try reference.context.connection.rows("SELECT \(Self.typesColumns) FROM t")
            #expect(server.count == 1)
            #expect(sqlite.count == 1)
            let names = Self.typesColumns.components(separatedBy: ", ")
            for (index, name) in names.enumerated() {
                if name == "c_date" || name == "c_stamp" {
                    // The current date and time, as the same kind of text.
                    let pattern = name == "c_date" ? #/\d{4}-\d{2}-\d{2}/# : #/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/#
                    #expect(server[0][index].stringValue?.wholeMatch(of: pattern) != nil, "\(name): \(server[0][index])")
                    #expect(sqlite[0][index].stringValue?.wholeMatch(of: pattern) != nil, "\(name): \(sqlite[0][index])")
                } else {
                    #expect(server[0][index] == sqlite[0][index], "column \(name)")
                }
            }
            #expect(server[0][5] == .blob([0x0a, 0xff]))
            #expect(server[0][3] == .string("x'y"))

            // A device downloads the row exactly as PostgreSQL holds it.
            let device = try Device(schema: Self.typesSchema, table: "t")
            let page = try #require(try await data.storage.changes(
                database: "types", excludingSite: SiteID(bytes: device.site)!, after: .start, limit: 100, as: .administrator))
            try device.apply(page.payload)
            #expect(try device.context.connection.rows("SELECT \(Self.typesColumns) FROM t") == server)
        }
    }

    @Test("defaults PostgreSQL cannot give as SQLite would are refused, and nothing is created", arguments: [
        "n INTEGER DEFAULT (abs(-3))",
        "n TEXT DEFAULT (lower('A'))",
        "n INTEGER DEFAULT CURRENT_TIMESTAMP",
        "n INTEGER DEFAULT 'abc'",
        "n INTEGER DEFAULT 1.5",
        "n BLOB DEFAULT 'abc'",
        "n TEXT DEFAULT X'00'",
        "n TEXT DEFAULT 1.50",
    ])
    func unsupportedDefaults(column: String) async throws {
        try await withStorage(.postgres) { data in
            let error = await #expect(throws: SyncStorageError.self) {
                try await data.storage.createDatabase(name: "u", schema: "CREATE TABLE u(id TEXT PRIMARY KEY NOT NULL, \(column))", tables: nil)
            }
            #expect(error?.kind == .invalidSchema)
            #expect(error?.message.contains("u.n") == true, "\(error?.message ?? "")")
            #expect(try await data.storage.listDatabases().isEmpty)
            let schemas = try await data.postgres.withConnection { connection in
                try await connection.query("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\\_%'", logger: PostgresTestDatabase.logger).collect()[0].decode(Int64.self)
            }
            #expect(schemas == 0)
            // A literal of the column's kind is fine.
            try await data.storage.createDatabase(name: "u", schema: "CREATE TABLE u(id TEXT PRIMARY KEY NOT NULL, n INTEGER DEFAULT '12', m BLOB DEFAULT X'01', o TEXT DEFAULT 15, p REAL DEFAULT '2.5', q NUMERIC DEFAULT 1e3)", tables: nil)
        }
    }

    static func columns(_ schema: String, _ table: String, _ connection: PostgresConnection) async throws -> [String: (type: String, nullable: Bool)] {
        var result: [String: (type: String, nullable: Bool)] = [:]
        let rows = try await connection.query(
            "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns WHERE table_schema = \(schema) AND table_name = \(table)",
            logger: PostgresTestDatabase.logger).collect()
        for row in rows {
            let (name, type, nullable) = try row.decode((String, String, String).self)
            result[name] = (type, nullable == "YES")
        }
        return result
    }

    static func primaryKey(_ schema: String, _ table: String, _ connection: PostgresConnection) async throws -> [String] {
        try await connection.query("""
            SELECT k.column_name::text FROM information_schema.table_constraints c
            JOIN information_schema.key_column_usage k
              ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema AND k.table_name = c.table_name
            WHERE c.table_schema = \(schema) AND c.table_name = \(table) AND c.constraint_type = 'PRIMARY KEY'
            ORDER BY k.ordinal_position
            """, logger: PostgresTestDatabase.logger).collect().map { try $0.decode(String.self) }
    }

    // MARK: Values the columns cannot hold

    @Test("a value the column cannot hold is refused with badPayload, and nothing of the upload is written", arguments: [
        "INSERT INTO todo(id, title, done) VALUES ('bad', 'x', 'yes')",
        "INSERT INTO todo(id, title, done) VALUES ('bad', 'x', X'01')",
        "UPDATE todo SET title = X'00ff' WHERE id = 'a-0'",
        "UPDATE todo SET done = 'soon' WHERE id = 'a-1'",
        "UPDATE todo SET done = 2.5 WHERE id = 'a-1'",
        "INSERT INTO todo(id, title) VALUES (X'01', 'blob key')",
    ])
    func refusedValue(statement: String) async throws {
        try await withStorage(.postgres) { data in
            let storage = data.storage
            try await storage.createDatabase(name: "todo", schema: todoSchema, tables: nil)
            let device = try Device()
            try device.insertTodos(2, prefix: "a")
            let site = try #require(SiteID(bytes: device.site))
            _ = try await storage.merge(database: "todo", site: site, payload: try #require(try device.pendingUpload()).payload, as: .administrator)
            device.sendCursor = try #require(try device.pendingUpload()).last
            let rows = try await data.query("SELECT id, title, done FROM todo ORDER BY id", database: "todo")
            let clocks = try await data.query("SELECT k1, col_name, col_version, db_version, site_id, seq FROM todo_cloudsync ORDER BY k1, col_name", database: "todo")
            let version = try await data.query("SELECT db_version, seq FROM cloudsync_clock", database: "todo")

            // Good changes before and after the bad one, in the same upload.
            try device.execute("UPDATE todo SET title = 'changed' WHERE id = 'a-0'")
            try device.execute(statement)
            try device.execute("INSERT INTO todo(id, title) VALUES ('z', 'good')")
            let upload = try #require(try device.pendingUpload())
            let error = await #expect(throws: SyncStorageError.self) {
                _ = try await storage.merge(database: "todo", site: site, payload: upload.payload, as: .administrator)
            }
            #expect(error?.kind == .badPayload)
            #expect(error?.message.contains("column todo.") == true, "\(error?.message ?? "")")

            #expect(try await data.query("SELECT id, title, done FROM todo ORDER BY id", database: "todo") == rows)
            #expect(try await data.query("SELECT k1, col_name, col_version, db_version, site_id, seq FROM todo_cloudsync ORDER BY k1, col_name", database: "todo") == clocks)
            #expect(try await data.query("SELECT db_version, seq FROM cloudsync_clock", database: "todo") == version)
            let other = try #require(SiteID(hex: String(repeating: "3", count: 32)))
            let after = try #require(try await storage.changes(database: "todo", excludingSite: other, after: .start, limit: 100, as: .administrator))
            #expect(after.last.dbVersion == 1)

            // The next good upload takes the next version.
            let good = try Device()
            try good.insertTodos(1, prefix: "g")
            _ = try await storage.merge(database: "todo", site: SiteID(bytes: good.site)!, payload: try #require(try good.pendingUpload()).payload, as: .administrator)
            let next = try #require(try await storage.changes(database: "todo", excludingSite: other, after: after.last, limit: 100, as: .administrator))
            #expect(next.last.dbVersion == 2)
        }
    }

    @Test("over HTTP, a value the column cannot hold gets 400 naming the column")
    func refusedValueOverHTTP() async throws {
        try await ServerFixture.with(.postgres) { fixture in
            let device = try Device()
            try device.execute("INSERT INTO todo(id, title, done) VALUES ('bad', 'x', 'yes')")
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let url = try await sync.requestUploadURL(site: device.siteHex).text
                #expect(try await sync.put(url, try #require(try device.pendingUpload()).payload).status == .ok)
                let notified = try await sync.notify(site: device.siteHex, url: url)
                #expect(notified.status == .badRequest)
                #expect(notified.text.contains("done"), "\(notified.text)")
                #expect(try await fixture.serverRows().isEmpty)
            }
        }
    }

    // MARK: Several instances

    @Test("two instances on one database see the same databases, keys, tokens and site bindings")
    func sharedCatalog() async throws {
        try await withStorage(.postgres) { data in
            let first = data.storage
            try await data.withAnotherStorage { second in
                try await first.createDatabase(name: "todo", schema: todoSchema, tables: nil)
                #expect(try await second.listDatabases() == ["todo"])
                #expect(try await second.databaseExists("todo"))
                await #expect(throws: SyncStorageError(.databaseExists, "database todo already exists")) {
                    try await second.createDatabase(name: "todo", schema: todoSchema, tables: nil)
                }
                // Both create the same new database at once: exactly one wins.
                let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for storage in [first, second, first, second] {
                        group.addTask {
                            do {
                                try await storage.createDatabase(name: "race", schema: todoSchema, tables: nil)
                                return true
                            } catch let error as SyncStorageError where error.kind == .databaseExists {
                                return false
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 }.count == 1)
                #expect(try await first.listDatabases() == ["race", "todo"])

                let key = try await second.createAPIKey(database: "todo")
                #expect(try await first.verifyAPIKey(key) == APIKeyGrant(database: "todo"))
                try await first.revokeAPIKey(key)
                #expect(try await second.verifyAPIKey(key) == nil)

                let token = try await TokenAuthority(storage: first).issue(database: "todo", userID: "alice")
                #expect(try await TokenAuthority(storage: second).verify(token, database: "todo").userID == "alice")
                try await TokenAuthority(storage: second).revoke(token)
                await expectTokenError(.revoked) { try await TokenAuthority(storage: first).verify(token, database: "todo") }

                let site = try #require(SiteID(hex: String(repeating: "4", count: 32)))
                #expect(try await first.bindSite(database: "todo", site: site, userID: "alice"))
                #expect(try await !second.bindSite(database: "todo", site: site, userID: "bob"))
                #expect(try await second.bindSite(database: "todo", site: site, userID: "alice"))
                // Bindings are per database.
                #expect(try await second.bindSite(database: "race", site: site, userID: "bob"))
            }
        }
    }

    @Test("instances racing to create the catalog and the token secret all end with the same secret")
    func secretRace() async throws {
        let database = try await PostgresTestDatabase.create()
        do {
            let secrets = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        let storage = try await TestStorage.openPostgres(database.url)
                        do {
                            let secret = try await storage.tokenSigningSecret()
                            await storage.close()
                            return secret
                        } catch {
                            await storage.close()
                            throw error
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(secrets.count == 6)
            #expect(Set(secrets).count == 1)
            #expect(secrets.first?.count == 32)
            let stored = try await database.withConnection { connection in
                try await connection.query("SELECT count(*) FROM cloudsync.settings", logger: PostgresTestDatabase.logger).collect()[0].decode(Int64.self)
            }
            #expect(stored == 1)
            // A later instance reads it too.
            let late = try await TestStorage.openPostgres(database.url)
            #expect(try await late.tokenSigningSecret() == secrets.first)
            await late.close()
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }

    @Test("an upload through one instance is downloaded through the other; blob URLs of one are served by the other")
    func twoServers() async throws {
        try await ServerFixture.with(.postgres) { fixture in
            try await fixture.withAnotherStorage { secondStorage in
                let first = fixture.application()
                let second = buildApplication(configuration: fixture.configuration, storage: secondStorage, logger: quietLogger)
                let alice = try Device()
                let bob = try Device()
                try alice.insertTodos(3, prefix: "a")
                try bob.insertTodos(2, prefix: "b")

                try await first.test(.router) { one in
                    try await second.test(.router) { two in
                        let viaOne = SyncClient(client: one, key: fixture.key)
                        let viaTwo = SyncClient(client: two, key: fixture.key)

                        // The upload URL from one, the PUT and the notify on the other.
                        let pending = try #require(try alice.pendingUpload())
                        let url = try await viaOne.requestUploadURL(site: alice.siteHex).text
                        #expect(try await viaTwo.put(url, pending.payload).status == .ok)
                        // The URL is used now, whichever instance is asked.
                        #expect(try await viaOne.put(url, pending.payload).status == .conflict)
                        #expect(try await viaTwo.notify(site: alice.siteHex, url: url).status == .ok)
                        alice.sendCursor = pending.last
                        #expect(try await viaOne.notify(site: alice.siteHex, url: url).status == .conflict)

                        // Bob sends through one and downloads through the other; the download URL
                        // one instance hands out is served by the other.
                        #expect(try await viaOne.send(bob) > 0)
                        let checked = try await viaTwo.check(site: bob.siteHex, cursor: .start)
                        #expect(checked.status == .ok)
                        let download = try await viaOne.fetch(checked.text)
                        #expect(download.status == .ok)
                        try bob.apply(download.bytes)
                        #expect(try bob.count() == 5)

                        _ = try await viaOne.receiveAll(alice)
                        #expect(try alice.snapshot() == bob.snapshot())
                        #expect(try await fixture.serverRows() == alice.snapshot())
                    }
                }
            }
        }
    }

    // MARK: Same history, same rows

    static let mixedSchema = """
        CREATE TABLE item(id TEXT PRIMARY KEY NOT NULL, name TEXT, data BLOB, score REAL, qty INTEGER, amount NUMERIC);
        CREATE TABLE pair(a TEXT NOT NULL, b INTEGER NOT NULL, note TEXT DEFAULT 'n', PRIMARY KEY(a, b));
        CREATE TABLE link(a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY(a, b));
        """

    static let snapshotQueries = [
        "SELECT id, name, data, score, qty, amount FROM item ORDER BY id",
        "SELECT a, b, note FROM pair ORDER BY a, b",
        "SELECT a, b FROM link ORDER BY a, b",
    ]

    /// Few values per column, so that concurrent writes often tie on the column version and
    /// are decided by comparing values.
    static let names: [SQLValue] = [.string("a"), .string("b"), .string(""), .string("Zürich"), .null]
    static let blobs: [SQLValue] = [.blob([0]), .blob([0, 1]), .blob([0xff]), .blob([]), .null]
    static let scores: [SQLValue] = [.real(1.5), .real(-2.25), .real(0.1), .real(1e300), .integer(3), .null]
    static let quantities: [SQLValue] = [.integer(0), .integer(1), .integer(-7), .integer(.max), .integer(.min), .null]
    static let amounts: [SQLValue] = [.integer(1), .real(2.5), .real(-0.125), .real(2.0), .real(0.30000000000000004), .real(1e20), .integer(9_007_199_254_740_993), .null]

    @Test("the same history through the embedded and the PostgreSQL storage gives the same rows", arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func sameHistorySameRows(seed: UInt64) async throws {
        let embedded = try await TestStorage.make(.embedded)
        let postgres: TestStorage
        do {
            postgres = try await TestStorage.make(.postgres)
        } catch {
            await embedded.destroy()
            throw error
        }
        do {
            try await Self.runHistory(seed: seed, embedded: embedded, postgres: postgres)
        } catch {
            await embedded.destroy()
            await postgres.destroy()
            throw error
        }
        await embedded.destroy()
        await postgres.destroy()
    }

    static func makeMixedDevice() throws -> Device {
        let device = try Device(schema: mixedSchema, table: "item")
        _ = try device.context.initialize(table: "pair")
        _ = try device.context.initialize(table: "link")
        return device
    }

    static func snapshot(_ device: Device) throws -> [[[SQLValue]]] {
        try snapshotQueries.map { try device.context.connection.rows($0) }
    }

    /// Four devices write at random (inserts, updates to a small set of values, NULLs,
    /// deletes, re-inserts, key changes) and sync at random; every upload is merged into both
    /// storages in the same order (some twice). Two devices download from the embedded
    /// storage, two from PostgreSQL. At the end all devices, fresh devices downloading from
    /// each storage, and both storages' tables hold the same rows.
    static func runHistory(seed: UInt64, embedded: TestStorage, postgres: TestStorage, steps: Int = 220) async throws {
        var random = SeededGenerator(seed: seed)
        let database = "mixed"
        for data in [embedded, postgres] {
            try await data.storage.createDatabase(name: database, schema: mixedSchema, tables: nil)
        }
        let devices = try (0..<4).map { _ in try makeMixedDevice() }
        let sources = [embedded, embedded, postgres, postgres]
        var sent: [(SiteID, [UInt8])] = []
        let keys = (0..<5).map { "k\($0)" }

        func upload(_ device: Device) async throws {
            guard let pending = try device.pendingUpload() else { return }
            let site = SiteID(bytes: device.site)!
            let one = try await embedded.storage.merge(database: database, site: site, payload: pending.payload, as: .administrator)
            let two = try await postgres.storage.merge(database: database, site: site, payload: pending.payload, as: .administrator)
            #expect(one == two, "seed \(seed): merge results")
            device.sendCursor = pending.last
            sent.append((site, pending.payload))
        }

        func receive(_ device: Device, from data: TestStorage) async throws {
            for _ in 0..<1000 {
                guard let page = try await data.storage.changes(
                    database: database, excludingSite: SiteID(bytes: device.site)!, after: device.checkCursor, limit: 7, as: .administrator)
                else { return }
                try device.apply(page.payload)
                device.checkCursor = page.last
            }
            throw TestFailure("more than 1000 pages")
        }

        for _ in 0..<steps {
            let index = Int.random(in: 0..<devices.count, using: &random)
            let device = devices[index]
            let key = SQLValue.string(keys.randomElement(using: &random)!)
            let connection = device.context.connection
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<16:
                try connection.run(
                    "INSERT OR IGNORE INTO item(id, name, data, score, qty, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    [key, names.randomElement(using: &random)!, blobs.randomElement(using: &random)!, scores.randomElement(using: &random)!,
                     quantities.randomElement(using: &random)!, amounts.randomElement(using: &random)!])
            case 16..<42:
                let (column, values) = [("name", names), ("data", blobs), ("score", scores), ("qty", quantities), ("amount", amounts)]
                    .randomElement(using: &random)!
                try connection.run("UPDATE item SET \(column) = ?2 WHERE id = ?1", [key, values.randomElement(using: &random)!])
            case 42..<50:
                try connection.run("DELETE FROM item WHERE id = ?1", [key])
            case 50..<52:
                // A key change: the old key is deleted, the new one inserted.
                try connection.run("UPDATE OR IGNORE item SET id = ?2 WHERE id = ?1", [key, .string(keys.randomElement(using: &random)!)])
            case 52..<58:
                try connection.run("INSERT OR IGNORE INTO pair(a, b, note) VALUES (?1, ?2, ?3)", [key, .integer(Int64.random(in: -1...1, using: &random)), names.randomElement(using: &random)!])
            case 58..<62:
                try connection.run("UPDATE pair SET note = ?3 WHERE a = ?1 AND b = ?2", [key, .integer(Int64.random(in: -1...1, using: &random)), names.randomElement(using: &random)!])
            case 62..<65:
                try connection.run("DELETE FROM pair WHERE a = ?1 AND b = ?2", [key, .integer(Int64.random(in: -1...1, using: &random))])
            case 65..<69:
                try connection.run("INSERT OR IGNORE INTO link(a, b) VALUES (?1, ?2)", [key, .string(keys.randomElement(using: &random)!)])
            case 69..<72:
                try connection.run("DELETE FROM link WHERE a = ?1", [key])
            case 72..<86:
                try await upload(device)
            case 86..<97:
                try await receive(device, from: sources[index])
            default:
                // An upload sent again (a client that missed the acknowledgement).
                if let (site, payload) = sent.randomElement(using: &random) {
                    let one = try await embedded.storage.merge(database: database, site: site, payload: payload, as: .administrator)
                    let two = try await postgres.storage.merge(database: database, site: site, payload: payload, as: .administrator)
                    #expect(one == two, "seed \(seed): merge results of a re-sent upload")
                }
            }
        }

        for device in devices { try await upload(device) }
        for (index, device) in devices.enumerated() { try await receive(device, from: sources[index]) }
        let fromEmbedded = try makeMixedDevice()
        try await receive(fromEmbedded, from: embedded)
        let fromPostgres = try makeMixedDevice()
        try await receive(fromPostgres, from: postgres)

        let expected = try snapshot(fromEmbedded)
        #expect(expected[0].count + expected[1].count + expected[2].count > 0, "seed \(seed): the history left rows")
        #expect(try snapshot(fromPostgres) == expected, "seed \(seed): fresh devices")
        for (index, device) in devices.enumerated() {
            #expect(try snapshot(device) == expected, "seed \(seed): device \(index)")
        }
        for data in [embedded, postgres] {
            var rows: [[[SQLValue]]] = []
            for query in snapshotQueries { rows.append(try await data.query(query, database: database)) }
            #expect(rows == expected, "seed \(seed): rows of the \(data.backend) storage")
        }
    }
}
