import CloudSyncNetwork
import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudSyncServer

/// The protocol-v2 endpoints (sync-protocol-v2.md §11.1 and the chunked answers of §11.2) on
/// both storages, spoken by `V2TestClient`.
///
/// Serialized, as the convergence suite, to keep the PostgreSQL connections in use few.
@Suite("Sync protocol v2", .serialized)
struct ProtocolV2Tests {
    func client(_ fixture: ServerFixture, _ generation: V2TestClient.Generation, _ device: Device? = nil) throws -> DeviceV2Client {
        try DeviceV2Client(try device ?? Device(), generation, database: ServerFixture.database, credential: fixture.key)
    }

    /// The number of change rows (clocks) of `device` after `version`: what a peer receives.
    func changeCount(_ device: Device, after version: Int64 = 0) throws -> Int {
        try device.context.encodePayload(where: [.dbVersionAfter(version)])?.count ?? 0
    }

    /// The structural hash in a downloaded payload's header.
    func structuralHash(_ payload: [UInt8]) throws -> UInt64 {
        try PayloadHeader(parsing: payload).schemaHash
    }

    @Test("1.0.12: upload URL, PUT, apply, check by URL, status", arguments: StorageBackend.allCases)
    func legacyClients(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try client(fixture, .v1_0_12)
            let bob = try client(fixture, .v1_0_12)
            try alice.device.insertTodos(3, prefix: "a")
            try alice.device.execute("UPDATE todo SET done = 1 WHERE id = 'a-1'")
            let aliceVersion = try alice.device.context.databaseVersion()
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                let upload = try await alice.call(http, "upload", "GET")
                #expect(upload.status == 200)
                #expect(upload.header("Content-Type") == "application/json")
                #expect(V2Fields.string("url", in: upload.text)?.hasPrefix(ServerFixture.publicURL + "/v1/blobs/") == true)

                let answer = try #require(try await alice.send(http))
                #expect(answer == #"{"lastOptimisticVersion":\#(aliceVersion),"lastConfirmedVersion":\#(aliceVersion),"gaps":[]}"#)
                #expect(alice.sendVersion == aliceVersion)
                #expect(try await fixture.serverRows() == alice.device.snapshot())

                // The check answer is a URL to a version-2 payload with the structural hash.
                let check = try await bob.call(http, "check", "POST", json: #"{"dbVersion":0, "seq":0}"#)
                #expect(check.status == 200)
                let url = try #require(V2Fields.string("url", in: check.text))
                let payload = try await bob.download(http, url)
                #expect(payload[4] == 2)
                #expect(try structuralHash(payload) == bob.device.context.schemaHash(for: .v2))

                #expect(try await bob.receive(http) == changeCount(alice.device))
                #expect(try bob.device.snapshot() == alice.device.snapshot())
                #expect(bob.checkVersion > 0)
                // Nothing new: an empty 200, as 1.0.12 reads it.
                let nothing = try await bob.call(http, "check", "POST", json: #"{"dbVersion":\#(bob.checkVersion), "seq":\#(bob.checkSeq)}"#)
                #expect(nothing.status == 200)
                #expect(nothing.text.isEmpty)
                #expect(try await bob.receive(http) == 0)

                let status = try await alice.call(http, "status", "GET")
                #expect(V2Fields.integer("lastOptimisticVersion", in: status.text) == aliceVersion)
                #expect(V2Fields.integer("lastOptimisticVersion", in: try await bob.call(http, "status", "GET").text) == 0)
                // Nothing more to send: the status keeps the cursor.
                try await alice.send(http)
                #expect(alice.sendVersion == aliceVersion)
            }
        }
    }

    @Test("1.1.x: inline apply, chunked check inline and by URL, 202 when nothing is ready", arguments: StorageBackend.allCases)
    func chunkedClients(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try client(fixture, .v1_1)
            let bob = try client(fixture, .v1_1)
            try alice.device.insertTodos(2, prefix: "a")
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                try await alice.send(http)
                #expect(alice.sendVersion == (try alice.device.context.databaseVersion()))
                #expect(try await fixture.serverRows() == alice.device.snapshot())

                let inline = try await bob.call(http, "check", "POST", json: #"{"dbVersion":0, "seq":0, "cursor":0}"#, check: true)
                #expect(inline.status == 200)
                #expect(inline.text.hasPrefix(#"{"data":{"final":true,"nextCursor":0,"chunks":[{"cursor":0,"payload":""#))
                #expect(try await bob.receive(http) == changeCount(alice.device))
                #expect(try bob.device.snapshot() == alice.device.snapshot())

                let nothing = try await bob.call(http, "check", "POST", json: #"{"dbVersion":\#(bob.checkVersion), "seq":0, "cursor":0}"#, check: true)
                #expect(nothing.status == 202)
                #expect(V2Fields.integer("lastOptimisticVersion", in: nothing.text) == 0)

                // Incompressible titles: over 128 KiB, so the page travels by URL (and the
                // upload goes through GET upload and PUT).
                var random = SeededGenerator(seed: 7)
                try alice.device.execute("BEGIN")
                for index in 0..<3 {
                    let title = (0..<60_000).map { _ in String(UInt8.random(in: 0...15, using: &random), radix: 16) }.joined()
                    try alice.device.context.connection.run("INSERT INTO todo(id, title) VALUES (?1, ?2)", [.string("big-\(index)"), .string(title)])
                }
                try alice.device.execute("COMMIT")
                let bigVersion = try alice.device.context.databaseVersion()
                try await alice.send(http)
                #expect(try await fixture.serverRows() == alice.device.snapshot())
                let big = try await bob.call(http, "check", "POST", json: #"{"dbVersion":\#(bob.checkVersion), "seq":0, "cursor":0}"#, check: true)
                #expect(big.text.contains(#""chunks":[{"cursor":0,"url":"http://sync.test/v1/blobs/"#))
                #expect(try await bob.receive(http) == changeCount(alice.device, after: bigVersion - 1))
                #expect(try bob.device.snapshot() == alice.device.snapshot())
                // The 1.1.x page cursor is never announced past 0.
                let unknown = try await bob.call(http, "check", "POST", json: #"{"dbVersion":0, "seq":0, "cursor":2}"#, check: true)
                #expect(unknown.status == 400)
            }
        }
    }

    @Test("pages end on whole server versions and the watermark resumes after them", arguments: StorageBackend.allCases)
    func wholeVersions(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend, { $0.maxChangesPerPage = 2 }) { fixture in
            let alice = try client(fixture, .v1_1)
            let legacy = try client(fixture, .v1_0_12)
            let chunked = try client(fixture, .v1_1)
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                // Two uploads: two server versions.
                try alice.device.insertTodos(4, prefix: "a")
                try await alice.send(http)
                try alice.device.insertTodos(3, prefix: "b")
                try await alice.send(http)
                // 1.0.12 makes one check per call: each page holds whole versions (each
                // version here is one transaction of 4 or 3 rows, 3 changes per row).
                let second = try changeCount(alice.device, after: 1)
                let first = try changeCount(alice.device) - second
                #expect(first > 2 && second > 2, "each version is more than a page of 2")
                #expect(try await legacy.receive(http) == first)
                #expect(try await legacy.receive(http) == second)
                #expect(try await legacy.receive(http) == 0)
                #expect(try legacy.device.snapshot() == alice.device.snapshot())
                #expect(try await chunked.receive(http) == first + second)
                #expect(try await chunked.receive(http) == 0)
                #expect(try chunked.device.snapshot() == alice.device.snapshot())
            }
        }
    }

    @Test("windows: a hole holds the cursor back; a repeated apply changes nothing", arguments: StorageBackend.allCases)
    func windows(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try client(fixture, .v1_1)
            try alice.device.insertTodos(2, prefix: "a")
            let payload = try #require(try alice.device.context.encodePayload(format: .v2)).payload
            let blob = Data(payload).base64EncodedString()
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                let later = try await alice.call(http, "apply", "POST", json: #"{"blob":"\#(blob)", "dbVersionMin":3, "dbVersionMax":4}"#)
                #expect(V2Fields.integer("lastOptimisticVersion", in: later.text) == 0)
                let rows = try await fixture.serverRows()
                let clocks = try await fixture.serverClocks()
                #expect(rows.count == 2)
                let first = try await alice.call(http, "apply", "POST", json: #"{"blob":"\#(blob)", "dbVersionMin":1, "dbVersionMax":2}"#)
                #expect(V2Fields.integer("lastOptimisticVersion", in: first.text) == 4)
                #expect(V2Fields.integer("lastConfirmedVersion", in: first.text) == 4)
                #expect(try await fixture.serverRows() == rows)
                #expect(try await fixture.serverClocks() == clocks, "the same payload again is a no-op")
                #expect(V2Fields.integer("lastOptimisticVersion", in: try await alice.call(http, "status", "GET").text) == 4)
            }
        }
    }

    @Test("bad input: clear errors, nothing changed", arguments: StorageBackend.allCases)
    func badInput(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try client(fixture, .v1_1)
            try alice.device.insertTodos(2, prefix: "a")
            let blob = Data(try #require(try alice.device.context.encodePayload(format: .v2)).payload).base64EncodedString()
            // Version 3 (fragments of a large value, 1.1.x) is not read yet: refused by name.
            var fragments = try #require(try alice.device.context.encodePayload(format: .v2)).payload
            fragments[4] = 3
            let v3 = Data(fragments).base64EncodedString()
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                let cases: [(String, Int, String)] = [
                    ("not json", 400, "expected a JSON object"),
                    (#"{"blob":"not base64!", "dbVersionMin":1, "dbVersionMax":2}"#, 400, "not standard base64"),
                    (#"{"blob":"\#(blob)", "dbVersionMin":2, "dbVersionMax":1}"#, 400, "above"),
                    (#"{"blob":"\#(blob)"}"#, 400, "missing \"dbVersionMin\""),
                    (#"{"blob":"AAAA", "dbVersionMin":1, "dbVersionMax":1}"#, 400, "payload"),
                    (#"{"blob":"\#(v3)", "dbVersionMin":1, "dbVersionMax":2}"#, 400, "version 3"),
                    (#"{"url":"http://sync.test/v1/blobs/\#(String(repeating: "ab", count: 32))", "dbVersionMin":1, "dbVersionMax":1}"#, 404, "unknown blob URL"),
                    (#"{"url":"http://elsewhere/x", "dbVersionMin":1, "dbVersionMax":1}"#, 400, "not a blob URL"),
                ]
                for (body, status, message) in cases {
                    let answer = try await alice.call(http, "apply", "POST", json: body)
                    #expect(answer.status == status, "\(body.prefix(60))")
                    #expect(answer.text.contains(message), "\(body.prefix(60)): \(answer.text)")
                }
                let badCheck = try await alice.call(http, "check", "POST", json: #"{"dbVersion":"x"}"#, check: true)
                #expect(badCheck.status == 400)

                let good = #"{"blob":"\#(blob)", "dbVersionMin":1, "dbVersionMax":2}"#
                alice.credential = "wrong key"
                #expect(try await alice.call(http, "apply", "POST", json: good).status == 401)
                #expect(try await alice.call(http, "status", "GET").status == 401)
                alice.credential = nil
                #expect(try await alice.call(http, "upload", "GET").status == 401)
                let stranger = try DeviceV2Client(alice.device, .v1_1, database: "nope.sqlite", credential: fixture.key)
                let unknown = try await stranger.call(http, "apply", "POST", json: good)
                #expect(unknown.status == 404)
                #expect(unknown.text.contains("does not exist"))
                let badSite = try await client.executeRequest(
                    uri: "/v2/cloudsync/databases/\(ServerFixture.database)/xyz/status", method: .get, headers: [.authorization: "Bearer \(fixture.key)"], body: nil)
                #expect(badSite.status == .badRequest)
                // A client whose address ends in "/" sends "//v2/..." (sync-protocol-v2.md §2).
                let doubled = try await client.executeRequest(
                    uri: "//v2/cloudsync/databases/\(ServerFixture.database)/\(alice.site)/status", method: .get, headers: [.authorization: "Bearer \(fixture.key)"], body: nil)
                #expect(doubled.status == .ok, "\(doubled.status)")

                #expect(try await fixture.serverRows().isEmpty)
                alice.credential = fixture.key
                #expect(V2Fields.integer("lastOptimisticVersion", in: try await alice.call(http, "status", "GET").text) == 0)
            }
        }
    }

    @Test("Row-Level Security: token users, refused rows reported in failures.apply", arguments: StorageBackend.allCases)
    func rowLevelSecurity(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.storage.createDatabase(name: "shared", schema: rlsSchema, tables: nil)
            try await fixture.storage.setPolicy(RowLevelSecurityTests.personal, database: "shared")
            let alice = try DeviceV2Client(try RLSDevice(.administrator).device, .v1_1, database: "shared", credential: try await fixture.token(for: "alice", database: "shared"))
            let bob = try DeviceV2Client(try RLSDevice(.administrator).device, .v1_0_12, database: "shared", credential: try await fixture.token(for: "bob", database: "shared"))
            try alice.device.execute("INSERT INTO tasks(id, user_id, title) VALUES ('t1', 'alice', 'mine'), ('t2', 'bob', 'planted')")
            try bob.device.execute("INSERT INTO tasks(id, user_id, title) VALUES ('t3', 'bob', 'his')")
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                let answer = try #require(try await alice.send(http))
                #expect(alice.sendVersion == (try alice.device.context.databaseVersion()), "refused rows still advance the cursor")
                #expect(alice.lastSendFailure?["code"] as? String == "rls_denied", "\(answer)")
                #expect((alice.lastSendFailure?["message"] as? String)?.contains("tasks: 1") == true, "\(answer)")
                try await bob.send(http)
                #expect(bob.lastSendFailure == nil)
                try await alice.receive(http)
                try await bob.receive(http)
                #expect(try alice.device.context.connection.rows("SELECT id FROM tasks ORDER BY id") == [[.string("t1")]])
                #expect(try bob.device.context.connection.rows("SELECT id FROM tasks ORDER BY id") == [[.string("t3")]])
                // A site is bound to the first user who used it.
                let thief = try DeviceV2Client(alice.device, .v1_1, database: "shared", credential: try await fixture.token(for: "mallory", database: "shared"))
                #expect(try await thief.call(http, "status", "GET").status == 403)
            }
        }
    }

    @Test("Row-Level Security pages end on whole versions too: many rows hidden at once reach a chunked client", arguments: StorageBackend.allCases)
    func hiddenTogether(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend, { $0.maxChangesPerPage = 2 }) { fixture in
            try await fixture.storage.createDatabase(name: "shared", schema: rlsSchema, tables: nil)
            try await fixture.storage.setPolicy(RowLevelSecurityTests.personal, database: "shared")
            let key = try await fixture.storage.createAPIKey(database: "shared")
            let admin = try DeviceV2Client(try RLSDevice(.administrator).device, .v1_1, database: "shared", credential: key)
            let user = try DeviceV2Client(try RLSDevice(.administrator).device, .v1_1, database: "shared", credential: try await fixture.token(for: "u0", database: "shared"))
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                try admin.device.execute("BEGIN")
                for index in 0..<7 { try admin.device.execute("INSERT INTO tasks(id, user_id, title) VALUES ('t\(index)', 'u0', 'x')") }
                try admin.device.execute("COMMIT")
                try await admin.send(http)
                try await user.receive(http)
                #expect(try user.device.context.connection.rows("SELECT count(*) FROM tasks") == [[.integer(7)]])
                // All seven leave u0 in one transaction: seven hides for u0's devices.
                try admin.device.execute("UPDATE tasks SET user_id = 'u1'")
                try await admin.send(http)
                try await user.receive(http)
                #expect(try user.device.context.connection.rows("SELECT count(*) FROM tasks") == [[.integer(0)]])
            }
        }
    }
}
