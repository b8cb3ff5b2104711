import CloudSyncCore
import CloudSyncCurl
import CloudSyncNetwork
import CSQLiteLinked
import Foundation
import Synchronization

// Load test: N simulated devices sync concurrently against one cloudsync-server over loopback.
// Each device runs rounds of 20-200 local changes followed by one sync; the report gives merged
// changes per second and sync latency percentiles, then checks that every device converged.
//
//   scripts/loadtest [--devices 50] [--rounds 10] [--postgres URL] [--instances 1] [--rls USERS]
//                    [--server URL --apikey KEY --database NAME] [--propagation WRITES]
//                    [--subscriptions N [--writes W]] [--protocol-v1]
//
// Without --server it starts `cloudsync-server` (next to this binary) on a fresh data directory,
// or with --postgres on that PostgreSQL (a fresh managed database); --instances N starts N
// server processes on the same storage (PostgreSQL only) and every sync goes to one of them
// at random. --rls USERS signs the devices in with access tokens of USERS users (device i is
// user i % USERS) under a personal policy on `owner`: every upload is checked and every
// download filtered; devices of one user must converge to the same rows, and those are
// exactly that user's rows. --propagation and --subscriptions measure the live channel instead
// (Propagation.swift, Subscriptions.swift). --protocol-v1 starts the servers without protocol
// v2, so the devices stay on v1 (to compare the two protocols).

let arguments = CommandLine.arguments
func option(_ name: String) -> String? { arguments.firstIndex(of: name).map { arguments[$0 + 1] } }
let deviceCount = Int(option("--devices") ?? "50")!
let rounds = Int(option("--rounds") ?? "10")!
let postgres = option("--postgres")
let instanceCount = Int(option("--instances") ?? "1")!
let rlsUsers = option("--rls").map { Int($0)! }
let serverOptions = arguments.contains("--protocol-v1") ? ["--no-protocol-v2"] : []
let schema = "CREATE TABLE items(id TEXT PRIMARY KEY NOT NULL, owner INTEGER NOT NULL DEFAULT 0, title TEXT NOT NULL DEFAULT '', amount REAL)"
let api = SQLiteAPI(routines: cloudsync_linked_routines())

/// The servers this tool started, stopped when the tool ends.
final class LocalServers {
    var processes: [Process] = []
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-load-\(getpid())")
    let database: String
    var urls: [String] = []
    var key = ""
    /// Per user, with --rls.
    var tokens: [String] = []

    init() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cloudsync-server")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let schemaFile = directory.appendingPathComponent("schema.sql")
        try schema.write(to: schemaFile, atomically: true, encoding: .utf8)
        // A fresh database name, so that runs against one PostgreSQL do not collide.
        database = postgres == nil ? "load.sqlite" : "load-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        let storage = postgres.map { ["--postgres", $0] } ?? ["--data", directory.path]
        func admin(_ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments + storage
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try admin(["database", "create", database, "--schema", schemaFile.path])
        key = try admin(["apikey", "create", "--database", database])
        if let rlsUsers {
            // The policy in each storage's SQL dialect: PostgreSQL compares BIGINT with TEXT
            // only through a cast.
            let user = postgres == nil ? "auth_userid()" : "auth_userid()::bigint"
            _ = try admin(["policy", "set", "--database", database, "--table", "items",
                           "--select", "owner = \(user)", "--insert", "NEW.owner = \(user)",
                           "--update", "OLD.owner = \(user) AND NEW.owner = OLD.owner", "--delete", "OLD.owner = \(user)"])
            tokens = try (0..<rlsUsers).map { try admin(["token", "create", "--database", database, "--user", String($0)]) }
        }
        for _ in 0..<max(1, instanceCount) {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["serve", "--port", "0", "--log-level", "warning"] + serverOptions + storage
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            var seen = ""
            while !seen.contains("\n") {
                seen += String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
            }
            urls.append(String(seen.split(separator: " ").last!).trimmingCharacters(in: .whitespacesAndNewlines))
            pipe.fileHandleForReading.readabilityHandler = { _ = $0.availableData }
            processes.append(process)
        }
    }

    /// Stops the servers (called before exit, which skips deinitializers).
    func stop() {
        for process in processes where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// One simulated device: an in-memory database with the engine and a network session.
final class SimulatedDevice: @unchecked Sendable {
    let handle: OpaquePointer
    let context: SyncContext
    let session: NetworkSession
    var random: SystemRandomNumberGenerator

    let endpoints: [ConnectionString]

    init(servers: [String], database: String, credential: ConnectionString.Credential) throws {
        handle = try api.openDatabase(path: ":memory:")
        context = try CloudSyncEngine.register(database: handle, api: api)
        try context.connection.execute(schema)
        try context.initialize(table: "items")
        endpoints = try servers.map { server in
            var endpoint = try ConnectionString(parsing: "\(server)/\(database)")
            endpoint.credential = credential
            return endpoint
        }
        session = NetworkSession(context: context, endpoint: endpoints[0], transport: try CurlTransport())
        random = SystemRandomNumberGenerator()
    }

    /// 20 to 200 local changes: mostly new rows, some edits of rows other devices made.
    func writeRound(owner: Int) throws -> Int {
        let count = Int.random(in: 20...200, using: &random)
        try context.connection.execute("BEGIN")
        for _ in 0..<count {
            if Bool.random(using: &random) {
                try context.connection.run("INSERT INTO items(id, owner, title, amount) VALUES (?1, ?2, ?3, ?4)",
                    [.string(UUIDv7.format(UUIDv7.generate())), .integer(Int64(owner)), .string("item from \(owner)"), .real(Double.random(in: 0..<100, using: &random))])
            } else {
                try context.connection.run("UPDATE items SET title = ?1 WHERE rowid = (SELECT abs(random()) % max(rowid) + 1 FROM items)",
                    [.string("edited by \(owner) \(Int.random(in: 0..<1_000_000, using: &random))")])
            }
        }
        try context.connection.execute("COMMIT")
        return count
    }

    func rows() throws -> [[SQLValue]] { try context.connection.rows("SELECT * FROM items ORDER BY id") }

    /// Syncs through one of the servers, chosen at random.
    func sync() throws -> Int {
        session.endpoint = endpoints.randomElement(using: &random)!
        return try session.sync()
    }

    deinit {
        context.releaseResources()
        api.closeDatabase(handle)
    }
}

let local: LocalServers? = option("--server") == nil ? try LocalServers() : nil
let serverURLs = option("--server").map { [$0] } ?? local!.urls
let apiKey = option("--apikey") ?? local!.key
let database = option("--database") ?? local!.database

if let count = option("--subscriptions").map({ Int($0)! }) {
    // Idle subscriptions instead of throughput (Subscriptions.swift).
    print("subscriptions: \(count) idle devices subscribed to \(serverURLs[0]) (\(postgres == nil ? "embedded SQLite storage" : "PostgreSQL storage"))")
    let writer = try SimulatedDevice(servers: serverURLs, database: database, credential: .apiKey(apiKey))
    let serverPID = local?.processes.first?.processIdentifier
    let writes = Int(option("--writes") ?? "3")!
    let outcome = Mutex(false)
    let finished = DispatchSemaphore(value: 0)
    // Detached: top-level code is on the main actor, whose thread waits on the semaphore.
    Task.detached {
        let told = await runSubscriptions(
            count: count, writes: writes, server: serverURLs[0], serverPID: serverPID, database: database, apiKey: apiKey, writer: writer)
        outcome.withLock { $0 = told }
        finished.signal()
    }
    finished.wait()
    local?.stop()
    exit(outcome.withLock { $0 } ? 0 : 1)
}

print("load test: \(deviceCount) devices\(option("--propagation") == nil ? " x \(rounds) rounds of 20-200 changes" : ", propagation") against \(serverURLs.joined(separator: ", ")) (\(postgres == nil ? "embedded SQLite storage" : "PostgreSQL storage")\(rlsUsers.map { ", Row-Level Security, \($0) users" } ?? ""))")
/// The owner a device writes: its user with --rls, else itself.
func owner(_ device: Int) -> Int { rlsUsers.map { device % $0 } ?? device }
let devices = try (0..<deviceCount).map { index in
    try SimulatedDevice(servers: serverURLs, database: database, credential: local?.tokens.isEmpty == false ? .token(local!.tokens[owner(index)]) : .apiKey(apiKey))
}
if let writes = option("--propagation").map({ Int($0)! }) {
    // Propagation latency instead of throughput (Propagation.swift).
    let reached = runPropagation(devices: devices, writes: writes)
    local?.stop()
    exit(reached ? 0 : 1)
}

let latencies = Mutex<[Double]>([])
let written = Mutex(0)
let failures = Mutex<[String]>([])

let start = ContinuousClock.now
DispatchQueue.concurrentPerform(iterations: deviceCount) { index in
    let device = devices[index]
    for _ in 0..<rounds {
        do {
            let count = try device.writeRound(owner: owner(index))
            written.withLock { $0 += count }
            let begin = ContinuousClock.now
            _ = try device.sync()
            let elapsed = begin.duration(to: .now)
            latencies.withLock { $0.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000) }
        } catch {
            failures.withLock { $0.append("device \(index): \(error)") }
        }
    }
}
let elapsed = start.duration(to: .now)
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18

// Converge: everyone syncs until nothing new arrives.
for _ in 0..<3 { for device in devices { _ = try device.sync() } }
let reference = try devices[0].rows()
var converged = true
if rlsUsers != nil {
    // Each user's devices agree, and hold only that user's rows.
    var byOwner: [Int: [[SQLValue]]] = [:]
    for (index, device) in devices.enumerated() {
        let rows = try device.rows()
        if let first = byOwner[owner(index)], first != rows { converged = false }
        byOwner[owner(index)] = rows
        if rows.contains(where: { $0[1] != .integer(Int64(owner(index))) }) { converged = false }
    }
} else {
    converged = try devices.allSatisfy { try $0.rows() == reference }
}

let sorted = latencies.withLock { $0 }.sorted()
func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
let changes = written.withLock { $0 }
print(String(format: "changes written and merged: %d in %.2f s: %.0f changes/s", changes, seconds, Double(changes) / seconds))
print(String(format: "sync latency (send + check, %d syncs): p50 %.1f ms, p99 %.1f ms, max %.1f ms", sorted.count, percentile(0.5), percentile(0.99), sorted.last ?? 0))
print("rows on \(rlsUsers == nil ? "every device" : "device 0 (its user's)"): \(reference.count); converged: \(converged ? "yes" : "NO")")
let failed = failures.withLock { $0 }
if !failed.isEmpty { print("\(failed.count) failed syncs, first: \(failed[0])") }
print(percentile(0.99) < 100 ? "p99 target (< 100 ms) met" : "p99 target (< 100 ms) missed")
local?.stop()
exit(converged && failed.isEmpty ? 0 : 1)
