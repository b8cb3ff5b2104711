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

/// The waiting check (`Cloudsync-Wait-Ms`): a check with nothing to return is held until a
/// change arrives, on both storages, and across instances on PostgreSQL.
@Suite("Waiting check")
struct WaitingCheckTests {
    static let capability = HTTPField.Name(WaitingCheck.capabilityHeader)!

    /// POST CHECK asking to wait `milliseconds`.
    static func check(_ sync: SyncClient, _ device: Device, waiting milliseconds: Int?) async throws -> TestResponse {
        var headers = sync.headers
        if let milliseconds { headers[HTTPField.Name(WaitingCheck.requestHeader)!] = String(milliseconds) }
        let cursor = device.checkCursor
        return try await sync.client.executeRequest(
            uri: sync.base(device.siteHex) + "/\(cursor.dbVersion)/\(cursor.seq)/check", method: .post, headers: headers, body: nil)
    }

    static func waiters(_ notifier: ChangeNotifier, _ count: Int) async throws {
        try await waitUntil("\(count) checks wait") { notifier.waiting == count }
    }

    @Test("a waiting check answers with the change another device sends meanwhile", arguments: StorageBackend.allCases)
    func wakesOnUpload(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let notifier = ChangeNotifier()
            let alice = try Device(), bob = try Device()
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, notifier: notifier).test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                // Nothing to return, no wait asked: an empty answer at once, which advertises waiting.
                let plain = try await Self.check(sync, bob, waiting: nil)
                #expect(plain.status == .ok && plain.text.isEmpty)
                #expect(WaitingCheck.isSupported(plain.headers[Self.capability]))

                async let waited = Self.check(sync, bob, waiting: 60_000)
                try await Self.waiters(notifier, 1)
                try alice.insertTodos(2, prefix: "a")
                try await sync.send(alice)
                let answer = try await waited
                #expect(answer.status == .ok)
                #expect(WaitingCheck.isSupported(answer.headers[Self.capability]))
                let download = try await sync.fetch(answer.text)
                try bob.apply(download.bytes)
                #expect(try bob.snapshot() == alice.snapshot())
                #expect(try bob.count() == 2)
            }
        }
    }

    @Test("a waiting check with nothing arriving answers empty when its time is up, within the server's limit")
    func timesOut() async throws {
        try await ServerFixture.with(.embedded, { $0.maxCheckWait = .milliseconds(50) }) { fixture in
            let notifier = ChangeNotifier()
            let bob = try Device()
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, notifier: notifier).test(.router) { client in
                // Asks for an hour; the server's limit of 50 ms applies.
                let answer = try await Self.check(SyncClient(client: client, key: fixture.key), bob, waiting: 3_600_000)
                #expect(answer.status == .ok && answer.text.isEmpty)
                #expect(notifier.waiting == 0)
            }
        }
    }

    @Test("a revoked key ends a waiting check at the next change")
    func revokedKeyEndsTheWait() async throws {
        try await ServerFixture.with(.embedded) { fixture in
            let notifier = ChangeNotifier()
            let alice = try Device(), bob = try Device()
            let other = try await fixture.storage.createAPIKey(database: ServerFixture.database)
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, notifier: notifier).test(.router) { client in
                async let waited = Self.check(SyncClient(client: client, key: other), bob, waiting: 60_000)
                try await Self.waiters(notifier, 1)
                try await fixture.storage.revokeAPIKey(other)
                try alice.insertTodos(1, prefix: "a")
                try await SyncClient(client: client, key: fixture.key).send(alice)
                #expect(try await waited.status == .unauthorized)
            }
        }
    }

    /// A token user is answered only for rows it may see: a change it cannot see wakes the
    /// wait, finds nothing for this user, and the check goes on waiting.
    @Test("a token user's waiting check ignores changes it cannot see", arguments: StorageBackend.allCases)
    func invisibleChangesDoNotAnswer(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let notifier = ChangeNotifier()
            let admin = try Device(), user = try Device()
            try await fixture.storage.setPolicy(
                TablePolicy(table: "todo", select: "title NOT LIKE 'secret%'", insert: "1 = 1", update: "1 = 1", delete: "1 = 1"),
                database: ServerFixture.database)
            let token = try await fixture.token(for: "user")
            try await buildApplication(configuration: fixture.configuration, storage: fixture.storage, logger: quietLogger, notifier: notifier).test(.router) { client in
                let viaAdmin = SyncClient(client: client, key: fixture.key)
                let viaUser = SyncClient(client: client, key: token)
                async let waited = Self.check(viaUser, user, waiting: 60_000)
                try await Self.waiters(notifier, 1)
                let epoch = notifier.epoch(of: ServerFixture.database)
                try admin.execute("INSERT INTO todo(id, title) VALUES ('s', 'secret plans')")
                try await viaAdmin.send(admin)
                // Woken, looked, found nothing it may see, waiting again.
                try await waitUntil("the check woke and waits again") { notifier.epoch(of: ServerFixture.database) != epoch && notifier.waiting == 1 }
                try admin.execute("INSERT INTO todo(id, title) VALUES ('v', 'visible')")
                try await viaAdmin.send(admin)
                let answer = try await waited
                #expect(answer.status == .ok && !answer.text.isEmpty)
                _ = try await viaUser.receiveAll(user)
                #expect(try user.snapshot() == [[.string("v"), .string("visible"), .integer(0)]])
            }
        }
    }

    /// Two instances on one PostgreSQL: a check waiting on the second wakes for an upload
    /// through the first and for a program's direct write, through LISTEN/NOTIFY.
    @Test("on PostgreSQL, writes through another instance or by a program wake a waiting check")
    func otherInstancesAndProgramsWake() async throws {
        try await ServerFixture.with(.postgres) { fixture in
            let notifier = ChangeNotifier()
            let alice = try Device(), bob = try Device()
            try await fixture.withTwoInstances(notifier: notifier) { viaOne, viaTwo in
                        // The second instance knows the database (its waiters can only be on loaded ones).
                        _ = try await Self.check(viaTwo, bob, waiting: nil)

                        async let waited = Self.check(viaTwo, bob, waiting: 60_000)
                        try await Self.waiters(notifier, 1)
                        try alice.insertTodos(1, prefix: "a")
                        try await viaOne.send(alice)
                        let answer = try await waited
                        #expect(answer.status == .ok && !answer.text.isEmpty)
                        _ = try await viaTwo.receiveAll(bob)
                        #expect(try bob.count() == 1)

                        async let direct = Self.check(viaTwo, bob, waiting: 60_000)
                        try await Self.waiters(notifier, 1)
                        try await fixture.insertByProgram(id: "p", title: "from a program")
                        let programAnswer = try await direct
                        #expect(programAnswer.status == .ok && !programAnswer.text.isEmpty)
                        _ = try await viaTwo.receiveAll(bob)
                        #expect(try bob.snapshot().contains([.string("p"), .string("from a program"), .integer(0)]))
            }
        }
    }
}
