import CloudSyncCore
import CloudSyncCurl
import CloudSyncTestSupport
import Foundation
import Testing
@testable import CloudSyncNetwork

/// This project's own client (the extension's SQL functions) speaking protocol v2 through a
/// real `cloudsync-server` (embedded storage, or PostgreSQL): discovery, inline and URL sends,
/// the fall back to v1 when the server stops serving v2, and refused rows. The server's
/// request counters (`/metrics`) show which protocol was used.
@Suite("Our client over protocol v2", .serialized, .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"))
struct ProtocolV2ClientEndToEndTests {
    static let schema = EndToEndSyncTests.schema
    static let database = EndToEndSyncTests.database

    /// Requests the server counted whose endpoint is `prefix`…`suffix` (any method, any status).
    static func requests(_ server: ServerProcess, _ prefix: String, _ suffix: String) throws -> Int {
        let metrics = try CurlTransport().send(HTTPRequest(method: "GET", url: server.url + "/metrics")).text
        var total = 0
        for line in metrics.split(separator: "\n") where line.hasPrefix("cloudsync_http_requests_total{") {
            guard let start = line.range(of: "endpoint=\""), let end = line[start.upperBound...].firstIndex(of: "\"") else { continue }
            let endpoint = line[start.upperBound..<end]
            guard endpoint.hasPrefix(prefix), endpoint.hasSuffix(suffix) else { continue }
            total += Int(Double(line.split(separator: " ").last ?? "") ?? 0)
        }
        return total
    }

    static func v2(_ server: ServerProcess, _ action: String) throws -> Int { try requests(server, "/v2/", "/" + action) }
    static func v1(_ server: ServerProcess, _ action: String) throws -> Int { try requests(server, "/v1/cloudsync/", "/" + action) }

    static func remembered(_ device: Device) throws -> Int64? {
        try device.context.integerSetting(SyncContext.protocolVersionSetting)
    }

    func withServer(postgres: Bool, _ body: (ServerProcess) throws -> Void) async throws {
        if postgres, !PostgresTestDatabase.isAvailable { try Test.cancel("PostgreSQL is not installed") }
        let database = postgres ? try await PostgresTestDatabase.create() : nil
        do {
            let server = try ServerProcess(postgres: database?.url)
            defer { _ = server.stop() }
            try body(server)
        } catch {
            await database?.drop()
            throw error
        }
        await database?.drop()
    }

    @Test("two devices sync over v2: small pages inline, a large one by upload URL", arguments: [false, true])
    func twoDevicesOverV2(postgres: Bool) async throws {
        try await withServer(postgres: postgres) { server in
            let key = try server.createDatabase(Self.database, schema: Self.schema)
            try server.start()
            let a = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: key)
            let b = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: key)
            #expect(try Self.remembered(a) == nil)

            // The first sync starts in v1 and learns v2 from the server's answers.
            try a.execute("INSERT INTO todo(id, title) VALUES ('1', 'milk')")
            try a.sync()
            #expect(try Self.remembered(a) == 2)
            #expect(try Self.v1(server, "upload") == 2, "the first page went by v1 (GET + POST upload)")

            // Later pages go inline: one request, no upload URL.
            try a.execute("INSERT INTO todo(id, title) VALUES ('2', 'bread'), ('3', 'eggs'); UPDATE todo SET done = 1 WHERE id = '1'")
            try a.sync()
            #expect(try Self.v2(server, "apply") == 1)
            #expect(try Self.v2(server, "upload") == 0)
            #expect(try Self.v1(server, "upload") == 2)
            #expect(try a.hasUnsentChanges == false)

            try b.sync()
            try b.sync()
            #expect(try Self.remembered(b) == 2)
            #expect(try b.rows() == a.rows() && a.rows().count == 3)
            #expect(try Self.v2(server, "check") > 0)

            // A page above v2's inline limit goes by upload URL (it comes back inline: the client
            // takes pages up to 1 MiB in the check's answer).
            // Random hex: the payload's compression cannot bring it under the limit.
            var random = SeededGenerator(seed: 7)
            let big = Hex.encode((0..<(SyncLimits.v2InlineApplyMaximum / 2 + 20_000)).map { _ in UInt8.random(in: 0...255, using: &random) })
            try b.execute("INSERT INTO todo(id, title) VALUES ('big', '\(big)'); UPDATE todo SET title = 'oat milk' WHERE id = '1'")
            try b.sync()
            #expect(try Self.v2(server, "upload") == 1)
            #expect(try Self.v2(server, "apply") == 2)
            try a.sync()
            #expect(try a.rows() == b.rows())
            #expect(try a.rows().contains { $0[0] == .string("big") && $0[1] == .string(big) })
            if !postgres {
                #expect(try rows(ofFile: server.databaseFile(Self.database).path) == a.rows())
            }
            #expect(try Self.v1(server, "upload") == 2, "nothing more went by v1")
        }
    }

    @Test("a server without v2 keeps devices on v1; one that drops v2 makes them fall back", arguments: [false, true])
    func fallsBackToV1(postgres: Bool) async throws {
        try await withServer(postgres: postgres) { server in
            let key = try server.createDatabase(Self.database, schema: Self.schema)
            server.serveArguments = ["--no-protocol-v2"]
            try server.start()
            let a = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: key)
            let b = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: key)
            try a.execute("INSERT INTO todo(id, title) VALUES ('1', 'milk')")
            try a.sync()
            try b.sync()
            #expect(try b.rows() == a.rows() && b.rows().count == 1)
            #expect(try Self.remembered(a) == nil && Self.remembered(b) == nil, "an old server never offers v2")
            #expect(try Self.v2(server, "apply") + Self.v2(server, "check") == 0)

            // v2 on: both switch.
            server.stop()
            server.serveArguments = []
            try server.start()
            try a.sync()
            try b.sync()
            #expect(try Self.remembered(a) == 2 && Self.remembered(b) == 2)

            // v2 off again (a downgraded server): the v2 requests get 404, the devices redo them
            // by v1, forget v2, and lose nothing.
            server.stop()
            server.serveArguments = ["--no-protocol-v2"]
            try server.start()
            try a.execute("INSERT INTO todo(id, title) VALUES ('2', 'bread')")
            try b.execute("UPDATE todo SET title = 'oat milk' WHERE id = '1'")
            try a.sync()
            try b.sync()
            try a.sync()
            #expect(try a.rows() == b.rows() && a.rows().count == 2)
            #expect(try a.rows().first?[1] == .string("oat milk"))
            #expect(try Self.remembered(a) == 1 && Self.remembered(b) == 1)
            // Without v2 its routes do not exist: the requests tried count as not found.
            #expect(try Self.requests(server, "NotFound", "") >= 2, "both devices tried v2 and were refused")
            #expect(try a.hasUnsentChanges == false && b.hasUnsentChanges == false)
        }
    }

    @Test("rows refused by Row-Level Security are reported over v2", arguments: [false, true])
    func refusedRowsOverV2(postgres: Bool) async throws {
        try await withServer(postgres: postgres) { server in
            let schema = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, user_id TEXT, title TEXT NOT NULL DEFAULT '');"
            _ = try server.createDatabase("notes.sqlite", schema: schema)
            try server.setPolicy(
                database: "notes.sqlite", table: "notes", select: "user_id = auth_userid()", insert: "NEW.user_id = auth_userid()",
                update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id", delete: "OLD.user_id = auth_userid()")
            try server.start()
            let token = try server.createToken(database: "notes.sqlite", user: "alice")
            let alice = try Device(schema: schema, server: server.url, database: "notes.sqlite", apiKey: "")
            try alice.connection.run("SELECT cloudsync_network_set_token(?1)", [.string(token)])
            try alice.execute("INSERT INTO notes(id, user_id, title) VALUES ('a1', 'alice', 'mine')")
            try alice.sync()
            #expect(try Self.remembered(alice) == 2)
            let appliesBefore = try Self.v2(server, "apply")

            try alice.execute("INSERT INTO notes(id, user_id, title) VALUES ('b1', 'bob', 'planted'), ('a2', 'alice', 'also mine')")
            var message: String?
            do { try alice.sync() } catch let error as CloudSyncError { message = error.message }
            #expect(message == "cloudsync_network_sync: the server refused 1 row of table notes (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
            #expect(try Self.v2(server, "apply") == appliesBefore + 1, "the refused page went by v2")
            // Accepted rows stay, the cursor moved past the refused one: nothing is sent again.
            #expect(try alice.hasUnsentChanges == false)
            try alice.sync()
            #expect(try Self.v2(server, "apply") == appliesBefore + 1)
        }
    }

    /// Random writes on four devices, two kept on v1 and two free to use v2, with small pages on
    /// both sides (server pages of 3 changes cut versions for v1 and two devices take one page
    /// per check, so receive cursors stay inside versions, where a v2 check must resume; device
    /// pages of 2 changes are stretched to whole versions), random cursor resets
    /// (everything sent and received again), and the server restarted at random with and without
    /// v2 (devices switch and fall back mid-run). At the end every device and the server hold the
    /// same rows.
    @Test("v1 and v2 devices converge while the server gains and drops v2", arguments: [false, true], [3, 4] as [UInt64])
    func randomizedMixedProtocols(postgres: Bool, seed: UInt64) async throws {
        try await withServer(postgres: postgres) { server in
            let key = try server.createDatabase(Self.database, schema: Self.schema)
            server.serveArguments = ["--page-size", "3"]
            try server.start()
            let devices = try (0..<4).map { index in
                let device = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: key)
                let session = try #require(NetworkFunctions.session(of: device.context))
                session.allowsProtocolV2 = index >= 2
                session.maxChangesPerUpload = 2
                // One page per check on two of them: a check stops wherever a v1 page was cut.
                if index % 2 == 1 { session.maxDownloadsPerCheck = 1 }
                return device
            }
            var random = SeededGenerator(seed: seed)
            var v2Served = true
            for step in 0..<120 {
                let device = devices.randomElement(using: &random)!
                let id = "k\(Int.random(in: 0..<8, using: &random))"
                switch Int.random(in: 0..<100, using: &random) {
                case 0..<30:
                    // Several rows in one transaction: versions of many changes.
                    let rows = (0..<Int.random(in: 1...3, using: &random)).map { "('\(id)-\($0)', 's\(step)', \($0))" }
                    try device.execute("INSERT OR REPLACE INTO todo(id, title, done) VALUES \(rows.joined(separator: ", "))")
                case 30..<45: try device.execute("UPDATE todo SET title = 's\(step)', done = done + 1 WHERE id LIKE '\(id)%'")
                case 45..<52: try device.execute("DELETE FROM todo WHERE id LIKE '\(id)%'")
                case 52..<57: _ = try device.connection.scalar("SELECT cloudsync_network_reset_sync_version()")
                case 57..<61:
                    server.stop()
                    v2Served.toggle()
                    server.serveArguments = ["--page-size", "3"] + (v2Served ? [] : ["--no-protocol-v2"])
                    try server.start()
                default: try device.sync()
                }
            }
            // Back to v2 for the end: everything must still arrive.
            server.stop()
            server.serveArguments = ["--page-size", "3"]
            try server.start()
            for _ in 0..<3 {
                for device in devices.shuffled(using: &random) {
                    while try device.sync() > 0 {}
                }
            }
            let expected = try devices[0].rows()
            for (index, device) in devices.enumerated() {
                #expect(try device.rows() == expected, "device \(index) (\(index >= 2 ? "v2" : "v1"))")
                #expect(try device.hasUnsentChanges == false)
                #expect(try Self.remembered(device) == (index >= 2 ? 2 : nil))
            }
            if !postgres {
                #expect(try rows(ofFile: server.databaseFile(Self.database).path) == expected)
            }
            #expect(try Self.v2(server, "apply") + Self.v2(server, "check") > 0)
        }
    }
}
