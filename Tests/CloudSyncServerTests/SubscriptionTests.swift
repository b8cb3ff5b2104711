import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// The change subscription (`GET .../subscribe`, Server-Sent Events): a device is told when
/// changes it may see wait for it, and fetches them through the normal check.
@Suite("Change subscription")
struct SubscriptionTests {
    /// Opens a subscription for `device` at its check cursor, on a live test server.
    static func subscribe(_ client: some TestClientProtocol, _ device: Device, credential: String) async throws -> EventStreamConnection {
        let cursor = device.checkCursor
        return try await EventStreamConnection.open(
            port: try #require(client.port),
            path: "/v1/cloudsync/\(ServerFixture.database)/\(device.siteHex)/\(cursor.dbVersion)/\(cursor.seq)/subscribe",
            headers: [("Authorization", "Bearer \(credential)")])
    }

    /// What a `changes` event says once the device has received everything up to `cursor`.
    static func changesData(_ cursor: SyncCursor) -> String {
        "{\"db_version\":\(cursor.dbVersion),\"seq\":\(cursor.seq)}"
    }

    static func subscribersWaiting(_ notifier: ChangeNotifier, _ count: Int) async throws {
        try await waitUntil("\(count) subscriptions wait") { notifier.waitingSubscriptions == count }
    }

    /// The next event of `stream`, failing the test when none comes within the loose bound.
    static func nextEvent(_ stream: EventStreamConnection) async throws -> EventStreamConnection.Event {
        try #require(await stream.nextEvent(within: .seconds(10)), "no event within 10 s")
    }

    @Test("a subscription is told of another device's changes once, and the device fetches them through a check", arguments: StorageBackend.allCases)
    func toldOfChanges(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let notifier = ChangeNotifier()
            let metrics = ServerMetrics()
            let alice = try Device(), bob = try Device()
            let application = buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, metrics: metrics, notifier: notifier)
            try await application.test(.live) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                let plain = try await sync.check(site: bob.siteHex, cursor: bob.checkCursor)
                #expect(ChangeSubscription.isSupported(plain.headers[WaitingCheckTests.capability]))
                #expect(WaitingCheck.isSupported(plain.headers[WaitingCheckTests.capability]))

                let stream = try await Self.subscribe(client, bob, credential: fixture.key)
                #expect(stream.status == 200)
                #expect(stream.header("Content-Type") == ChangeSubscription.contentType)
                try await Self.subscribersWaiting(notifier, 1)
                #expect(notifier.subscriptions == 1)
                let scrape = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
                #expect(scrape.text.contains("cloudsync_subscriptions 1"))

                try alice.insertTodos(2, prefix: "a")
                try await sync.send(alice)
                let first = try await Self.nextEvent(stream)
                #expect(first.type == ChangeSubscription.changesEvent)
                _ = try await sync.receiveAll(bob)
                #expect(try bob.snapshot() == alice.snapshot())
                #expect(first.data == Self.changesData(bob.checkCursor))

                // Bob's own upload wakes the subscription, which finds nothing for Bob: no event.
                // Alice's next change is the next event, so Bob was told nothing in between.
                let epoch = notifier.epoch(of: ServerFixture.database)
                try bob.insertTodos(1, prefix: "b")
                try await sync.send(bob)
                try await waitUntil("the subscription looked again") {
                    notifier.epoch(of: ServerFixture.database) != epoch && notifier.waitingSubscriptions == 1
                }
                try alice.insertTodos(1, prefix: "a2")
                try await sync.send(alice)
                let second = try await Self.nextEvent(stream)
                _ = try await sync.receiveAll(bob)
                #expect(second.data == Self.changesData(bob.checkCursor))
                #expect(try bob.count() == 4)
            }
            // The server's graceful shutdown closed the stream it held open.
            #expect(notifier.subscriptions == 0)
        }
    }

    @Test("a subscription opened behind is told at once of what waits after its cursor")
    func toldAtOnceWhenBehind() async throws {
        try await ServerFixture.with(.embedded) { fixture in
            let alice = try Device(), bob = try Device()
            try await fixture.application().test(.live) { client in
                try alice.insertTodos(3, prefix: "a")
                try await SyncClient(client: client, key: fixture.key).send(alice)
                let stream = try await Self.subscribe(client, bob, credential: fixture.key)
                let event = try await Self.nextEvent(stream)
                _ = try await SyncClient(client: client, key: fixture.key).receiveAll(bob)
                #expect(event.data == Self.changesData(bob.checkCursor))
                stream.close()
            }
        }
    }

    /// Ordered so that a wrong wake shows: the invisible change comes first, the subscription
    /// is seen looking again, and the first event must be the visible change's.
    @Test("a token user's subscription is not told of changes to rows it cannot see", arguments: StorageBackend.allCases)
    func invisibleChangesAreNotTold(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let notifier = ChangeNotifier()
            let admin = try Device(), user = try Device()
            try await fixture.storage.setPolicy(
                TablePolicy(table: "todo", select: "title NOT LIKE 'secret%'", insert: "1 = 1", update: "1 = 1", delete: "1 = 1"),
                database: ServerFixture.database)
            let token = try await fixture.token(for: "user")
            let application = buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, notifier: notifier)
            try await application.test(.live) { client in
                let viaAdmin = SyncClient(client: client, key: fixture.key)
                let viaUser = SyncClient(client: client, key: token)
                let stream = try await Self.subscribe(client, user, credential: token)
                #expect(stream.status == 200)
                try await Self.subscribersWaiting(notifier, 1)
                let epoch = notifier.epoch(of: ServerFixture.database)
                try admin.execute("INSERT INTO todo(id, title) VALUES ('s', 'secret plans')")
                try await viaAdmin.send(admin)
                try await waitUntil("the subscription woke and waits again") {
                    notifier.epoch(of: ServerFixture.database) != epoch && notifier.waitingSubscriptions == 1
                }
                try admin.execute("INSERT INTO todo(id, title) VALUES ('v', 'visible')")
                try await viaAdmin.send(admin)
                let event = try await Self.nextEvent(stream)
                _ = try await viaUser.receiveAll(user)
                #expect(try user.snapshot() == [[.string("v"), .string("visible"), .integer(0)]])
                #expect(event.data == Self.changesData(user.checkCursor))
                stream.close()
            }
        }
    }

    @Test("revoking a token or an API key closes its subscriptions", arguments: ["token", "key"])
    func revocationCloses(credentialKind: String) async throws {
        try await ServerFixture.with(.embedded, { $0.subscriptionHeartbeat = .milliseconds(100) }) { fixture in
            let notifier = ChangeNotifier()
            let device = try Device()
            let credential = credentialKind == "token"
                ? try await fixture.token(for: "user") : try await fixture.storage.createAPIKey(database: ServerFixture.database)
            let application = buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, notifier: notifier)
            try await application.test(.live) { client in
                let stream = try await Self.subscribe(client, device, credential: credential)
                #expect(stream.status == 200)
                // Alive across heartbeats while the credential is valid.
                try await waitUntil("two heartbeats") { stream.comments >= 3 }
                #expect(!stream.ended)
                if credentialKind == "token" {
                    try await fixture.storage.revokeToken(id: try await fixture.tokens.verify(credential).tokenID)
                } else {
                    try await fixture.storage.revokeAPIKey(credential)
                }
                try await waitUntil("the stream closed") { stream.ended }
                try await waitUntil("its place is free") { notifier.subscriptions == 0 }
                let again = try await Self.subscribe(client, device, credential: credential)
                #expect(again.status == 401)
            }
        }
    }

    @Test("subscriptions beyond the server's bound are refused with 503 and Retry-After, and a closed one frees its place")
    func bounded() async throws {
        try await ServerFixture.with(.embedded, { $0.subscriptionHeartbeat = .milliseconds(100) }) { fixture in
            let notifier = ChangeNotifier(maxSubscriptions: 1)
            let bob = try Device(), carol = try Device()
            let application = buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, notifier: notifier)
            try await application.test(.live) { client in
                let first = try await Self.subscribe(client, bob, credential: fixture.key)
                #expect(first.status == 200)
                let refused = try await client.executeRequest(
                    uri: "/v1/cloudsync/\(ServerFixture.database)/\(carol.siteHex)/0/0/subscribe", method: .get,
                    headers: [.authorization: "Bearer \(fixture.key)"], body: nil)
                #expect(refused.status == .serviceUnavailable)
                #expect(refused.headers[.retryAfter] == SyncRoutes.subscriptionRetryAfter)
                // The server notices the closed connection at its next heartbeat.
                first.close()
                try await waitUntil("the place is free") { notifier.subscriptions == 0 }
                let second = try await Self.subscribe(client, carol, credential: fixture.key)
                #expect(second.status == 200)
                second.close()
            }
        }
    }

    static func status(_ client: some TestClientProtocol, _ path: String, _ credential: String?) async throws -> HTTPResponse.Status {
        var headers = HTTPFields()
        if let credential { headers[.authorization] = "Bearer \(credential)" }
        return try await client.executeRequest(uri: path, method: .get, headers: headers, body: nil).status
    }

    @Test("bad subscriptions get the check's errors")
    func validation() async throws {
        try await ServerFixture.with(.embedded) { fixture in
            let bob = try Device()
            try await fixture.application().test(.router) { client async throws in
                let base = "/v1/cloudsync/\(ServerFixture.database)/\(bob.siteHex)"
                #expect(try await Self.status(client, "/v1/cloudsync/\(ServerFixture.database)/nothex/0/0/subscribe", fixture.key) == .badRequest)
                #expect(try await Self.status(client, base + "/0/0/subscribe", nil) == .unauthorized)
                #expect(try await Self.status(client, base + "/0/0/subscribe", "wrong") == .unauthorized)
                #expect(try await Self.status(client, "/v1/cloudsync/none.sqlite/\(bob.siteHex)/0/0/subscribe", fixture.key) == .notFound)
                #expect(try await Self.status(client, base + "/-1/0/subscribe", fixture.key) == .badRequest)
            }
        }
    }

    /// Two instances on one PostgreSQL: a subscription on the second is told of an upload
    /// through the first and of a program's direct write, through LISTEN/NOTIFY.
    @Test("on PostgreSQL, writes through another instance or by a program reach a subscription")
    func otherInstancesAndPrograms() async throws {
        try await ServerFixture.with(.postgres) { fixture in
            let notifier = ChangeNotifier()
            let alice = try Device(), bob = try Device()
            try await fixture.withTwoInstances(notifier: notifier) { viaOne, viaTwo in
                        let stream = try await Self.subscribe(viaTwo.client, bob, credential: fixture.key)
                        try await Self.subscribersWaiting(notifier, 1)

                        try alice.insertTodos(1, prefix: "a")
                        try await viaOne.send(alice)
                        let event = try await Self.nextEvent(stream)
                        _ = try await viaTwo.receiveAll(bob)
                        #expect(try bob.count() == 1)
                        #expect(event.data == Self.changesData(bob.checkCursor))

                        try await Self.subscribersWaiting(notifier, 1)
                        try await fixture.insertByProgram(id: "p", title: "from a program")
                        let programEvent = try await Self.nextEvent(stream)
                        _ = try await viaTwo.receiveAll(bob)
                        #expect(try bob.snapshot().contains([.string("p"), .string("from a program"), .integer(0)]))
                        #expect(programEvent.data == Self.changesData(bob.checkCursor))
                        stream.close()
            }
        }
    }
}
