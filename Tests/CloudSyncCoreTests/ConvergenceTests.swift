import CloudSyncTestSupport
import Foundation
import Testing
@testable import CloudSyncCore

/// Randomized convergence: several replicas apply random writes, exchange payloads in random
/// order with duplicates and stale payloads, and must end with identical rows and winners.
///
/// The normal run uses fixed seeds; `scripts/soak N` runs N more (the soak).
@Suite("Convergence")
struct ConvergenceTests {
    static let schema = [
        "CREATE TABLE items(id TEXT PRIMARY KEY NOT NULL, name TEXT, qty INTEGER NOT NULL DEFAULT 0, price REAL, data BLOB)",
        "CREATE TABLE tags(name TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY(name, owner))",
        "CREATE TABLE \"odd \"\"table\"\"\"(\"key col\" TEXT NOT NULL, \"order\" INTEGER NOT NULL, \"select\" TEXT DEFAULT 'x', PRIMARY KEY(\"key col\", \"order\"))",
    ]

    static let fixedSeeds: [UInt64] = Array(1...12)

    static var soakSeeds: [UInt64] { Soak.seeds(startingAt: 1000) }

    @Test("three replicas converge", arguments: fixedSeeds)
    func threeReplicas(seed: UInt64) throws {
        var simulation = Simulation(seed: seed, replicas: 3, algorithm: "cls")
        try simulation.run()
    }

    @Test("five replicas converge with many conflicts", arguments: [101, 102, 103] as [UInt64])
    func fiveReplicas(seed: UInt64) throws {
        var simulation = Simulation(seed: seed, replicas: 5, algorithm: "cls", keys: 4, steps: 300)
        try simulation.run()
    }

    @Test("delete-wins tables converge", arguments: [201, 202, 203] as [UInt64])
    func deleteWins(seed: UInt64) throws {
        var simulation = Simulation(seed: seed, replicas: 3, algorithm: "dws")
        try simulation.run()
    }

    @Test("add-wins tables converge", arguments: [301, 302, 303] as [UInt64])
    func addWins(seed: UInt64) throws {
        var simulation = Simulation(seed: seed, replicas: 3, algorithm: "aws")
        try simulation.run()
    }

    @Test("grow-only tables converge", arguments: [401, 402] as [UInt64])
    func growOnly(seed: UInt64) throws {
        var simulation = Simulation(seed: seed, replicas: 3, algorithm: "gos")
        try simulation.run()
    }

    @Test("soak (scripts/soak)", .enabled(if: !soakSeeds.isEmpty))
    func soak() throws {
        for seed in Self.soakSeeds {
            var simulation = Simulation(seed: seed, replicas: 3 + Int(seed % 3), algorithm: ["cls", "dws", "aws"][Int(seed % 3)])
            try simulation.run()
        }
        try Soak.record("engine", seeds: Self.soakSeeds.count)
    }
}

/// One randomized run.
struct Simulation {
    var random: SeededGenerator
    let seed: UInt64
    let replicaCount: Int
    let algorithm: String
    let keys: Int
    let steps: Int

    init(seed: UInt64, replicas: Int, algorithm: String, keys: Int = 6, steps: Int = 200) {
        self.seed = seed
        self.random = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        self.replicaCount = replicas
        self.algorithm = algorithm
        self.keys = keys
        self.steps = steps
    }

    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }

    mutating func key() -> String { "k\(int(0..<keys))" }

    mutating func value() -> String {
        switch int(0..<6) {
        case 0: return "NULL"
        case 1: return String(int(-3..<4))
        case 2: return String(Double(int(-20..<20)) / 4)
        case 3: return "'" + ["a", "b", "ab", "B", "", "é"][int(0..<6)] + "'"
        case 4: return "x'" + ["", "00", "ff", "00ff", "61"][int(0..<5)] + "'"
        default: return String(int(0..<2))
        }
    }

    /// One random local write (or a short transaction of several).
    mutating func write(_ db: TestDatabase) throws {
        let statement: String
        switch int(0..<11) {
        case 0, 1: statement = "INSERT OR IGNORE INTO items(id, name, qty, price, data) VALUES ('\(key())', \(value()), \(int(0..<3)), \(value()), \(value()))"
        case 2: statement = "INSERT OR IGNORE INTO items(id) VALUES ('\(key())')"
        case 3, 4: statement = "UPDATE items SET \(["name", "price", "data"][int(0..<3)]) = \(value()) WHERE id = '\(key())'"
        case 5: statement = "UPDATE items SET qty = qty + 1 WHERE id = '\(key())'"
        case 6: statement = "DELETE FROM items WHERE id = '\(key())'"
        case 7: statement = "UPDATE OR IGNORE items SET id = '\(key())' WHERE id = '\(key())'"
        case 8: statement = chance(0.6)
            ? "INSERT OR IGNORE INTO tags VALUES ('t\(int(0..<3))', 'o\(int(0..<2))')"
            : "DELETE FROM tags WHERE name = 't\(int(0..<3))'"
        case 9: statement = chance(0.5)
            ? "INSERT OR IGNORE INTO \"odd \"\"table\"\"\" VALUES ('\(key())', \(int(0..<2)), \(value()))"
            : "UPDATE \"odd \"\"table\"\"\" SET \"select\" = \(value()) WHERE \"key col\" = '\(key())'"
        case _ where algorithm == "gos":
            statement = "INSERT OR IGNORE INTO items(id, name) VALUES ('\(key())', \(value()))"
        default:
            // A transaction with a rolled-back savepoint inside.
            try db.execute("BEGIN")
            try db.execute("UPDATE items SET name = \(value()) WHERE id = '\(key())'")
            try db.execute("SAVEPOINT s; DELETE FROM items WHERE id = '\(key())'; ROLLBACK TO s; RELEASE s")
            try db.execute("INSERT OR IGNORE INTO items(id, name) VALUES ('\(key())', \(value()))")
            try db.execute("COMMIT")
            return
        }
        do {
            try db.execute(statement)
        } catch let error as CloudSyncError where algorithm == "gos" && error.message.contains("grow-only") {
            // Expected: grow-only tables refuse updates and deletes.
        }
    }

    mutating func run() throws {
        let replicas = try (0..<replicaCount).map { _ in try TestDatabase() }
        for db in replicas {
            for statement in ConvergenceTests.schema { try db.execute(statement) }
            try db.execute("SELECT cloudsync_init('items', '\(algorithm)')")
            try db.execute("SELECT cloudsync_init('tags', '\(algorithm)')")
            try db.execute("SELECT cloudsync_init('odd \"table\"', '\(algorithm)')")
        }
        var sent: [[UInt8]] = []
        for _ in 0..<steps {
            let actor = int(0..<replicaCount)
            switch int(0..<10) {
            case 0..<6:
                try write(replicas[actor])
            case 6..<8:
                // Changes since a random point: partial, possibly stale.
                let source = replicas[actor]
                let version = try source.integer("SELECT cloudsync_db_version()") ?? 0
                let since = Int64(int(0..<Int(version + 1)))
                if let payload = try source.payload("WHERE db_version > \(since)") {
                    sent.append(payload)
                    try replicas[int(0..<replicaCount)].apply(payload)
                }
            default:
                // Re-deliver an old payload anywhere (duplicates, out of order).
                if !sent.isEmpty {
                    try replicas[int(0..<replicaCount)].apply(sent[int(0..<sent.count)])
                }
            }
        }
        // Full exchange in a random order, twice, so everything reaches everyone.
        for _ in 0..<2 {
            var pairs = (0..<replicaCount).flatMap { a in (0..<replicaCount).filter { $0 != a }.map { (a, $0) } }
            pairs.shuffle(using: &random)
            for (a, b) in pairs { try replicas[a].send(to: replicas[b]) }
        }
        let reference = replicas[0]
        for (index, db) in replicas.enumerated().dropFirst() {
            for table in ["items", "tags", "odd \"table\""] {
                let expected = try reference.snapshot(table)
                let actual = try db.snapshot(table)
                #expect(actual == expected, "seed \(seed) (\(algorithm)): replica \(index) differs in \(table)")
            }
            let (mine, theirs) = (try winners(db), try winners(reference))
            #expect(mine == theirs, "seed \(seed) (\(algorithm)): replica \(index) has other winners: only here \(mine.subtracting(theirs)), only in replica 0 \(theirs.subtracting(mine))")
        }
    }

    /// The feed without the local stamps (db_version, seq): what every replica must agree on.
    func winners(_ db: TestDatabase) throws -> Set<[SQLValue]> {
        Set(try db.rows("SELECT tbl, pk, col_name, col_value, col_version, cl FROM cloudsync_changes"))
    }
}
