import CloudSyncCore
import Foundation

/// `cloudsync-bench --block-text [--lines N] [--edits N]`: a document of `lines` lines, edited
/// on two replicas (`edits` single-line updates each, different lines), synced both ways; the
/// same with the column in block mode and as a whole cell. Prints per-side local edit time,
/// payload encode time and size, and apply time (median of the repetitions).
func blockTextBenchmark(lines: Int, edits: Int) throws {
    struct Figures {
        var edit: [Double] = [], encode: [Double] = [], apply: [Double] = []
        var bytes = 0
        var changes = 0
        var bothSurvive = true
    }

    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = start.duration(to: .now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    let document = (0..<lines).map { "line \($0): some words of the document, as typed by someone" }

    func replica(_ name: String, block: Bool) throws -> Bench {
        let bench = try Bench(name, synced: false)
        try bench.connection.execute("CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT cloudsync_init('notes')")
        if block { try bench.connection.execute("SELECT cloudsync_set_column('notes', 'body', 'algo', 'block')") }
        return bench
    }

    func run(block: Bool) throws -> Figures {
        var figures = Figures()
        for _ in 0..<repetitions {
            let a = try replica("a", block: block), b = try replica("b", block: block)
            try a.connection.run("INSERT INTO notes VALUES ('doc', ?1)", [.string(document.joined(separator: "\n"))])
            try b.context.applyPayload(try a.context.encodePayload()!.payload)
            let base = try a.context.databaseVersion()
            var texts = [document, document]
            // A edits lines 0, 2, 4, …; B edits lines 1, 3, 5, … (spread over the document).
            for (side, bench) in [a, b].enumerated() {
                let update = try bench.connection.prepare("UPDATE notes SET body = ?1 WHERE id = 'doc'")
                figures.edit.append(try seconds {
                    for edit in 0..<edits {
                        let line = (edit * (lines / edits)) / 2 * 2 + side
                        texts[side][line] += " (edited on \(side == 0 ? "A" : "B"))"
                        update.reset()
                        try update.bind([.string(texts[side].joined(separator: "\n"))])
                        try update.run()
                    }
                })
            }
            var payloads: [[UInt8]] = []
            for bench in [a, b] {
                var payload: [UInt8] = []
                figures.encode.append(try seconds {
                    let encoded = try bench.context.encodePayload(where: [.dbVersionAfter(base)])!
                    payload = encoded.payload
                    figures.changes = encoded.count
                })
                figures.bytes = payload.count
                payloads.append(payload)
            }
            figures.apply.append(try seconds { try b.context.applyPayload(payloads[0]) })
            figures.apply.append(try seconds { try a.context.applyPayload(payloads[1]) })
            let merged = try a.connection.scalar("SELECT body FROM notes")?.stringValue ?? ""
            let other = try b.connection.scalar("SELECT body FROM notes")?.stringValue ?? ""
            figures.bothSurvive = merged == other && merged.contains("(edited on A)") && merged.contains("(edited on B)")
        }
        return figures
    }

    func median(_ values: [Double]) -> String { ms(values.sorted()[values.count / 2]) }

    print("block text: a \(lines)-line document (\(document.joined(separator: "\n").utf8.count) bytes), \(edits) single-line updates on each of two replicas")
    print("mode         edit (\(edits) updates)  encode       payload    changes  apply        both sides' edits kept")
    for (name, block) in [("block", true), ("whole cell", false)] {
        let f = try run(block: block)
        print("\(name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(median(f.edit))         \(median(f.encode))  \(String(format: "%7d B", f.bytes))  \(String(format: "%7d", f.changes))  \(median(f.apply))  \(f.bothSurvive ? "yes" : "no")")
    }
}
