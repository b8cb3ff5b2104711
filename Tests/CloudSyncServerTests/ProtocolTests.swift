import CloudSyncCore
import Foundation
import HummingbirdTesting
import Testing

@testable import CloudSyncServer
import HTTPTypes

@Suite("Sync protocol")
struct ProtocolTests {
    @Test("upload by one device, download and apply by another", arguments: StorageBackend.allCases)
    func uploadThenDownload(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try Device()
            let bob = try Device()
            try alice.insertTodos(3, prefix: "a")
            try alice.execute("UPDATE todo SET done = 1 WHERE id = 'a-1'")

            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                // The upload URL is absolute, under the configured public URL.
                let upload = try await sync.requestUploadURL(site: alice.siteHex)
                #expect(upload.status == .ok)
                #expect(upload.text.hasPrefix(ServerFixture.publicURL + "/v1/blobs/"))

                let sent = try await sync.send(alice)
                #expect(sent > 0)
                // Acknowledged means merged: the server's database has the rows now.
                #expect(try await fixture.serverRows() == alice.snapshot())
                if backend == .embedded {
                    #expect(try await fixture.serverQuery("PRAGMA journal_mode") == [[.string("wal")]])
                }

                let (pages, changes) = try await sync.receiveAll(bob)
                #expect(pages == 1)
                #expect(changes.count == sent)
                #expect(try bob.snapshot() == alice.snapshot())
                #expect(try bob.snapshot().count == 3)
                #expect(try bob.snapshot()[1] == [.string("a-1"), .string("title a 1"), .integer(1)])

                // Nothing more: an empty 200.
                let again = try await sync.check(site: bob.siteHex, cursor: bob.checkCursor)
                #expect(again.status == .ok)
                #expect(again.text.isEmpty)
            }
        }
    }

    @Test("a device does not get its own changes back", arguments: StorageBackend.allCases)
    func ownChangesExcluded(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try Device()
            let bob = try Device()
            try alice.insertTodos(4, prefix: "a")
            try bob.insertTodos(2, prefix: "b")

            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try await sync.send(alice)
                let nothing = try await sync.check(site: alice.siteHex, cursor: .start)
                #expect(nothing.status == .ok)
                #expect(nothing.text.isEmpty)

                let bobSent = try await sync.send(bob)
                let (_, changes) = try await sync.receiveAll(alice)
                #expect(changes.count == bobSent)
                #expect(changes.allSatisfy { $0.siteID == bob.site })
                #expect(try alice.count() == 6)
                let (_, toBob) = try await sync.receiveAll(bob)
                #expect(toBob.allSatisfy { $0.siteID == alice.site })
                #expect(try bob.snapshot() == alice.snapshot())
            }
        }
    }

    @Test("downloads come in bounded pages, each change exactly once", arguments: StorageBackend.allCases)
    func paging(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend, { $0.maxChangesPerPage = 5 }) { fixture in
            let alice = try Device()
            let bob = try Device()
            let carol = try Device()
            try alice.insertTodos(7, prefix: "a")
            try bob.insertTodos(6, prefix: "b")

            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let sentByAlice = try await sync.send(alice)
                let sentByBob = try await sync.send(bob)
                // A later change to a row already sent.
                try alice.execute("UPDATE todo SET title = 'changed' WHERE id = 'a-0'")
                let sentLater = try await sync.send(alice)
                #expect(sentLater == 1)

                let (pages, changes) = try await sync.receiveAll(carol)
                let total = sentByAlice + sentByBob
                // a-0's title moved to a later version: it is delivered once, with its new value.
                #expect(changes.count == total)
                #expect(pages == (total + 4) / 5)
                let cells = changes.map { "\($0.table)|\(Hex.encode($0.pk))|\($0.column)" }
                #expect(Set(cells).count == cells.count)
                // Cursors strictly increase from page to page and inside pages.
                let cursors = changes.map { SyncCursor(dbVersion: $0.dbVersion, seq: $0.seq) }
                #expect(cursors == cursors.sorted())
                #expect(Set(cursors).count == cursors.count)
                #expect(try carol.count() == 13)
                #expect(try await carol.snapshot() == fixture.serverRows())
                #expect(try carol.context.connection.scalar("SELECT title FROM todo WHERE id = 'a-0'") == .string("changed"))
            }
        }
    }

    @Test("re-sending a payload that was already merged is a no-op", arguments: StorageBackend.allCases)
    func resendIsNoOp(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try Device()
            let bob = try Device()
            try alice.insertTodos(5, prefix: "a")
            let pending = try #require(try alice.pendingUpload())

            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try await sync.send(site: alice.siteHex, payload: pending.payload)
                let rowsAfterFirst = try await fixture.serverRows()
                let clocksAfterFirst = try await fixture.serverClocks()
                #expect(clocksAfterFirst.count == pending.count)
                // The client did not see the acknowledgement and sends the same changes again.
                try await sync.send(site: alice.siteHex, payload: pending.payload)
                #expect(try await fixture.serverRows() == rowsAfterFirst)
                #expect(try await fixture.serverClocks() == clocksAfterFirst)

                let (_, changes) = try await sync.receiveAll(bob)
                #expect(changes.count == pending.count)
                #expect(try bob.snapshot() == alice.snapshot())
            }
        }
    }

    @Test("eight devices uploading at once are all merged", arguments: StorageBackend.allCases)
    func concurrentUploads(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            var uploads: [(site: String, payload: [UInt8])] = []
            for index in 0..<8 {
                let device = try Device()
                try device.insertTodos(10, prefix: "d\(index)")
                uploads.append((device.siteHex, try #require(try device.pendingUpload()).payload))
            }
            let reader = try Device()
            let allUploads = uploads

            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for upload in allUploads {
                        group.addTask { try await sync.send(site: upload.site, payload: upload.payload) }
                        // Readers at the same time.
                        group.addTask { _ = try await sync.check(site: upload.site, cursor: .start) }
                    }
                    try await group.waitForAll()
                }
                #expect(try await fixture.serverRows().count == 80)
                let (_, changes) = try await sync.receiveAll(reader)
                #expect(Set(changes.map(\.siteID)).count == 8)
                #expect(try reader.count() == 80)
                #expect(try await reader.snapshot() == fixture.serverRows())
            }
        }
    }

    @Test("full flow over real HTTP on loopback", arguments: StorageBackend.allCases)
    func liveServer(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend, { $0.publicBaseURL = nil }) { fixture in
            let alice = try Device()
            let bob = try Device()
            try alice.insertTodos(20, prefix: "a")

            try await fixture.application().test(.live) { client in
                #expect(client.port != nil)
                let sync = SyncClient(client: client, key: fixture.key)
                let health = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
                #expect(health.status == .ok)
                // Without a public URL, blob URLs are built from the Host header.
                let upload = try await sync.requestUploadURL(site: alice.siteHex)
                #expect(upload.text.hasPrefix("http://localhost"))
                #expect(upload.text.contains("/v1/blobs/"))

                let sent = try await sync.send(alice)
                let (pages, changes) = try await sync.receiveAll(bob)
                #expect(pages == 1)
                #expect(changes.count == sent)
                #expect(try bob.snapshot() == alice.snapshot())
                #expect(try bob.count() == 20)
            }
        }
    }

    @Test("health check", arguments: StorageBackend.allCases)
    func health(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.application().test(.router) { client in
                let response = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
                #expect(response.status == .ok)
                #expect(response.text == "ok")
            }
        }
    }
}
