import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CloudSyncServer

/// `InlineCheck`: a client that asks gets its page in the check's answer; every other client,
/// a 0.8 one among them, still gets the download URL.
@Suite("Inline check answers")
struct InlineCheckTests {
    static let inline = HTTPField.Name(InlineCheck.requestHeader)!
    static let marker = HTTPField.Name(InlineCheck.responseHeader)!

    static func check(_ sync: SyncClient, _ device: Device, acceptingUpTo bytes: String?) async throws -> TestResponse {
        var headers = sync.headers
        if let bytes { headers[Self.inline] = bytes }
        let cursor = device.checkCursor
        return try await sync.client.executeRequest(
            uri: sync.base(device.siteHex) + "/\(cursor.dbVersion)/\(cursor.seq)/check", method: .post, headers: headers, body: nil)
    }

    @Test("a page small enough comes inline to a client that asks, by URL otherwise", arguments: StorageBackend.allCases)
    func inlineOrURL(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try Device(), bob = try Device()
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger).test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try alice.insertTodos(3, prefix: "a")
                try await sync.send(alice)

                // Without the header (a 0.8 client): the download URL, whose payload is the page.
                let plain = try await Self.check(sync, bob, acceptingUpTo: nil)
                #expect(plain.status == .ok && plain.headers[Self.marker] == nil)
                let download = try await sync.fetch(plain.text)

                // Asking: the same page in the answer itself.
                let inline = try await Self.check(sync, bob, acceptingUpTo: "1048576")
                #expect(inline.status == .ok && inline.headers[Self.marker] == InlineCheck.responseValue)
                #expect(inline.headers[.contentType] == "application/octet-stream")
                #expect(inline.bytes == download.bytes)
                try bob.apply(inline.bytes)
                #expect(try bob.snapshot() == alice.snapshot())

                // A page over what the client takes still comes by URL.
                let tooBig = try await Self.check(sync, try Device(), acceptingUpTo: "10")
                #expect(tooBig.headers[Self.marker] == nil && tooBig.text.hasPrefix("http"))
                // Nonsense in the header is ignored.
                let nonsense = try await Self.check(sync, try Device(), acceptingUpTo: "lots")
                #expect(nonsense.text.hasPrefix("http"))
            }
        }
    }

    @Test("a page fetched by URL stays for retries until its device checks past it, then goes")
    func urlPagesGoOnceTheDeviceMovesOn() async throws {
        try await ServerFixture.with(.embedded, { $0.maxChangesPerPage = 2 }) { fixture in
            let alice = try Device(), bob = try Device()
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger).test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try alice.insertTodos(3, prefix: "a")
                try await sync.send(alice)
                let first = try await Self.check(sync, bob, acceptingUpTo: nil)
                let page = try await sync.fetch(first.text)
                #expect(page.status == .ok)
                // A retry before the device moved on gets the same page.
                #expect(try await sync.fetch(first.text).bytes == page.bytes)
                let report = try bob.context.applyPayload(page.bytes)
                bob.checkCursor = SyncCursor(dbVersion: report.lastDbVersion, seq: report.lastSeq)
                let second = try await Self.check(sync, bob, acceptingUpTo: nil)
                #expect(second.text.hasPrefix("http"))
                #expect(try await sync.fetch(first.text).status == .gone)
                #expect(try await sync.fetch(second.text).status == .ok)
            }
        }
    }

    /// The same on protocol v2: a 1.0.x client (no chunks) gets URLs, and a page goes once the
    /// client checks past it. Without it, a client catching up by URL pages would fill the
    /// server's blob store (1 GiB) for the blobs' lifetime.
    @Test("a v2 page fetched by URL goes once its client checks past it")
    func v2URLPagesGoOnceTheClientMovesOn() async throws {
        try await ServerFixture.with(.embedded, { $0.maxChangesPerPage = 2 }) { fixture in
            let alice = try Device(), bob = try Device()
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger).test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                // Pages over v2's 128 KiB inline size (random text does not compress).
                for id in 1...3 { try alice.execute("INSERT INTO todo(id, title) VALUES ('a\(id)', hex(randomblob(100000)))") }
                try await sync.send(alice)
                let path = sync.base(bob.siteHex).replacingOccurrences(of: "/v1/cloudsync/", with: "/v2/cloudsync/databases/") + "/check"
                /// The URL of the v2 check's answer, nil when it has nothing.
                func check(_ cursor: SyncCursor) async throws -> String? {
                    let body = #"{"dbVersion":\#(cursor.dbVersion),"seq":\#(cursor.seq)}"#
                    let answer = try await client.executeRequest(uri: path, method: .post, headers: sync.headers, body: ByteBuffer(string: body))
                    #expect(answer.status == .ok)
                    let text = String(buffer: answer.body)
                    return text.split(separator: "\"").first { $0.hasPrefix("http") }.map { String($0).replacingOccurrences(of: "\\/", with: "/") }
                }
                let first = try #require(try await check(SyncCursor(dbVersion: 0, seq: 0)))
                let page = try await sync.fetch(first)
                #expect(page.status == .ok)
                #expect(try await sync.fetch(first).bytes == page.bytes)
                let report = try bob.context.applyPayload(page.bytes)
                _ = try await check(SyncCursor(dbVersion: report.lastDbVersion, seq: report.lastSeq))
                #expect(try await sync.fetch(first).status == .gone)
            }
        }
    }

    @Test("a server with inline answers off always answers with the URL")
    func serverCanTurnItOff() async throws {
        try await ServerFixture.with(.embedded, { $0.maxInlinePayload = 0 }) { fixture in
            let alice = try Device(), bob = try Device()
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger).test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try alice.insertTodos(1, prefix: "a")
                try await sync.send(alice)
                let answer = try await Self.check(sync, bob, acceptingUpTo: "1048576")
                #expect(answer.headers[Self.marker] == nil && answer.text.hasPrefix("http"))
            }
        }
    }
}
