import CloudSyncTestSupport
import CloudSyncCore
import CloudSyncCurl
import Foundation
import Testing
@testable import CloudSyncNetwork

/// Devices syncing through a real `cloudsync-server` over real HTTP on loopback.
@Suite("Sync through the server", .serialized, .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"))
struct EndToEndSyncTests {
    static let schema = "CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)"
    static let database = "todo.sqlite"

    func serverWithKey() throws -> (ServerProcess, String) {
        let server = try ServerProcess()
        let key = try server.createDatabase(Self.database, schema: Self.schema)
        try server.start()
        return (server, key)
    }

    func device(_ server: ServerProcess, _ key: String, path: String = ":memory:") throws -> Device {
        try Device(path: path, schema: Self.schema, server: server.url, database: Self.database, apiKey: key)
    }

    /// Syncs every device twice (the second round delivers what the last ones sent).
    func syncAll(_ devices: [Device]) throws {
        for _ in 0..<2 { for device in devices { try device.sync() } }
    }

    @Test func twoDevicesConvergeThroughEveryKindOfChange() throws {
        let (server, key) = try serverWithKey()
        let a = try device(server, key), b = try device(server, key)
        try a.execute("INSERT INTO todo(id, title) VALUES ('1', 'milk'), ('2', 'bread'), ('3', 'eggs')")
        try syncAll([a, b])
        #expect(try b.rows() == a.rows())
        #expect(try b.rows().count == 3)

        // Offline on both sides: concurrent edits of one cell, different cells, a delete, a
        // re-insert and a key change.
        try a.execute("UPDATE todo SET title = 'oat milk' WHERE id = '1'; UPDATE todo SET done = 1 WHERE id = '2'; DELETE FROM todo WHERE id = '3'")
        try b.execute("UPDATE todo SET title = 'whole milk' WHERE id = '1'; UPDATE todo SET title = 'rye bread' WHERE id = '2'")
        try b.execute("UPDATE todo SET id = '2b' WHERE id = '2'")
        try a.execute("INSERT INTO todo(id, title) VALUES ('3', 'eggs again')")
        try syncAll([a, b])
        #expect(try a.rows() == b.rows())
        // Equal versions on the same cell: the greater value wins everywhere.
        #expect(try a.rows().first { $0[0] == .string("1") }?[1] == .string("whole milk"))
        #expect(try a.rows().contains { $0[0] == .string("3") && $0[1] == .string("eggs again") })
        #expect(try !a.rows().contains { $0[0] == .string("2") })
        // The server's own copy holds the same rows.
        #expect(try rows(ofFile: server.databasesDirectory.appendingPathComponent(Self.database).path) == a.rows())
    }

    @Test func threeDevicesConverge() throws {
        let (server, key) = try serverWithKey()
        let devices = try (0..<3).map { _ in try device(server, key) }
        for (index, device) in devices.enumerated() {
            try device.execute("INSERT INTO todo(id, title) VALUES ('shared', 'from \(index)'), ('own\(index)', 'x')")
        }
        try syncAll(devices)
        for device in devices.dropFirst() { #expect(try device.rows() == devices[0].rows()) }
        #expect(try devices[0].rows().count == 4)
    }

    @Test func serverDownLeavesLocalDataAndTheNextSyncCompletes() throws {
        let (server, key) = try serverWithKey()
        let a = try device(server, key), b = try device(server, key)
        server.stop()
        try a.execute("INSERT INTO todo(id, title) VALUES ('offline', 'written while down')")
        #expect(throws: CloudSyncError.self) { try a.sync() }
        do {
            try a.sync()
        } catch let error as CloudSyncError {
            #expect(error.message.contains("cloudsync_network_sync") && error.message.lowercased().contains("connect"))
        }
        #expect(try a.hasUnsentChanges)
        #expect(try a.rows().count == 1)
        try server.start()
        try syncAll([a, b])
        #expect(try !a.hasUnsentChanges)
        #expect(try b.rows() == a.rows())
    }

    @Test func sigtermShutsDownCleanlyAndTheDataStays() throws {
        let (server, key) = try serverWithKey()
        let a = try device(server, key)
        try a.execute("INSERT INTO todo(id, title) VALUES ('kept', 'across a restart')")
        try a.sync()
        #expect(server.stop(signal: SIGTERM) == 0)
        try server.start()
        let b = try device(server, key)
        #expect(try b.sync() == 2)
        #expect(try b.rows() == a.rows())
    }

    @Test func killedServerLosesNothingItAcknowledged() throws {
        let (server, key) = try serverWithKey()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("device-\(UUID().uuidString).db").path
        let a = try device(server, key, path: path), b = try device(server, key)
        var acknowledged = 0
        for round in 0..<6 {
            try a.execute("INSERT INTO todo(id, title) VALUES ('r\(round)', 'round \(round)')")
            if round % 2 == 0 {
                try a.sync()
                acknowledged = round + 1
                #expect(try !a.hasUnsentChanges)
            }
            server.stop(signal: SIGKILL)
            try server.start()
        }
        // Everything sent before a kill is on the server; the rest arrives with the retries.
        let serverRows = try rows(ofFile: server.databasesDirectory.appendingPathComponent(Self.database).path)
        #expect(serverRows.count >= acknowledged)
        try syncAll([a, b])
        #expect(try b.rows() == a.rows())
        #expect(try b.rows().count == 6)
    }

    @Test func killedDuringSyncsDevicesRetryAndConverge() async throws {
        let (server, key) = try serverWithKey()
        let writer = try device(server, key), reader = try device(server, key)
        try writer.execute("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO todo(id, title) SELECT printf('k%04d', i), 'before' FROM c")
        // The writer syncs in a loop on its own thread while the server is killed under it.
        let done = Flag()
        // The test only touches the writer again after the thread finished.
        nonisolated(unsafe) let background = writer
        let syncing = Thread {
            var round = 0
            while !done.isSet {
                round += 1
                try? background.execute("UPDATE todo SET title = 'round \(round)' WHERE id = printf('k%04d', \(round % 3000 + 1))")
                _ = try? background.sync()
            }
        }
        syncing.start()
        for _ in 0..<4 {
            try await Task.sleep(for: .milliseconds(150))
            server.stop(signal: SIGKILL)
            try server.start()
        }
        done.set()
        while !syncing.isFinished { try await Task.sleep(for: .milliseconds(10)) }
        try syncAll([writer, reader])
        #expect(try !writer.hasUnsentChanges)
        #expect(try reader.rows() == writer.rows())
        #expect(try rows(ofFile: server.databasesDirectory.appendingPathComponent(Self.database).path) == writer.rows())
    }

    @Test func credentialAndDatabaseErrorsAreSQLErrorsWithTheServersMessage() throws {
        let (server, key) = try serverWithKey()
        let wrong = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: "not-a-key")
        try wrong.execute("INSERT INTO todo(id) VALUES ('x')")
        #expect(throws: CloudSyncError.self) { try wrong.sync() }
        let missing = try Device(schema: Self.schema, server: server.url, database: "missing.sqlite", apiKey: key)
        try missing.execute("INSERT INTO todo(id) VALUES ('x')")
        #expect(throws: CloudSyncError.self) { try missing.sync() }
        try server.admin(["apikey", "revoke", key])
        let revoked = try device(server, key)
        try revoked.execute("INSERT INTO todo(id) VALUES ('y')")
        #expect(throws: CloudSyncError.self) { try revoked.sync() }
        #expect(try revoked.hasUnsentChanges)
    }

    /// libcurl (the C extension's HTTP client) announces large uploads with
    /// `Expect: 100-continue` and waits a second unless the server answers at once.
    @Test func uploadsWithExpectContinueGetAnImmediateContinue() throws {
        let (server, _) = try serverWithKey()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(server.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let request = "PUT /v1/blobs/unknown HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var timeout = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(fd, &buffer, buffer.count, 0)
        #expect(count > 0)
        #expect(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue"))
    }

    @Test func largeBacklogsComeInPages() throws {
        let (server, key) = try serverWithKey()
        let a = try device(server, key), b = try device(server, key)
        try a.execute("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 25000) INSERT INTO todo(id, title) SELECT printf('t%05d', i), 'title ' || i FROM c")
        NetworkFunctions.session(of: a.context)?.maxChangesPerUpload = 7_000
        try a.sync()
        #expect(try b.sync() == 50_000)
        #expect(try b.rows() == a.rows())
        #expect(try b.sync() == 0)
    }

    @Test("pages built ahead while devices merge, with random writes merged in between, leave every device with the server's rows", arguments: [1, 2, 3] as [UInt64])
    func pagesBuiltAheadConverge(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let server = try ServerProcess()
        let key = try server.createDatabase(Self.database, schema: Self.schema)
        // Pages of three changes: most pages are full, so the next one is built ahead, and a
        // device's last page of one sync leaves a page built ahead that its next sync, after
        // other devices' merges, is answered with.
        server.serveArguments = ["--page-size", "3"]
        try server.start()
        defer { _ = server.stop() }
        let devices = try (0..<3).map { _ in try device(server, key) }
        for step in 0..<80 {
            let device = devices.randomElement(using: &random)!
            let id = "r\(Int.random(in: 0..<10, using: &random))"
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4: try device.execute("INSERT OR REPLACE INTO todo(id, title) VALUES ('\(id)', 's\(seed)-\(step)')")
            case 4..<6: try device.execute("UPDATE todo SET done = done + 1, title = title || '+' WHERE id = '\(id)'")
            case 6: try device.execute("DELETE FROM todo WHERE id = '\(id)'")
            default: try device.sync()
            }
        }
        for _ in 0..<3 { for device in devices.shuffled(using: &random) { try device.sync() } }
        let expected = try rows(ofFile: server.databasesDirectory.appendingPathComponent(Self.database).path)
        for device in devices { #expect(try device.rows() == expected, "seed \(seed)") }
        let metrics = try CurlTransport().send(HTTPRequest(method: "GET", url: server.url + "/metrics")).text
        let used = metrics.split(separator: "\n").first { $0.hasPrefix("cloudsync_pages_built_ahead_used_total ") }
        #expect((used?.split(separator: " ").last.flatMap { Int($0) } ?? 0) > 0, "\(used ?? "no metric")")
    }

    @Test("large values go up in payloads bounded by bytes, under the server's body limit, and come down in pages bounded by bytes")
    func largeValuesComeInPagesBoundedByBytes() throws {
        let schema = "CREATE TABLE files(id TEXT PRIMARY KEY NOT NULL, body BLOB)"
        let server = try ServerProcess()
        let key = try server.createDatabase("files.sqlite", schema: schema)
        // 12 MiB of values in all, over the 8 MiB body limit: one payload of everything would
        // be refused (413).
        server.serveArguments = ["--max-body-size", String(8 << 20), "--page-bytes", String(1 << 20)]
        try server.start()
        defer { _ = server.stop() }
        let a = try Device(schema: schema, server: server.url, database: "files.sqlite", apiKey: key)
        let b = try Device(schema: schema, server: server.url, database: "files.sqlite", apiKey: key)
        try a.execute("INSERT INTO files WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 23) SELECT 'f' || i, randomblob(524288) FROM n")
        let session = try #require(NetworkFunctions.session(of: a.context))
        #expect(session.maxBytesPerUpload == 4 << 20)
        #expect(try session.sendChanges() == 24)
        #expect(try !a.hasUnsentChanges)
        // Two values of 512 KiB fill a page of 1 MiB.
        let first = try #require(NetworkFunctions.session(of: b.context)).receiveChanges(maxPages: 1)
        #expect(first.received == 2)
        #expect(try b.sync() == 22)
        #expect(try b.rows("files") == a.rows("files"))
    }
}

/// A flag set once from one thread and read from another.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// The 1.x network functions (sql-api-v2.md §5) against a real server.
@Suite("1.x network functions through the server", .serialized, .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"))
struct NetworkFunctionsV2Tests {
    @Test func initCustomAndReceiveChangesReportRowsAndTables() throws {
        let schema = EndToEndSyncTests.schema + "; CREATE TABLE tag(id TEXT PRIMARY KEY NOT NULL, name TEXT)"
        let server = try ServerProcess()
        let key = try server.createDatabase(EndToEndSyncTests.database, schema: schema)
        try server.start()
        defer { _ = server.stop() }

        let a = try Device(schema: schema, server: server.url, database: EndToEndSyncTests.database, apiKey: key)
        try a.execute("INSERT INTO tag VALUES ('t1', 'home'); INSERT INTO todo(id, title) VALUES ('1', 'milk'), ('2', 'bread')")
        try a.sync()

        // A device set up the 1.x way: address and database id apart, then the key.
        let b = try Device(schema: schema, server: server.url, database: EndToEndSyncTests.database, apiKey: key)
        try b.connection.run("SELECT cloudsync_network_init_custom(?1, ?2)", [.string(server.url + "/"), .string(EndToEndSyncTests.database)])
        try b.connection.run("SELECT cloudsync_network_set_apikey(?1)", [.string(key)])
        let answer = try b.connection.scalar("SELECT cloudsync_network_receive_changes()")?.stringValue
        #expect(answer == #"{"receive":{"rows":5,"tables":["tag","todo"]}}"#)
        #expect(try b.rows() == a.rows())
        #expect(try b.rows("tag") == a.rows("tag"))
        #expect(try b.connection.scalar("SELECT cloudsync_network_receive_changes(1)")?.stringValue == #"{"receive":{"rows":0,"tables":[]}}"#)

        for bad in ["SELECT cloudsync_network_receive_changes(0)", "SELECT cloudsync_network_receive_changes('x')"] {
            #expect(throws: CloudSyncError.self) { try b.connection.scalar(bad) }
        }
        #expect(throws: CloudSyncError.self) { try b.connection.run("SELECT cloudsync_network_init_custom('http://h/extra', 'db')") }
    }
}
