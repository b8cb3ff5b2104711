import CloudSyncCore
import CloudSyncCurl
import CloudSyncNetwork
import CSQLiteLinked
import Foundation

/// What a child process of the benchmark does: it runs as `cloudsync-bigsync fill ...` or
/// `cloudsync-bigsync sync ...`, so that each device is a process of its own whose peak memory
/// is its own, and prints one `RESULT key=value ...` line for the parent.
struct DeviceCommand {
    let arguments: [String]

    func option(_ name: String) -> String? { arguments.firstIndex(of: name).map { arguments[$0 + 1] } }

    static let api = SQLiteAPI(routines: cloudsync_linked_routines())

    /// Opens (creating) the database file with the engine; with `initialize`, creates the
    /// workload's table and synchronizes it.
    static func open(_ path: String, _ workload: Workload, initialize: Bool) throws(CloudSyncError) -> (OpaquePointer, SyncContext) {
        let handle = try api.openDatabase(path: path)
        let context = try CloudSyncEngine.register(database: handle, api: api)
        // What an application with a large database would set (docs/benchmarks.md).
        try context.connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY")
        if initialize {
            try context.connection.execute(workload.schema)
            try context.initialize(table: workload.table)
        }
        return (handle, context)
    }

    /// `fill --db PATH --workload W --rows N --size BYTES [--existing]`: writes N rows in
    /// transactions of at most 10,000 rows (or 64 MiB). `--existing`: the table is already
    /// synchronized (a server's database file, written before the server starts).
    func fill() throws {
        let workload = Workload(rawValue: option("--workload")!)!
        let rows = Int(option("--rows")!)!
        let size = Int(option("--size") ?? "0")!
        let (handle, context) = try Self.open(option("--db")!, workload, initialize: !arguments.contains("--existing"))
        let batch = max(1, min(10_000, (64 << 20) / max(1, size)))
        var first = 0
        while first < rows {
            let last = min(rows, first + batch) - 1
            try context.connection.execute("BEGIN")
            try workload.insert(first: first, last: last, size: size, on: context.connection)
            try context.connection.execute("COMMIT")
            first = last + 1
        }
        context.releaseResources()
        _ = Self.api.closeDatabase(handle)
        print("RESULT rows=\(rows)")
    }

    /// `sync --db PATH --workload W --url URL --key KEY --send|--receive`: a device sends its
    /// unsent changes, or (a fresh one) receives everything the server has. Reports the
    /// changes, the seconds and its peak resident memory, also when the sync fails.
    func sync() -> Int32 {
        let workload = Workload(rawValue: option("--workload")!)!
        let path = option("--db")!
        let fresh = !FileManager.default.fileExists(atPath: path)
        let start = Date()
        var changes = 0
        var failure: String?
        do {
            let (handle, context) = try Self.open(path, workload, initialize: fresh)
            defer {
                context.releaseResources()
                _ = Self.api.closeDatabase(handle)
            }
            var endpoint = try ConnectionString(parsing: option("--url")!)
            endpoint.credential = .apiKey(option("--key")!)
            let session = NetworkSession(context: context, endpoint: endpoint, transport: try CurlTransport(requestTimeout: 600))
            if arguments.contains("--send") {
                changes = try session.sendChanges()
            } else {
                // A round stops after `maxDownloadsPerCheck` pages: check until nothing comes.
                while case let received = try session.checkChanges(), received > 0 { changes += received }
            }
        } catch {
            failure = "\(error)"
        }
        let seconds = Date().timeIntervalSince(start)
        let error = failure.map { " error=" + $0.replacingOccurrences(of: "\n", with: " ") } ?? ""
        print("RESULT changes=\(changes) seconds=\(seconds) cpu=\(ProcessCPU.ownSeconds()) peak=\(ProcessMemory.peak())\(error)")
        return failure == nil ? 0 : 1
    }
}
