import CloudSyncTestSupport
import Testing
@testable import CloudSyncCore

/// Randomized convergence of block text: replicas edit lines concurrently and exchange
/// payloads in random order with duplicates.
@Suite("Block text: randomized convergence")
struct BlockTextConvergenceTests {
    /// What the replicas did to lines, to check that no line nobody touched is lost.
    ///
    /// Inserted lines must survive unless someone edited, deleted or moved them. The new text
    /// of an edit is not tracked: two edits of one line are a true conflict with one winner.
    struct Ledger {
        var inserted: Set<String> = []
        var touched: Set<String> = []
        var counter = 0

        mutating func fresh(_ replica: Int, inserted isInsert: Bool = true) -> String {
            counter += 1
            let line = "r\(replica)-line\(counter)"
            if isInsert { inserted.insert(line) }
            return line
        }
    }

    /// One random local edit of the body of `id` on `db`.
    static func randomEdit(_ db: TestDatabase, replica: Int, ledger: inout Ledger, using generator: inout SeededGenerator, id: String = "n1") throws {
        var lines = (try db.body(id) ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines == [""] { lines = [] }
        switch Int.random(in: 0..<10, using: &generator) {
        case 0..<4:
            lines.insert(ledger.fresh(replica), at: Int.random(in: 0...lines.count, using: &generator))
        case 4..<6 where !lines.isEmpty:
            let index = Int.random(in: 0..<lines.count, using: &generator)
            ledger.touched.insert(lines[index])
            lines[index] = ledger.fresh(replica, inserted: false)
        case 6..<8 where !lines.isEmpty:
            ledger.touched.insert(lines.remove(at: Int.random(in: 0..<lines.count, using: &generator)))
        case 8..<10 where lines.count > 1:
            let line = lines.remove(at: Int.random(in: 0..<lines.count, using: &generator))
            ledger.touched.insert(line)
            lines.insert(line, at: Int.random(in: 0...lines.count, using: &generator))
        default:
            lines.append(ledger.fresh(replica))
        }
        try db.setBody(lines.joined(separator: "\n"), id: id)
    }

    /// Checks equal texts and that every line inserted and never touched is there.
    ///
    /// A line may appear twice: 1.x's diff moves a line by removing the lines it jumps over and
    /// adding them again, so two devices moving lines around the same untouched line each
    /// re-add it (a copy, never a loss).
    static func check(_ replicas: [TestDatabase], _ ledger: Ledger, seed: UInt64) throws {
        let texts = try replicas.map { try $0.body() }
        #expect(Set(texts).count == 1, "seed \(seed): texts differ: \(texts)")
        let lines = Set((texts[0] ?? "").split(separator: "\n").map(String.init))
        for line in ledger.inserted.subtracting(ledger.touched) {
            #expect(lines.contains(line), "seed \(seed): untouched line \(line) lost")
        }
    }

    @Test("3–4 replicas, random inserts, edits, deletes and moves, random delivery with duplicates", arguments: 1...16)
    func randomized(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let count = 3 + Int(seed % 2)
        let replicas = try (0..<count).map { _ in try notesDatabase() }
        var ledger = Ledger()
        let base = (0..<5).map { _ in ledger.fresh(0) }
        try replicas[0].connection.run("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', ?1)", [.string(base.joined(separator: "\n"))])
        for other in replicas.dropFirst() { try replicas[0].send(to: other) }

        var pool: [[UInt8]] = []
        for _ in 0..<60 {
            let r = Int.random(in: 0..<count, using: &generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0:
                try Self.randomEdit(replicas[r], replica: r, ledger: &ledger, using: &generator)
            case 1:
                if let payload = try replicas[r].payload() { pool.append(payload) }
            default:
                if !pool.isEmpty {
                    // Any payload, old or new, possibly again.
                    try replicas[r].apply(pool[Int.random(in: 0..<pool.count, using: &generator)])
                }
            }
        }
        for payload in pool.shuffled(using: &generator) {
            try replicas[Int.random(in: 0..<count, using: &generator)].apply(payload)
        }
        for _ in 0..<2 {
            for a in replicas { for b in replicas where a !== b { try a.send(to: b) } }
        }
        try Self.check(replicas, ledger, seed: seed)
    }

    @Test("row deletes and re-inserts mixed with line edits converge (causal length rules hold for blocks)", arguments: 1...30)
    func withRowLifecycle(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed &* 7919)
        let replicas = try (0..<3).map { _ in try notesDatabase() }
        var ledger = Ledger()
        try replicas[0].connection.run("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', ?1)", [.string("a\nb\nc")])
        for other in replicas.dropFirst() { try replicas[0].send(to: other) }
        var pool: [[UInt8]] = []
        for _ in 0..<50 {
            let r = Int.random(in: 0..<3, using: &generator)
            let db = replicas[r]
            let exists = try db.integer("SELECT count(*) FROM notes") == 1
            switch Int.random(in: 0..<10, using: &generator) {
            case 0 where exists:
                try db.execute("DELETE FROM notes WHERE id = 'n1'")
            case 1 where !exists:
                try db.connection.run("INSERT INTO notes(id, title, body) VALUES ('n1', 'again', ?1)", [.string(ledger.fresh(r) + "\n" + ledger.fresh(r))])
            case 2..<6 where exists:
                try Self.randomEdit(db, replica: r, ledger: &ledger, using: &generator)
            case 6..<8:
                if let payload = try db.payload() { pool.append(payload) }
            default:
                if !pool.isEmpty { try db.apply(pool[Int.random(in: 0..<pool.count, using: &generator)]) }
            }
        }
        for payload in pool.shuffled(using: &generator) { try replicas[Int.random(in: 0..<3, using: &generator)].apply(payload) }
        for _ in 0..<2 { for a in replicas { for b in replicas where a !== b { try a.send(to: b) } } }
        let states = try replicas.map { try $0.rows("SELECT id, title, body FROM notes") }
        #expect(states[1] == states[0] && states[2] == states[0], "seed \(seed): \(states)")
        let blocks = try replicas.map { try $0.blocks().map { "\($0.key)=\($0.text)" } }
        #expect(blocks[1] == blocks[0] && blocks[2] == blocks[0], "seed \(seed)")
        // The base column is exactly the materialized blocks.
        if let body = states[0].first?[2].stringValue {
            #expect(body == (try replicas[0].blocks().map(\.text).joined(separator: "\n")))
        }
    }

    @Test("our replicas mixed with replicas replaying 1.0.12's recorded block changes converge", arguments: 1...6)
    func mixedWithReference(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for vector in BlockVectors.cases {
            let replicas = try (0..<3).map { _ in try notesDatabase(delimiter: vector.delimiter) }
            var pool: [[UInt8]] = [vector.basePayload, vector.editPayloadA, vector.editPayloadB]
            // Replica 0 replays 1.0.12's edits only; the others edit too.
            try replicas[1].apply(vector.basePayload)
            try replicas[2].apply(vector.basePayload)
            var ledger = Ledger()
            for _ in 0..<8 {
                let r = Int.random(in: 1...2, using: &generator)
                if Bool.random(using: &generator) {
                    try Self.randomEdit(replicas[r], replica: r, ledger: &ledger, using: &generator)
                    if let payload = try replicas[r].payload() { pool.append(payload) }
                }
                let target = replicas[Int.random(in: 0..<3, using: &generator)]
                // A payload that needs the base may arrive first: a replica may see an edit of a
                // line it never had, which must still converge.
                try target.apply(pool[Int.random(in: 0..<pool.count, using: &generator)])
            }
            for payload in pool.shuffled(using: &generator) + pool {
                for replica in replicas { try replica.apply(payload) }
            }
            for a in replicas { for b in replicas where a !== b { try a.send(to: b) } }
            let texts = try replicas.map { try $0.body() }
            #expect(Set(texts).count == 1, "\(vector.name) seed \(seed): \(texts)")
        }
    }
}
