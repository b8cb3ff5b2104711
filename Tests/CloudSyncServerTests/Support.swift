import CSQLiteLinked
import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// The todo schema of the tests, on the server and on every device.
let todoSchema = "CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)"

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A device: an in-memory engine database with the todo table synchronized, and the two
/// cursors a real client keeps (what it has sent, what it has received).
///
/// `@unchecked Sendable` so test closures can capture it; each test uses a device from one
/// task at a time.
final class Device: @unchecked Sendable {
    static let api = SQLiteAPI(routines: cloudsync_linked_routines())

    let handle: OpaquePointer
    let context: SyncContext
    let site: [UInt8]
    var sendCursor = SyncCursor.start
    var checkCursor = SyncCursor.start

    init(schema: String = todoSchema, table: String = "todo") throws {
        handle = try Self.api.openDatabase(path: ":memory:")
        context = try CloudSyncEngine.register(database: handle, api: Self.api)
        try context.connection.execute(schema)
        site = try context.initialize(table: table)
    }

    deinit {
        context.releaseResources()
        Self.api.closeDatabase(handle)
    }

    var siteHex: String { Hex.encode(site) }

    func execute(_ sql: String) throws { try context.connection.execute(sql) }

    /// Inserts rows `prefix-0` ... `prefix-(count-1)`.
    func insertTodos(_ count: Int, prefix: String) throws {
        try execute("BEGIN")
        for index in 0..<count {
            try context.connection.run("INSERT INTO todo(id, title) VALUES (?1, ?2)", [.string("\(prefix)-\(index)"), .string("title \(prefix) \(index)")])
        }
        try execute("COMMIT")
    }

    /// This device's own changes after its send cursor, as a client would upload them.
    func pendingUpload() throws -> (payload: [UInt8], last: SyncCursor, count: Int)? {
        guard let page = try context.encodePayload(where: [.site(site, equal: true), .after(dbVersion: sendCursor.dbVersion, seq: sendCursor.seq)]) else {
            return nil
        }
        return (page.payload, SyncCursor(dbVersion: page.lastDbVersion, seq: page.lastSeq), page.count)
    }

    @discardableResult
    func apply(_ payload: [UInt8]) throws -> Int {
        try context.applyPayload(payload).changes
    }

    func snapshot() throws -> [[SQLValue]] {
        try context.connection.rows("SELECT id, title, done FROM todo ORDER BY id")
    }

    func count() throws -> Int64 {
        try context.connection.scalar("SELECT count(*) FROM todo")?.integerValue ?? -1
    }
}

/// A storage of one backend with the todo database and an API key for it.
struct ServerFixture: Sendable {
    static let database = "todo.sqlite"
    static let publicURL = "http://sync.test"

    let data: TestStorage
    let key: String

    var backend: StorageBackend { data.backend }
    var storage: any SyncStorage { data.storage }
    var configuration: ServerConfiguration { data.configuration }

    static func make(_ backend: StorageBackend = .embedded, _ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> ServerFixture {
        var configuration = ServerConfiguration(port: 0, publicBaseURL: publicURL)
        configure(&configuration)
        let data = try await TestStorage.make(backend, configuration: configuration)
        do {
            try await data.storage.createDatabase(name: database, schema: todoSchema, tables: nil)
            let key = try await data.storage.createAPIKey(database: database)
            return ServerFixture(data: data, key: key)
        } catch {
            await data.destroy()
            throw error
        }
    }

    func application() -> some ApplicationProtocol {
        buildApplication(configuration: configuration, storage: storage, logger: quietLogger)
    }

    /// The data directory (embedded only).
    var directory: URL { get throws { try data.directory } }
    /// The embedded storage (embedded only).
    var embeddedStorage: EmbeddedStorage { get throws { try data.embedded } }

    /// Another storage instance on the same data, as the CLI opens it while the server runs.
    func openAnotherStorage() async throws -> any SyncStorage { try await data.openAnother() }

    /// Runs `body` with another storage instance on the same data, closed afterwards.
    func withAnotherStorage(_ body: (any SyncStorage) async throws -> Void) async throws {
        try await data.withAnotherStorage(body)
    }

    /// Two servers on the fixture's PostgreSQL database, as two instances behind a load
    /// balancer: the fixture's own (`one`) and a second with its own storage and `notifier`
    /// (`two`, served on a real port, so streams can be opened to it).
    func withTwoInstances(notifier: ChangeNotifier, _ body: @escaping @Sendable (_ one: SyncClient, _ two: SyncClient) async throws -> Void) async throws {
        try await withAnotherStorage { secondStorage in
            let second = buildApplication(configuration: configuration, storage: secondStorage, logger: quietLogger, notifier: notifier)
            try await second.test(.live) { two in
                try await application().test(.router) { one in
                    try await body(SyncClient(client: one, key: key), SyncClient(client: two, key: key))
                }
            }
        }
    }

    /// A todo row written straight into PostgreSQL by another program.
    func insertByProgram(id: String, title: String) async throws {
        try await data.postgres.withConnection { connection in
            let schema = try await TestStorage.schemaName(of: ServerFixture.database, connection: connection)
            _ = try await connection.query(
                PostgresQuery(unsafeSQL: "INSERT INTO \(SQLText.identifier(schema)).todo(id, title) VALUES (\(SQLText.literal(id)), \(SQLText.literal(title)))"),
                logger: PostgresTestDatabase.logger)
        }
    }

    /// The todo rows of the server's database, read through a separate connection.
    func serverRows(_ database: String = ServerFixture.database) async throws -> [[SQLValue]] {
        try await serverQuery("SELECT id, title, done FROM todo ORDER BY id", database)
    }

    /// The clocks of the server's todo table: key, column, col_version, db_version, seq.
    func serverClocks(_ database: String = ServerFixture.database) async throws -> [[SQLValue]] {
        switch backend {
        case .embedded: try await serverQuery("SELECT pk, col_name, col_version, db_version, seq FROM todo_cloudsync ORDER BY pk, col_name", database)
        case .postgres: try await serverQuery("SELECT k1, col_name, col_version, db_version, seq FROM todo_cloudsync ORDER BY k1, col_name", database)
        }
    }

    /// Runs `sql` in the server's database (SQLite, or PostgreSQL in the database's schema).
    func serverQuery(_ sql: String, _ database: String = ServerFixture.database) async throws -> [[SQLValue]] {
        try await data.query(sql, database: database)
    }

    func shutdown() async {
        await data.destroy()
    }

    /// Runs `body` with a new fixture, shut down afterwards (awaited, whether `body`
    /// succeeds or throws).
    static func with(
        _ backend: StorageBackend = .embedded, _ configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (ServerFixture) async throws -> Void
    ) async throws {
        let fixture = try await make(backend, configure)
        try await finally(await body(fixture)) { await fixture.shutdown() }
    }
}

/// Polls `condition` until it holds; throws when it does not within `timeout` (a bound
/// for a regression, not a measure of speed).
func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "cloudsync-server-tests")
    logger.logLevel = .error
    return logger
}()

/// The sync protocol, spoken by a test client.
struct SyncClient: Sendable {
    let client: any TestClientProtocol
    var database = ServerFixture.database
    var key: String?

    var headers: HTTPFields {
        var headers: HTTPFields = [.accept: "sqlc/plain"]
        if let key { headers[.authorization] = "Bearer \(key)" }
        return headers
    }

    func base(_ site: String) -> String { "/v1/cloudsync/\(database)/\(site)" }

    func requestUploadURL(site: String) async throws -> TestResponse {
        try await client.executeRequest(uri: base(site) + "/upload", method: .get, headers: headers, body: nil)
    }

    func put(_ url: String, _ payload: [UInt8]) async throws -> TestResponse {
        try await client.executeRequest(
            uri: path(of: url), method: .put, headers: [.contentType: "application/octet-stream"], body: ByteBuffer(bytes: payload))
    }

    func notify(site: String, url: String) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        let body = try JSONSerialization.data(withJSONObject: ["url": url])
        return try await client.executeRequest(uri: base(site) + "/upload", method: .post, headers: headers, body: ByteBuffer(bytes: body))
    }

    func check(site: String, cursor: SyncCursor) async throws -> TestResponse {
        try await client.executeRequest(uri: base(site) + "/\(cursor.dbVersion)/\(cursor.seq)/check", method: .post, headers: headers, body: nil)
    }

    func fetch(_ url: String) async throws -> TestResponse {
        try await client.executeRequest(uri: path(of: url), method: .get, headers: [:], body: nil)
    }

    /// GET UPLOAD, PUT, POST UPLOAD; every step must answer 200. Returns the blob URL.
    @discardableResult
    func send(site: String, payload: [UInt8]) async throws -> String {
        let upload = try await requestUploadURL(site: site)
        guard upload.status == .ok else { throw TestFailure("GET upload: \(upload.status) \(upload.text)") }
        let url = upload.text
        let put = try await put(url, payload)
        guard put.status == .ok else { throw TestFailure("PUT: \(put.status) \(put.text)") }
        let notified = try await notify(site: site, url: url)
        guard notified.status == .ok else { throw TestFailure("POST upload: \(notified.status) \(notified.text)") }
        return url
    }

    /// Sends a device's pending changes and advances its send cursor; returns how many.
    @discardableResult
    func send(_ device: Device) async throws -> Int {
        guard let pending = try device.pendingUpload() else { return 0 }
        try await send(site: device.siteHex, payload: pending.payload)
        device.sendCursor = pending.last
        return pending.count
    }

    /// The client's receive loop: check, download, apply, advance the cursor to the last
    /// change of the payload, until the server answers with an empty body.
    func receiveAll(_ device: Device, maxPages: Int = 1000) async throws -> (pages: Int, changes: [Change]) {
        var pages = 0
        var received: [Change] = []
        while pages < maxPages {
            let checked = try await check(site: device.siteHex, cursor: device.checkCursor)
            guard checked.status == .ok else { throw TestFailure("check: \(checked.status) \(checked.text)") }
            if checked.text.isEmpty { return (pages, received) }
            let download = try await fetch(checked.text)
            guard download.status == .ok else { throw TestFailure("download: \(download.status) \(download.text)") }
            let payload = download.bytes
            let changes = try PayloadDecoder.decode(payload).changes
            try device.apply(payload)
            guard let last = changes.last else { throw TestFailure("empty payload") }
            device.checkCursor = SyncCursor(dbVersion: last.dbVersion, seq: last.seq)
            received += changes
            pages += 1
        }
        throw TestFailure("more than \(maxPages) pages")
    }
}

/// The path (and query) of an absolute URL, for the test client.
func path(of url: String) -> String {
    guard let components = URLComponents(string: url) else { return url }
    return components.path
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var bytes: [UInt8] { Array(body.readableBytesView) }
}
