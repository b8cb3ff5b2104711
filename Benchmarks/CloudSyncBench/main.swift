import CloudSyncCore
import CSQLiteLinked
import Foundation

// Measures the engine against plain SQLite in the same run: the same operations on a table
// without and with sync, then payload encode and apply. Run with `scripts/bench`.

let arguments = CommandLine.arguments
let rowCount = arguments.firstIndex(of: "--rows").map { Int(arguments[$0 + 1])! } ?? 100_000
let repetitions = arguments.firstIndex(of: "--repeat").map { Int(arguments[$0 + 1])! } ?? 3
let api = SQLiteAPI(routines: cloudsync_linked_routines())
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-bench-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

if arguments.contains("--block-text") {
    try blockTextBenchmark(
        lines: arguments.firstIndex(of: "--lines").map { Int(arguments[$0 + 1])! } ?? 10_000,
        edits: arguments.firstIndex(of: "--edits").map { Int(arguments[$0 + 1])! } ?? 100)
    try? FileManager.default.removeItem(at: directory)
    exit(0)
}

// The rows, made before any timing so that only SQLite and the engine are measured.
let ids = (0..<rowCount).map { String(format: "item-%08d", $0) }
let names = (0..<rowCount).map { "name of item \($0)" }

/// One open database for one measurement.
final class Bench {
    let handle: OpaquePointer
    let context: SyncContext
    var connection: Connection { context.connection }

    /// - Parameter memoryTempStore: `PRAGMA temp_store = MEMORY`, which keeps SQLite's
    ///   statement journals (used by every statement that fires triggers) off the disk.
    init(_ name: String, synced: Bool, memoryTempStore: Bool = true) throws {
        let path = directory.appendingPathComponent("\(name)-\(UUID().uuidString).db").path
        handle = try api.openDatabase(path: path)
        context = try CloudSyncEngine.register(database: handle, api: api)
        try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        if memoryTempStore { try connection.execute("PRAGMA temp_store = MEMORY") }
        try connection.execute("CREATE TABLE items(id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT '', quantity INTEGER NOT NULL DEFAULT 0, price REAL)")
        if synced { try connection.execute("SELECT cloudsync_init('items')") }
    }

    deinit {
        context.releaseResources()
        api.closeDatabase(handle)
    }

    func insertRows() throws {
        try connection.execute("BEGIN")
        let insert = try connection.prepare("INSERT INTO items(id, name, quantity, price) VALUES (?1, ?2, ?3, ?4)")
        for i in 0..<rowCount {
            insert.reset()
            insert.bind(ids[i], at: 1)
            insert.bind(names[i], at: 2)
            insert.bind(Int64(i % 1000), at: 3)
            try insert.bind(.real(Double(i) * 0.25), at: 4)
            try insert.run()
        }
        try connection.execute("COMMIT")
    }
}

/// Peak resident memory since the last reset, in bytes (Linux: VmHWM, reset via clear_refs).
enum Memory {
    static func resetPeak() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }
    static func field(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return 0
    }
    static var peak: Int { field("VmHWM") }
    static var current: Int { field("VmRSS") }
}

struct Measurement {
    var seconds: Double
    var memory: Int
}

/// Runs `setup` then times `body` (median of the repetitions), reporting peak memory growth.
func measure<State>(_ setup: () throws -> State, _ body: (State) throws -> Void) throws -> Measurement {
    var times: [Double] = []
    var memory = 0
    for _ in 0..<repetitions {
        let state = try setup()
        Memory.resetPeak()
        let baseline = Memory.current
        let start = ContinuousClock.now
        try body(state)
        let elapsed = start.duration(to: .now)
        times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        memory = max(memory, Memory.peak - baseline)
    }
    return Measurement(seconds: times.sorted()[times.count / 2], memory: memory)
}

func populated(synced: Bool) throws -> Bench {
    let bench = try Bench(synced ? "synced" : "plain", synced: synced)
    try bench.insertRows()
    return bench
}

func payloadOfAllChanges(_ bench: Bench) throws -> [UInt8] {
    guard case .blob(let bytes)? = try bench.connection.scalar(
        "SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes")
    else { fatalError("no payload") }
    return bytes
}

print("SQLite Sync for Swift benchmark: \(rowCount) rows x 3 non-key columns, median of \(repetitions), SQLite \(api.libraryVersionNumber)")
print("WAL, synchronous=NORMAL, temp_store=MEMORY unless noted; one prepared INSERT per row in one transaction")

let plainInsert = try measure({ try Bench("plain", synced: false) }) { try $0.insertRows() }
let syncedInsert = try measure({ try Bench("synced", synced: true) }) { try $0.insertRows() }
let plainInsertFileTemp = try measure({ try Bench("plain", synced: false, memoryTempStore: false) }) { try $0.insertRows() }
let syncedInsertFileTemp = try measure({ try Bench("synced", synced: true, memoryTempStore: false) }) { try $0.insertRows() }
let plainUpdate = try measure({ try populated(synced: false) }) { try $0.connection.execute("UPDATE items SET quantity = quantity + 1") }
let syncedUpdate = try measure({ try populated(synced: true) }) { try $0.connection.execute("UPDATE items SET quantity = quantity + 1") }
let plainDelete = try measure({ try populated(synced: false) }) { try $0.connection.execute("DELETE FROM items") }
let syncedDelete = try measure({ try populated(synced: true) }) { try $0.connection.execute("DELETE FROM items") }
var payloadSize = 0
let encode = try measure({ try populated(synced: true) }) { payloadSize = try payloadOfAllChanges($0).count }
let encodeDirect = try measure({ try populated(synced: true) }) { bench in
    _ = try bench.context.encodePayload()
}
let payload = try payloadOfAllChanges(try populated(synced: true))
let apply = try measure({ try Bench("replica", synced: true) }) { replica in
    _ = try replica.connection.scalar("SELECT cloudsync_payload_decode(?1)", [.blob(payload)])
}

struct Row {
    var name: String
    var measured: Measurement
    var baseline: Measurement
    var baselineName: String
    var target: Double
}

let rows = [
    Row(name: "insert", measured: syncedInsert, baseline: plainInsert, baselineName: "plain insert", target: 4),
    Row(name: "insert, temp_store default", measured: syncedInsertFileTemp, baseline: plainInsertFileTemp, baselineName: "same, plain", target: .infinity),
    Row(name: "update 1 column", measured: syncedUpdate, baseline: plainUpdate, baselineName: "plain update", target: 4),
    Row(name: "delete", measured: syncedDelete, baseline: plainDelete, baselineName: "plain delete", target: .infinity),
    Row(name: "payload encode", measured: encode, baseline: plainInsert, baselineName: "plain insert", target: 2),
    Row(name: "payload encode, Swift API", measured: encodeDirect, baseline: plainInsert, baselineName: "plain insert", target: .infinity),
    Row(name: "payload apply", measured: apply, baseline: plainInsert, baselineName: "plain insert", target: 4),
]

func ms(_ seconds: Double) -> String { String(format: "%8.1f ms", seconds * 1000) }
func mib(_ bytes: Int) -> String { String(format: "%6.1f MiB", Double(bytes) / 1_048_576) }

print("")
print("plain SQLite: insert \(ms(plainInsert.seconds)), update \(ms(plainUpdate.seconds)), delete \(ms(plainDelete.seconds))")
print("payload: \(payloadSize) bytes for \(rowCount * 3) changes")
print("")
print("operation                    synced       ratio  (vs)              target        peak memory")
var failures = 0
for row in rows {
    let ratio = row.measured.seconds / row.baseline.seconds
    let verdict = row.target.isInfinite ? "  -" : (ratio <= row.target ? "<= \(Int(row.target))x ok" : "> \(Int(row.target))x MISSED")
    if !row.target.isInfinite && ratio > row.target { failures += 1 }
    print("\(row.name.padding(toLength: 27, withPad: " ", startingAt: 0)) \(ms(row.measured.seconds))  \(String(format: "%5.2fx", ratio))  \(row.baselineName.padding(toLength: 14, withPad: " ", startingAt: 0))  \(verdict.padding(toLength: 12, withPad: " ", startingAt: 0))  \(mib(row.measured.memory))")
}
print("")
print(failures == 0 ? "all targets met" : "\(failures) target(s) missed")
