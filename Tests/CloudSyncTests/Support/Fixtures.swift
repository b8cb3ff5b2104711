import CloudSyncTestSupport
import CloudSync
import CloudSyncCurl
import Foundation
import GRDB
import Testing

/// The todo schema: devices and the server create the table with the same statement (payloads
/// carry a hash of it).
let todoSchema = "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0);"

/// The app's migrations: create the table, enable sync for it.
func todoMigrator() -> DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
        try db.execute(sql: todoSchema)
        try db.enableSync(table: "todo")
    }
    return migrator
}

func syncConfiguration() -> Configuration {
    var config = Configuration()
    config.enableCloudSync()
    return config
}

/// A temporary directory removed when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

func makeQueue(_ directory: TemporaryDirectory, _ name: String = "queue.sqlite") throws -> DatabaseQueue {
    let queue = try DatabaseQueue(path: directory.path(name), configuration: syncConfiguration())
    try todoMigrator().migrate(queue)
    return queue
}

func makePool(_ directory: TemporaryDirectory, _ name: String = "pool.sqlite") throws -> DatabasePool {
    let pool = try DatabasePool(path: directory.path(name), configuration: syncConfiguration())
    try todoMigrator().migrate(pool)
    return pool
}

struct Todo: Codable, FetchableRecord, PersistableRecord, Equatable, Sendable {
    var id: String
    var title: String
    var done: Bool
}

func todos(_ reader: some DatabaseReader) async throws -> [Todo] {
    try await reader.read { db in try Todo.order(Column("id")).fetchAll(db) }
}

func insert(_ writer: some DatabaseWriter, id: String, title: String, done: Bool = false) async throws {
    try await writer.write { db in try Todo(id: id, title: title, done: done).insert(db) }
}

/// A server with the todo database: (server, endpoint, api key).
func startTodoServer() throws -> (ServerProcess, String, String) {
    let server = try ServerProcess()
    let key = try server.createDatabase("todo.sqlite", schema: todoSchema)
    try server.start()
    return (server, "\(server.url)/todo.sqlite", key)
}

/// The server's Prometheus text, over the platform's transport.
func metrics(of server: ServerProcess) async throws -> String {
    try await Transport.platform.make(requestTimeout: 10).send(HTTPRequest(method: "GET", url: "\(server.url)/metrics")).text
}

/// Collects a client's events in the background.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [SyncEvent] = []
    private var task: Task<Void, Never>?

    init(_ client: SyncClient) {
        let stream = client.events(bufferingNewest: 1000)
        task = Task { [weak self] in
            for await event in stream { self?.append(event) }
        }
    }

    deinit { task?.cancel() }

    private func append(_ event: SyncEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    var all: [SyncEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    /// Waits until `condition` holds for the events so far, up to `timeout`.
    func wait(timeout: Duration = .seconds(20), until condition: ([SyncEvent]) -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if condition(all) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(all)
    }
}

extension SyncEvent {
    var isFailure: Bool { if case .failed = self { true } else { false } }
    var completedResult: SyncResult? { if case .completed(_, let result) = self { result } else { nil } }
    var isStarted: Bool { if case .started = self { true } else { false } }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
}

/// The HTTP transports the end-to-end tests run over, with the same assertions: the platform's
/// default (URLSession on Apple's platforms, AsyncHTTPClient on Linux) and libcurl (the
/// extension's), through the adapter an app would use for a synchronous transport.
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case platform, libcurl

    var testDescription: String { rawValue }

    /// Options of a client that sends over this transport; `.platform` leaves the default.
    var options: SyncClient.Options {
        var options = SyncClient.Options()
        if self == .libcurl { options.transport = make(requestTimeout: options.requestTimeout) }
        return options
    }

    /// A transport of this kind on its own.
    func make(requestTimeout: TimeInterval) -> any SyncTransport {
        switch self {
        case .platform:
            #if os(Linux)
            HTTPClientTransport(requestTimeout: requestTimeout)
            #else
            URLSessionTransport(requestTimeout: requestTimeout)
            #endif
        case .libcurl: BlockingHTTPTransport { try CurlTransport(connectTimeout: 10, requestTimeout: requestTimeout) }
        }
    }
}

extension SyncClient {
    /// A client over `transport` (the e2e suites run each test over both).
    convenience init(database: any DatabaseWriter, endpoint: String, credential: SyncCredential, over transport: Transport) throws(SyncError) {
        try self.init(database: database, endpoint: endpoint, credential: credential, options: transport.options)
    }
}
