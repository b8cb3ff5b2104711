import CloudSyncCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CloudSyncServer

@Suite("Bad input, credentials and blob URLs")
struct ErrorTests {
    @Test("missing, wrong, revoked and foreign keys get 401; unknown database 404", arguments: StorageBackend.allCases)
    func credentials(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.storage.createDatabase(name: "other.sqlite", schema: todoSchema, tables: nil)
            let otherKey = try await fixture.storage.createAPIKey(database: "other.sqlite")
            let site = try Device().siteHex

            try await fixture.application().test(.router) { client in
                let missing = try await SyncClient(client: client, key: nil).requestUploadURL(site: site)
                #expect(missing.status == .unauthorized)
                #expect(missing.text.contains("missing credential"))

                let wrong = try await SyncClient(client: client, key: "csk_" + String(repeating: "0", count: 64)).check(site: site, cursor: .start)
                #expect(wrong.status == .unauthorized)
                #expect(wrong.text == "invalid or revoked API key")

                let foreign = try await SyncClient(client: client, key: otherKey).check(site: site, cursor: .start)
                #expect(foreign.status == .unauthorized)
                #expect(foreign.text.contains("not valid for database todo.sqlite"))
                // The other key works on its own database.
                let own = try await SyncClient(client: client, database: "other.sqlite", key: otherKey).check(site: site, cursor: .start)
                #expect(own.status == .ok)

                let unknown = try await SyncClient(client: client, database: "nope.sqlite", key: fixture.key).check(site: site, cursor: .start)
                #expect(unknown.status == .notFound)
                #expect(unknown.text.contains("does not exist"))

                // Revoked while the server runs: refused on the next request.
                let sync = SyncClient(client: client, key: fixture.key)
                #expect(try await sync.check(site: site, cursor: .start).status == .ok)
                try await fixture.storage.revokeAPIKey(fixture.key)
                let revoked = try await sync.check(site: site, cursor: .start)
                #expect(revoked.status == .unauthorized)
                #expect(revoked.text == "invalid or revoked API key")
            }
        }
    }

    @Test("a database and key created while the server runs work at once", arguments: StorageBackend.allCases)
    func liveAdministration(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let device = try Device()
            try device.insertTodos(2, prefix: "x")
            try await fixture.application().test(.router) { client in
                // A second storage on the same data, as the CLI would open it.
                let admin = try await fixture.openAnotherStorage()
                try await admin.createDatabase(name: "late.sqlite", schema: todoSchema, tables: ["todo"])
                let key = try await admin.createAPIKey(database: "late.sqlite")
                await admin.close()
                let sync = SyncClient(client: client, database: "late.sqlite", key: key)
                let sent = try await sync.send(device)
                #expect(sent > 0)
                let check = try await SyncClient(client: client, database: "late.sqlite", key: key).check(site: Device().siteHex, cursor: .start)
                let payload = try PayloadDecoder.decode(try await sync.fetch(check.text).bytes)
                #expect(payload.changes.count == sent)
                #expect(try await fixture.serverRows("late.sqlite").count == 2)
            }
        }
    }

    @Test("site ids must be 32 hex digits", arguments: StorageBackend.allCases, ["xyz", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", "zz23456789abcdef0123456789abcdef"])
    func badSiteID(backend: StorageBackend, site: String) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let upload = try await sync.requestUploadURL(site: site)
                #expect(upload.status == .badRequest)
                #expect(upload.text.contains("invalid site id"))
                let check = try await sync.check(site: site, cursor: .start)
                #expect(check.status == .badRequest)
            }
        }
    }

    @Test("check cursor must be two non-negative integers", arguments: StorageBackend.allCases)
    func badCursor(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let site = try Device().siteHex
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                for suffix in ["abc/0/check", "0/-1/check"] {
                    let response = try await client.executeRequest(uri: sync.base(site) + "/" + suffix, method: .post, headers: sync.headers, body: nil)
                    #expect(response.status == .badRequest)
                }
            }
        }
    }

    @Test("a malformed payload gets 400 and changes nothing", arguments: StorageBackend.allCases)
    func malformedPayload(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try Device()
            try alice.insertTodos(2, prefix: "a")
            let good = try #require(try alice.pendingUpload()).payload
            let truncated = Array(good.dropLast(3))
            let stranger = try Device(schema: "CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, label TEXT)")
            try stranger.execute("INSERT INTO todo VALUES ('s', 'x')")
            let otherSchema = try #require(try stranger.pendingUpload()).payload

            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try await sync.send(alice)
                let before = try await fixture.serverRows()
                #expect(before.count == 2)
                for payload in [Array("not a payload".utf8), truncated, otherSchema] {
                    let url = try await sync.requestUploadURL(site: alice.siteHex).text
                    #expect(try await sync.put(url, payload).status == .ok)
                    let notified = try await sync.notify(site: alice.siteHex, url: url)
                    #expect(notified.status == .badRequest)
                    #expect(!notified.text.isEmpty)
                }
                #expect(try await fixture.serverRows() == before)
            }
        }
    }

    @Test("a notify body that is not {\"url\": ...} gets 400", arguments: StorageBackend.allCases)
    func badNotifyBody(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let site = try Device().siteHex
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let garbage = try await client.executeRequest(uri: sync.base(site) + "/upload", method: .post, headers: sync.headers, body: ByteBuffer(string: "{"))
                #expect(garbage.status == .badRequest)
                let foreign = try await sync.notify(site: site, url: "http://elsewhere/x")
                #expect(foreign.status == .badRequest)
                let unknown = try await sync.notify(site: site, url: ServerFixture.publicURL + "/v1/blobs/" + String(repeating: "ab", count: 32))
                #expect(unknown.status == .notFound)
            }
        }
    }

    @Test("an oversized body gets 413", arguments: StorageBackend.allCases)
    func oversizedBody(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend, { $0.maxBodySize = 1024 }) { fixture in
            let site = try Device().siteHex
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let url = try await sync.requestUploadURL(site: site).text
                let response = try await sync.put(url, [UInt8](repeating: 7, count: 4096))
                #expect(response.status == .contentTooLarge)
                #expect(response.text.contains("1024"))
            }
        }
    }

    @Test("a payload that decompresses past the limit gets 413", arguments: StorageBackend.allCases)
    func oversizedExpansion(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend, { $0.maxExpandedSize = 1000 }) { fixture in
            let alice = try Device()
            try alice.execute("INSERT INTO todo(id, title) VALUES ('big', '\(String(repeating: "a", count: 5000))')")
            let payload = try #require(try alice.pendingUpload()).payload
            #expect(try PayloadHeader(parsing: payload).expandedSize > 1000)
            #expect(payload.count < 1000)
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let url = try await sync.requestUploadURL(site: alice.siteHex).text
                #expect(try await sync.put(url, payload).status == .ok)
                let notified = try await sync.notify(site: alice.siteHex, url: url)
                #expect(notified.status == .contentTooLarge)
                #expect(try await fixture.serverRows().isEmpty)
            }
        }
    }

    @Test("a used blob URL cannot be PUT or notified again", arguments: StorageBackend.allCases)
    func replayedBlobURL(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try Device()
            try alice.insertTodos(1, prefix: "a")
            let payload = try #require(try alice.pendingUpload()).payload
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let url = try await sync.send(site: alice.siteHex, payload: payload)
                let put = try await sync.put(url, payload)
                #expect(put.status == .conflict)
                #expect(put.text.contains("already used"))
                let notified = try await sync.notify(site: alice.siteHex, url: url)
                #expect(notified.status == .conflict)
                #expect(notified.text.contains("already used"))
            }
        }
    }

    @Test("a blob URL is refused for another site or database", arguments: StorageBackend.allCases)
    func blobURLScope(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.storage.createDatabase(name: "other.sqlite", schema: todoSchema, tables: nil)
            let otherKey = try await fixture.storage.createAPIKey(database: "other.sqlite")
            let alice = try Device()
            let mallory = try Device()
            try alice.insertTodos(1, prefix: "a")
            let payload = try #require(try alice.pendingUpload()).payload
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let url = try await sync.requestUploadURL(site: alice.siteHex).text
                #expect(try await sync.put(url, payload).status == .ok)

                let otherSite = try await sync.notify(site: mallory.siteHex, url: url)
                #expect(otherSite.status == .forbidden)
                let otherDatabase = try await SyncClient(client: client, database: "other.sqlite", key: otherKey).notify(site: alice.siteHex, url: url)
                #expect(otherDatabase.status == .forbidden)
                #expect(try await fixture.serverRows("other.sqlite").isEmpty)

                // The refused notifies did not use it up.
                #expect(try await sync.notify(site: alice.siteHex, url: url).status == .ok)
                #expect(try await fixture.serverRows().count == 1)
                // Upload URLs cannot be downloaded.
                #expect(try await sync.fetch(url).status == .methodNotAllowed)
            }
        }
    }

    @Test("expired blob URLs are refused", arguments: StorageBackend.allCases)
    func expiredBlobURL(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend, { $0.blobLifetime = .zero }) { fixture in
            let alice = try Device()
            let bob = try Device()
            try alice.insertTodos(1, prefix: "a")
            let payload = try #require(try alice.pendingUpload()).payload
            _ = try await fixture.storage.merge(database: ServerFixture.database, site: SiteID(bytes: alice.site)!, payload: payload, as: .administrator)
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let url = try await sync.requestUploadURL(site: alice.siteHex).text
                let put = try await sync.put(url, payload)
                #expect(put.status == .gone)
                #expect(put.text.contains("expired"))

                let checked = try await sync.check(site: bob.siteHex, cursor: .start)
                #expect(checked.status == .ok)
                #expect(!checked.text.isEmpty)
                #expect(try await sync.fetch(checked.text).status == .gone)
            }
        }
    }

    @Test("short-lived blob URLs expire between PUT and notify", arguments: StorageBackend.allCases)
    func blobURLExpiresAfterPut(backend: StorageBackend) async throws {
        // Long enough for the PUT to land in time on a loaded machine.
        try await ServerFixture.with(backend, { $0.blobLifetime = .seconds(3) }) { fixture in
            let alice = try Device()
            try alice.insertTodos(1, prefix: "a")
            let payload = try #require(try alice.pendingUpload()).payload
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                // On a loaded machine the URL may expire before the PUT lands: then take a new one
                // (the expiry before PUT has its own test above).
                var url = ""
                var status = HTTPResponse.Status.gone
                for _ in 0..<5 where status == .gone {
                    url = try await sync.requestUploadURL(site: alice.siteHex).text
                    status = try await sync.put(url, payload).status
                }
                #expect(status == .ok)
                // A URL issued after this one has expired once this one has: notified with
                // nothing PUT, it answers 409 until then and 410 after.
                let probe = try await sync.requestUploadURL(site: alice.siteHex).text
                try await waitUntil("a later upload URL expires") { try await sync.notify(site: alice.siteHex, url: probe).status == .gone }
                #expect(try await sync.notify(site: alice.siteHex, url: url).status == .gone)
                #expect(try await fixture.serverRows().isEmpty)
            }
        }
    }

    @Test("unknown routes and blob tokens get short text 404s", arguments: StorageBackend.allCases)
    func unknownRoutes(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.application().test(.router) { client in
                let route = try await client.executeRequest(uri: "/v1/other", method: .get, headers: [:], body: nil)
                #expect(route.status == .notFound)
                #expect(route.text == "not found")
                let blob = try await client.executeRequest(uri: "/v1/blobs/../../catalog.sqlite", method: .get, headers: [:], body: nil)
                #expect(blob.status == .notFound)
                let token = try await client.executeRequest(uri: "/v1/blobs/" + String(repeating: "0", count: 64), method: .get, headers: [:], body: nil)
                #expect(token.status == .notFound)
                #expect(token.text == "unknown blob URL")
            }
        }
    }
}
