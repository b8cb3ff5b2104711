import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// The PL/pgSQL triggers of `PostgresTriggers` against the engine's SQLite triggers: the same
/// plain SQL on both must leave the same clocks (col_version, db_version, seq per cell).
@Suite("PostgresTriggers")
struct PostgresTriggerTests {
    private static let needsPostgres = Testing.ConditionTrait.enabled(if: PostgresTestDatabase.isAvailable, "PostgreSQL is not installed")

    private let items = DifferentialTable.items
    private let pairs = DifferentialTable.pairs
    private let tags = DifferentialTable.tags
    private let odd = DifferentialTable.odd

    // MARK: - Differential

    @Test("A scripted sequence of writes leaves the same clocks", needsPostgres)
    func scriptedWrites() async throws {
        try await TriggerDifferential.with { diff in
            var step = 0
            func check(_ statements: [DualStatement]) async throws {
                step += 1
                try await diff.run(statements)
                #expect(try await diff.expectSame("step \(step): \(statements)"))
            }
            let blob: SQLValue = .blob([1, 2])
            // Inserts, one and several per transaction, several rows per statement.
            try await check([.insert(items, ["id": .integer(1), "name": .string("a"), "qty": .integer(1), "price": .real(1.5), "data": blob])])
            try await check([.begin, .insert(items, ["id": .integer(2), "name": .string("b")]), .insert(items, ["id": .integer(3), "qty": .integer(3)]), .commit])
            try await check([.insert(items, [["id": .integer(4)], ["id": .integer(5), "price": .real(2.25)]])])
            // Updates: one column, the same value, several columns, NULL arithmetic.
            try await check([.update(items, set: [("name", .string("b"))], key: [.integer(1)])])
            try await check([.update(items, set: [("name", .string("b"))], key: [.integer(1)])])
            try await check([.update(items, set: [("name", .string("b")), ("qty", .integer(2)), ("price", .real(2.25)), ("data", blob)], key: [.integer(1)])])
            try await check([.update(items, raw: "SET qty = qty + 1 WHERE id IN (2, 3)")])
            try await check([.update(items, set: [("data", .null)], key: [.integer(1)])])
            // Delete, re-insert, all in one transaction.
            try await check([.delete(items, key: [.integer(2)])])
            try await check([.insert(items, ["id": .integer(2), "name": .string("again")])])
            try await check([.begin, .delete(items, key: [.integer(2)]), .insert(items, ["id": .integer(2)]), .delete(items, key: [.integer(2)]), .commit])
            try await check([.delete(items, key: [.integer(99)]), .update(items, set: [("qty", .integer(1))], key: [.integer(99)])])
            // Key changes: to a new key, to a deleted key, with and without column changes.
            try await check([.update(items, set: [("id", .integer(10))], key: [.integer(1)])])
            try await check([.update(items, set: [("id", .integer(2)), ("name", .string("z"))], key: [.integer(10)])])
            try await check([.begin, .update(items, set: [("id", .integer(1))], key: [.integer(2)]), .update(items, set: [("qty", .integer(7))], key: [.integer(1)]), .commit])

            // Spec values, so that both sides cannot agree on a wrong answer.
            let clocks = try await diff.postgresClocks(items)
            // 13 transactions wrote. Key 2: deleted (2), inserted (3), deleted (4), inserted (5),
            // deleted (6), a key change onto it (7), a key change away (8, seq 0 of the last one).
            #expect(clocks.contains(["2", Change.sentinelColumn, "8", "13", "0"]))
            // Key 1: deleted by the first key change (2), revived by the last (3, seq 1).
            #expect(clocks.contains(["1", Change.sentinelColumn, "3", "13", "1"]))
            // name of key 1: written twice (2), carried unchanged, changed with a key change (3),
            // carried unchanged by the last key change (seq 2, after both sentinels).
            #expect(clocks.contains(["1", "name", "3", "13", "2"]))
            // qty: written twice (2), carried, then changed after the key change (3, seq 6).
            #expect(clocks.contains(["1", "qty", "3", "13", "6"]))

            // Multi-column keys.
            try await check([.insert(pairs, [["a": .string("x"), "b": .integer(1), "v": .string("v")], ["a": .string("x"), "b": .integer(2)]])])
            try await check([.update(pairs, set: [("w", .integer(5)), ("v", .string("w"))], key: [.string("x"), .integer(1)])])
            try await check([.update(pairs, set: [("b", .integer(3))], key: [.string("x"), .integer(1)])])
            try await check([.update(pairs, set: [("a", .string("y")), ("w", .integer(6))], key: [.string("x"), .integer(3)])])
            try await check([.update(pairs, set: [("a", .string("x")), ("b", .integer(1))], key: [.string("y"), .integer(3)])])
            try await check([.delete(pairs, key: [.string("x"), .integer(2)]), .insert(pairs, ["a": .string("x"), "b": .integer(2), "w": .integer(1)])])

            // Key columns only.
            try await check([.insert(tags, [["tag": .string("a")], ["tag": .string("b")]])])
            try await check([.delete(tags, key: [.string("a")])])
            try await check([.insert(tags, ["tag": .string("a")])])
            try await check([.update(tags, set: [("tag", .string("c"))], key: [.string("b")])])
            try await check([.update(tags, set: [("tag", .string("b"))], key: [.string("c")])])
            try await check([.update(tags, set: [("tag", .string("b"))], key: [.string("b")])])
            // b: inserted (1, version 21), moved away (2), moved back (3, seq 1 of version 25); the
            // update to the same key recorded nothing.
            #expect(try await diff.postgresClocks(tags).contains(["b", Change.sentinelColumn, "3", "25", "1"]))

            // Names that need quoting.
            try await check([.insert(odd, ["key col": .string("k'1"), "it's": .string("x"), "a\"b": .integer(1), "$$x": .string("$$"), "back\\slash": .real(0.5)])])
            try await check([.update(odd, set: [("a\"b", .integer(2)), ("back\\slash", .null)], key: [.string("k'1")])])
            try await check([.update(odd, set: [("key col", .string("k \"2\""))], key: [.string("k'1")])])
            try await check([.delete(odd, key: [.string("k \"2\"")])])
        }
    }

    @Test("Random writes leave the same clocks", needsPostgres, arguments: [UInt64(1), 2, 3])
    func randomWrites(seed: UInt64) async throws {
        try await TriggerDifferential.with { diff in
            var writer = RandomWrites(seed: seed)
            var count = 0
            while count < 300 {
                let batch = writer.nextBatch()
                count += batch.count
                try await diff.run(batch)
                guard try await diff.expectSame("seed \(seed), after statement \(count): \(batch)") else { return }
            }
            // The run must have reached every kind of write.
            for kind in RandomWrites.Kind.allCases {
                #expect(writer.counts[kind, default: 0] >= 5, "seed \(seed): too few \(kind)")
            }
            var clocks: [[String]] = []
            for table in diff.tables { clocks += try await diff.postgresClocks(table).map { Array($0.suffix(4)) } }
            #expect(clocks.contains { $0[0] == Change.sentinelColumn && Int($0[1])! >= 3 }, "seed \(seed): no key came back")
            #expect(clocks.contains { $0[0] != Change.sentinelColumn && Int($0[1])! >= 2 }, "seed \(seed): no cell written twice")
        }
    }

    // MARK: - PostgreSQL only

    @Test("No clocks are written while merging", needsPostgres)
    func mergingFlag() async throws {
        try await TriggerDifferential.with([items, tags]) { diff in
            let s = DualStatement.quoted(diff.schema)
            try await diff.execute("BEGIN")
            try await diff.execute("SET LOCAL cloudsync.merging = 'on'")
            try await diff.execute("INSERT INTO \(s).items (id, name) VALUES (1, 'a'), (2, 'b')")
            try await diff.execute("UPDATE \(s).items SET name = 'c' WHERE id = 1")
            try await diff.execute("UPDATE \(s).items SET id = 3 WHERE id = 2")
            try await diff.execute("DELETE FROM \(s).items WHERE id = 1")
            try await diff.execute("INSERT INTO \(s).tags VALUES ('t')")
            try await diff.execute("COMMIT")
            #expect(try await diff.postgresClocks(items).isEmpty)
            #expect(try await diff.postgresClocks(tags).isEmpty)
            #expect(try await diff.execute("SELECT db_version::text, seq::text FROM \(s).cloudsync_clock") == [["0", "0"]])

            // SET LOCAL ended with the transaction; `off` and a session setting of `on`.
            try await diff.execute("UPDATE \(s).items SET name = 'd' WHERE id = 3")
            try await diff.execute("SET cloudsync.merging = 'off'")
            try await diff.execute("UPDATE \(s).items SET name = 'e' WHERE id = 3")
            try await diff.execute("SET cloudsync.merging = 'on'")
            try await diff.execute("UPDATE \(s).items SET name = 'f' WHERE id = 3")
            #expect(try await diff.postgresClocks(items) == [["3", "name", "2", "2", "0"]])
        }
    }

    @Test("Concurrent writers get distinct versions in commit order", needsPostgres)
    func concurrentTransactions() async throws {
        try await TriggerDifferential.with([items]) { diff in
            let s = DualStatement.quoted(diff.schema)
            try await diff.database.withConnection { second in
                let secondPID = try #require(try await Self.text(second, "SELECT pg_backend_pid()::text"))
                try await Self.text(second, "BEGIN")
                try await diff.execute("BEGIN")
                try await diff.execute("INSERT INTO \(s).items (id, name) VALUES (1, 'first')")
                // The second transaction began first but must wait for the first writer's commit.
                let blocked = Task { try await Self.text(second, "INSERT INTO \(s).items (id, name) VALUES (2, 'second') RETURNING 'done'") }
                var waiting = false
                for _ in 0..<200 where !waiting {
                    let state = try await diff.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = \(secondPID)")
                    waiting = state.first?.first == "Lock"
                    if !waiting { try await Task.sleep(for: .milliseconds(25)) }
                }
                #expect(waiting, "the second writer did not wait for the clock row")
                try await diff.execute("INSERT INTO \(s).items (id, qty) VALUES (3, 3)")
                try await diff.execute("COMMIT")
                #expect(try await blocked.value == "done")
                try await Self.text(second, "COMMIT")
            }

            let versions = try await diff.execute("SELECT k1::text, min(db_version)::text, max(db_version)::text, min(seq)::text, max(seq)::text FROM \(s).items_cloudsync GROUP BY k1 ORDER BY k1")
            #expect(versions == [["1", "1", "1", "0", "3"], ["2", "2", "2", "0", "3"], ["3", "1", "1", "4", "7"]])

            // A rolled-back transaction leaves no version behind.
            try await diff.execute("BEGIN")
            try await diff.execute("INSERT INTO \(s).items (id) VALUES (4)")
            try await diff.execute("ROLLBACK")
            try await diff.execute("INSERT INTO \(s).items (id) VALUES (5)")
            #expect(try await diff.execute("SELECT DISTINCT db_version::text FROM \(s).items_cloudsync WHERE k1 IN (4, 5)") == [["3"]])
        }
    }

    @Test("Stamps: one version per transaction, consecutive seqs, reserved in blocks", needsPostgres)
    func stamps() async throws {
        try await TriggerDifferential.with([tags]) { diff in
            let stamp = "\(DualStatement.quoted(diff.schema)).cloudsync_stamp"
            try await diff.execute("BEGIN")
            #expect(try await diff.execute("SELECT db_version::text, seq::text, encode(site_id, 'hex') FROM \(stamp)()") == [["1", "0", Hex.encode(diff.site)]])
            #expect(try await diff.execute("SELECT db_version::text, seq::text FROM \(stamp)(3)") == [["1", "1"]])
            #expect(try await diff.execute("SELECT db_version::text, seq::text FROM \(stamp)(1)") == [["1", "4"]])
            try await diff.execute("COMMIT")
            #expect(try await diff.execute("SELECT db_version::text, seq::text FROM \(stamp)(2)") == [["2", "0"]])
            #expect(try await diff.execute("SELECT db_version::text, seq::text FROM \(stamp)()") == [["3", "0"]])
        }
    }

    // MARK: - The generator alone

    @Test("Long names are shortened below 63 bytes and stay distinct")
    func objectNames() {
        #expect(PostgresTriggers.objectName("todo", "_cloudsync_insert") == "todo_cloudsync_insert")
        let long = String(repeating: "é", count: 40)
        let a = PostgresTriggers.objectName(long + "a", "_cloudsync_update")
        let b = PostgresTriggers.objectName(long + "b", "_cloudsync_update")
        #expect(a.utf8.count <= 63 && b.utf8.count <= 63)
        #expect(a != b && a.hasSuffix("_cloudsync_update"))
    }

    @Test("Quoting: identifiers, literals, dollar quotes")
    func quoting() {
        #expect(SQLText.identifier("a\"b") == "\"a\"\"b\"")
        #expect(PostgresTriggers.literal("it's a \\") == "E'it''s a \\\\'")
        #expect(PostgresTriggers.dollarQuoted("x $cloudsync$ y").hasPrefix("$cloudsync1$\n"))
        let sql = PostgresTriggers.tableSQL(schema: "s", table: "t\"", key: [(name: "k\"", type: "TEXT")], columns: ["c'"]).joined(separator: "\n")
        #expect(sql.contains("\"s\".\"t\"\"_cloudsync\""))
        #expect(sql.contains("NEW.\"k\"\"\""))
        #expect(sql.contains("E'c'''"))
    }

    /// Runs `sql` on `connection` and returns the first column of the first row.
    @discardableResult
    private static func text(_ connection: PostgresConnection, _ sql: String) async throws -> String? {
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestDatabase.logger) {
            return try row.makeRandomAccess()[0].decode(String?.self)
        }
        return nil
    }
}
