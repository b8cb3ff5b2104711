import CloudSync
import CloudSyncTestSupport
import Foundation
import GRDB
import Testing

/// The background sync's live channel against a real server that holds checks.
@Suite(.serialized, .enabled(if: ServerProcess.isAvailable, "cloudsync-server is not built"), .timeLimit(.minutes(2)))
struct LiveChannelTests {
    @Test(arguments: Transport.allCases) func aLiveDeviceMergesAnotherDevicesChangeWithinTwoSeconds(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let watcher = try makeQueue(directory, "watcher.sqlite")
        let writer = try makeQueue(directory, "writer.sqlite")
        // An interval far longer than the test: only the live channel can bring the change.
        let live = try SyncClient(database: watcher, endpoint: endpoint, credential: .apiKey(key), over: transport)
        let log = EventLog(live)
        live.startBackgroundSync(BackgroundSyncOptions(interval: 3600, syncOnLocalWrites: false))
        #expect(await log.wait { $0.contains(.channel(.live)) })
        // The channel is a change subscription, not a waiting check.
        let text = try await metrics(of: server)
        #expect(text.contains("cloudsync_subscriptions 1"))
        #expect(text.contains("cloudsync_waiting_checks 0"))

        try await insert(writer, id: "1", title: "written on the other device")
        try await SyncClient(database: writer, endpoint: endpoint, credential: .apiKey(key), over: transport).sync()
        let synced = ContinuousClock.now
        let arrived = try await eventually(timeout: .seconds(20)) { try await todos(watcher).count == 1 }
        let elapsed = ContinuousClock.now - synced
        await live.stopBackgroundSync()
        #expect(arrived)
        // Only the live channel can bring it this soon: the interval is an hour and a held
        // check lasts 25 s. The bound is loose because the suite runs in parallel on two
        // cores (2.5 s was seen in CI); a benchmark, not a test, carries the real figure.
        #expect(elapsed < .seconds(10))
        #expect(try await todos(watcher) == [Todo(id: "1", title: "written on the other device", done: false)])
        #expect(!log.all.contains { $0.isFailure })
    }

    @Test(arguments: Transport.allCases) func theChannelIsReportedDownWhileTheServerIsAwayAndLiveAgainAfter(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        let client = try SyncClient(database: queue, endpoint: endpoint, credential: .apiKey(key), over: transport)
        let log = EventLog(client)
        client.startBackgroundSync(BackgroundSyncOptions(
            interval: 3600, syncOnLocalWrites: false, initialBackoff: 0.05, maxBackoff: 0.2))
        #expect(await log.wait { $0.contains(.channel(.live)) })
        server.stop()
        #expect(await log.wait { $0.contains(.channel(.down)) })
        try server.start()
        defer { server.stop() }
        #expect(await log.wait { events in
            guard let down = events.lastIndex(of: .channel(.down)) else { return false }
            return events[down...].contains(.channel(.live))
        })
        await client.stopBackgroundSync()
    }

    /// Devices subscribed when the server restarts reconnect on their own and miss nothing: a
    /// change sent while they are still away reaches them when they are back.
    @Test func subscribedDevicesReconnectAfterAServerRestartAndMissNothing() async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let writer = try makeQueue(directory, "writer.sqlite")
        // Only the channel can bring changes: the interval is an hour, local writes do not sync.
        let options = BackgroundSyncOptions(
            interval: 3600, syncOnLocalWrites: false, initialBackoff: 0.2, maxBackoff: 0.5)
        var watchers: [(queue: DatabaseQueue, client: SyncClient, log: EventLog)] = []
        for index in 0..<3 {
            let queue = try makeQueue(directory, "watcher\(index).sqlite")
            let client = try SyncClient(database: queue, endpoint: endpoint, credential: .apiKey(key))
            let log = EventLog(client)
            client.startBackgroundSync(options)
            watchers.append((queue, client, log))
        }
        for watcher in watchers { #expect(await watcher.log.wait { $0.contains(.channel(.live)) }) }

        try await insert(writer, id: "1", title: "before the restart")
        try await SyncClient(database: writer, endpoint: endpoint, credential: .apiKey(key)).sync()
        for watcher in watchers { #expect(try await eventually { try await todos(watcher.queue).count == 1 }) }

        server.stop()
        for watcher in watchers { #expect(await watcher.log.wait { $0.contains(.channel(.down)) }) }
        try server.start()
        // Sent as soon as the server is back, before (or while) the devices reconnect.
        try await insert(writer, id: "2", title: "while they were away")
        try await SyncClient(database: writer, endpoint: endpoint, credential: .apiKey(key)).sync()
        for watcher in watchers {
            #expect(try await eventually { try await todos(watcher.queue).count == 2 })
            #expect(await watcher.log.wait { events in
                guard let down = events.lastIndex(of: .channel(.down)) else { return false }
                return events[down...].contains(.channel(.live))
            })
        }
        // And the reopened channel carries the next change as the first one did.
        try await insert(writer, id: "3", title: "after they are back")
        try await SyncClient(database: writer, endpoint: endpoint, credential: .apiKey(key)).sync()
        for watcher in watchers {
            #expect(try await eventually { try await todos(watcher.queue).map(\.id) == ["1", "2", "3"] })
            await watcher.client.stopBackgroundSync()
        }
    }

    /// A server without subscriptions (an older one, here one started with
    /// `--no-subscriptions`): the client falls back to waiting checks and is still live.
    @Test func withoutSubscriptionsTheChannelFallsBackToWaitingChecks() async throws {
        let server = try ServerProcess()
        let key = try server.createDatabase("todo.sqlite", schema: todoSchema)
        server.serveArguments = ["--no-subscriptions"]
        try server.start()
        defer { server.stop() }
        let endpoint = "\(server.url)/todo.sqlite"
        let directory = try TemporaryDirectory()
        let watcher = try makeQueue(directory, "watcher.sqlite")
        let writer = try makeQueue(directory, "writer.sqlite")
        let live = try SyncClient(database: watcher, endpoint: endpoint, credential: .apiKey(key))
        let log = EventLog(live)
        live.startBackgroundSync(BackgroundSyncOptions(interval: 3600, syncOnLocalWrites: false))
        #expect(await log.wait { $0.contains(.channel(.live)) })
        #expect(try await eventually {
            let text = try await metrics(of: server)
            return text.contains("cloudsync_waiting_checks 1") && text.contains("cloudsync_subscriptions 0")
        })

        try await insert(writer, id: "1", title: "through a waiting check")
        try await SyncClient(database: writer, endpoint: endpoint, credential: .apiKey(key)).sync()
        #expect(try await eventually { try await todos(watcher).count == 1 })
        await live.stopBackgroundSync()
        #expect(!log.all.contains { $0.isFailure })
    }
}
