import CloudSyncCore
import CloudSyncTestSupport
import Foundation

// Bounded memory for big syncs (scripts/bigsync): a cloudsync-server on its embedded storage
// and devices (the engine and the extension's network layer over libcurl), each a process of
// its own on loopback, with each process's peak resident memory (VmHWM) next to 128 MiB.
//
//   a) a device with a backlog of --backlog-mib MiB (rows of --row-bytes random bytes) sends
//      it; then a fresh device receives it all.
//   b) a device with one row holding a --blob-mib MiB blob sends it; a fresh device receives it.
//   c) a fresh device joins a database of --rows rows (items, three non-key columns, written
//      into the server's database before it starts) and receives them: rows/s end to end, next
//      to plain SQLite inserting the same rows in one transaction, in the same run.
//
//   scripts/bigsync [--scenarios a,b,c] [--backlog-mib 1024] [--row-bytes 1024] [--blob-mib 200]
//                   [--rows 1000000]

let arguments = CommandLine.arguments
if arguments.count > 1, arguments[1] == "fill" {
    try DeviceCommand(arguments: arguments).fill()
    exit(0)
}
if arguments.count > 1, arguments[1] == "sync" {
    exit(DeviceCommand(arguments: arguments).sync())
}

func option(_ name: String) -> String? { arguments.firstIndex(of: name).map { arguments[$0 + 1] } }
let backlogMiB = Int(option("--backlog-mib") ?? "1024")!
let rowBytes = Int(option("--row-bytes") ?? "1024")!
let blobMiB = Int(option("--blob-mib") ?? "200")!
let initialRows = Int(option("--rows") ?? "1000000")!
let scenarios = Set((option("--scenarios") ?? "a,b,c").split(separator: ",").map(String.init))
let memoryLimit = 128 << 20
let rateGoal = 100_000.0

print("bigsync: cloudsync-server (embedded SQLite storage) and each device a separate process on loopback; target: peak RSS < \(ProcessMemory.mib(memoryLimit)) per process")
var missed = 0
var failed = 0

/// Starts a server with one database of `workload`'s table; returns it, its API key and the
/// sync URL of the database.
func startServer(_ workload: Workload, database: String, seed: ((ServerProcess) throws -> Void)? = nil) throws -> (ServerProcess, key: String, url: String) {
    let server = try ServerProcess()
    server.serveArguments = ["--log-level", "warning"] + (ProcessInfo.processInfo.environment["BIGSYNC_SERVER_ARGS"].map { $0.split(separator: " ").map(String.init) } ?? [])
    let key = try server.createDatabase(database, schema: workload.schema)
    try seed?(server)
    try server.start()
    return (server, key, server.url + "/" + database)
}

func fingerprint(_ path: String, _ workload: Workload) throws -> (rows: Int, hash: UInt64) {
    let handle = try DeviceCommand.api.openDatabase(path: path)
    defer { _ = DeviceCommand.api.closeDatabase(handle) }
    return try workload.fingerprint(of: Connection(handle: handle, api: DeviceCommand.api))
}

@MainActor func verdict(_ peak: Int) -> String {
    if peak >= memoryLimit { missed += 1 }
    return "\(ProcessMemory.mib(peak)) \(peak < memoryLimit ? "(met)" : "(MISSED)")"
}

/// A sync child's outcome, with the CPU seconds it and the server (`serverCPU`) spent.
@MainActor func describe(_ run: ChildProcess, serverCPU: Double) -> String {
    let cpu = String(format: "CPU: device %.1f s, server %.1f s", run.number("cpu"), serverCPU)
    if let error = run.values["error"] {
        failed += 1
        return "FAILED after \(String(format: "%.1f", run.seconds)) s (\(cpu)): \(error.prefix(300))"
    }
    return String(format: "%.0f changes in %.1f s (%@)", run.number("changes"), run.seconds, cpu)
}

/// Runs one sync child (`--send` or `--receive`) against the server `pid` and prints what it
/// did, its peak memory as `role` and the server's over the same span.
@MainActor func measuredSync(_ label: String, role: String, db: String, workload: String, url: String, key: String, direction: String, server pid: String) throws -> ChildProcess {
    ProcessMemory.resetPeak(pid)
    let serverCPU = ProcessCPU.seconds(pid)
    let run = try ChildProcess.run(["sync", "--db", db, "--workload", workload, "--url", url, "--key", key, direction])
    let serverPeak = ProcessMemory.peak(pid)
    print("  \(label) \(describe(run, serverCPU: ProcessCPU.seconds(pid) - serverCPU))")
    print("           peak RSS \(role) \(verdict(Int(run.number("peak")))), server \(verdict(serverPeak))")
    return run
}

/// Scenarios a and b: one device sends `rows` rows of `size` bytes, a fresh one receives them.
@MainActor func transfer(_ title: String, rows: Int, size: Int) throws {
    print("")
    print(title)
    let (server, key, url) = try startServer(.blobs, database: "big")
    defer { server.stop() }
    let pid = String(server.processIdentifier!)
    let uploader = server.dataDirectory.appendingPathComponent("uploader.sqlite").path
    let downloader = server.dataDirectory.appendingPathComponent("downloader.sqlite").path
    let fill = try ChildProcess.run(["fill", "--db", uploader, "--workload", "blobs", "--rows", String(rows), "--size", String(size)])
    print(String(format: "  local writes (not measured): %d rows in %.1f s", rows, fill.seconds))

    let send = try measuredSync("send:   ", role: "uploader", db: uploader, workload: "blobs", url: url, key: key, direction: "--send", server: pid)
    let receive = try measuredSync("receive:", role: "downloader", db: downloader, workload: "blobs", url: url, key: key, direction: "--receive", server: pid)
    if send.values["error"] == nil, receive.values["error"] == nil {
        let (sent, received) = (try fingerprint(uploader, .blobs), try fingerprint(downloader, .blobs))
        print("  same \(sent.rows) rows on both devices: \(sent == received ? "yes" : "NO (\(received.rows) rows received)")")
        if sent != received { failed += 1 }
    }
}

if scenarios.contains("a") {
    let rows = max(1, (backlogMiB << 20) / max(1, rowBytes))
    try transfer("a) backlog of \(backlogMiB) MiB: \(rows) rows of \(rowBytes) random bytes", rows: rows, size: rowBytes)
}
if scenarios.contains("b") {
    try transfer("b) one row holding a \(blobMiB) MiB blob", rows: 1, size: blobMiB << 20)
}

if scenarios.contains("c") {
    print("")
    print("c) initial sync: a fresh device joins a database of \(initialRows) rows (items: id and three columns)")
    var seedSeconds = 0.0
    let (server, key, url) = try startServer(.items, database: "initial") { server in
        let seed = try ChildProcess.run(["fill", "--db", server.databaseFile("initial").path, "--workload", "items", "--rows", String(initialRows), "--existing"])
        seedSeconds = seed.seconds
    }
    defer { server.stop() }
    print(String(format: "  seeded into the server's database (not measured): %.1f s", seedSeconds))
    let pid = String(server.processIdentifier!)
    let device = server.dataDirectory.appendingPathComponent("joiner.sqlite").path
    let receive = try measuredSync("receive:", role: "device", db: device, workload: "items", url: url, key: key, direction: "--receive", server: pid)

    // The baseline: plain SQLite writing the same rows into a file, in one transaction.
    let plainPath = server.dataDirectory.appendingPathComponent("plain.sqlite").path
    let handle = try DeviceCommand.api.openDatabase(path: plainPath)
    let plain = Connection(handle: handle, api: DeviceCommand.api)
    try plain.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \(Workload.items.schema)")
    let start = Date()
    try plain.execute("BEGIN")
    try Workload.items.insert(first: 0, last: initialRows - 1, size: 0, on: plain)
    try plain.execute("COMMIT")
    let baseline = Date().timeIntervalSince(start)
    _ = DeviceCommand.api.closeDatabase(handle)

    if receive.values["error"] == nil {
        let rate = Double(initialRows) / receive.seconds
        if rate < rateGoal { missed += 1 }
        print(String(format: "  end to end (process start to exit): %.2f s: %.0f rows/s (goal >= %.0f rows/s: %@)", receive.seconds, rate, rateGoal, rate >= rateGoal ? "met" : "MISSED"))
        print(String(format: "  plain SQLite inserting the same %d rows in one transaction: %.2f s (%.0f rows/s); initial sync takes %.1fx that", initialRows, baseline, Double(initialRows) / baseline, receive.seconds / baseline))
        let (expected, received) = (try fingerprint(server.databaseFile("initial").path, .items), try fingerprint(device, .items))
        print("  same \(expected.rows) rows on the server and the device: \(expected == received ? "yes" : "NO (\(received.rows) rows received)")")
        if expected != received { failed += 1 }
    }
}

print("")
print(failed > 0 ? "\(failed) sync(s) failed or diverged" : "every sync completed with the same rows")
print(missed == 0 ? "all targets met" : "\(missed) target(s) missed")
exit(failed > 0 ? 1 : 0)
