import CloudSyncTestSupport
import CloudSync
import Foundation
import GRDB
import Testing
import CloudSyncCore

/// End to end against a real `cloudsync-server` on loopback.
@Suite(.serialized, .enabled(if: ServerProcess.isAvailable, "cloudsync-server is not built"), .timeLimit(.minutes(2)))
struct ServerSyncTests {
    /// The protocol a client remembered in the database's sync settings.
    @Sendable static func rememberedProtocol(_ db: Database) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM cloudsync_settings WHERE key = 'network_protocol_version'")
    }

    @Test(arguments: Transport.allCases) func queueAndPoolConvergeWithConcurrentOfflineEdits(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        let pool = try makePool(directory)
        let phone = try SyncClient(database: queue, endpoint: endpoint, credential: .apiKey(key), over: transport)
        let laptop = try SyncClient(database: pool, endpoint: endpoint, credential: .apiKey(key), over: transport)

        try await insert(queue, id: "1", title: "buy milk")
        try await insert(queue, id: "2", title: "walk dog")
        try await insert(pool, id: "3", title: "from the laptop")

        let first = try await phone.send()
        #expect(first.sent > 0)
        #expect(first.received == 0)
        #expect(try await queue.read { db in try db.hasUnsentChanges } == false)
        let second = try await laptop.sync()
        #expect(second.sent > 0)
        #expect(second.received > 0)
        #expect(second.changedTables == ["todo"])
        #expect(second.deniedRows.isEmpty)
        let third = try await phone.receive()
        #expect(third.sent == 0)
        #expect(third.changedTables == ["todo"])
        #expect(try await todos(queue).map(\.id) == ["1", "2", "3"])
        #expect(try await todos(queue) == (try await todos(pool)))

        // Offline, concurrently: different columns of one row, a delete, an insert on each side.
        try await queue.write { db in
            try db.execute(sql: "UPDATE todo SET title = 'buy oat milk' WHERE id = '1'")
            try db.execute(sql: "INSERT INTO todo (id, title) VALUES ('4', 'phone only')")
        }
        try await pool.write { db in
            try db.execute(sql: "UPDATE todo SET done = 1 WHERE id = '1'")
            try db.execute(sql: "DELETE FROM todo WHERE id = '2'")
            try db.execute(sql: "INSERT INTO todo (id, title) VALUES ('5', 'laptop only')")
        }
        try await phone.sync()
        try await laptop.sync()
        try await phone.sync()

        let expected = [
            Todo(id: "1", title: "buy oat milk", done: true),
            Todo(id: "3", title: "from the laptop", done: false),
            Todo(id: "4", title: "phone only", done: false),
            Todo(id: "5", title: "laptop only", done: false),
        ]
        #expect(try await todos(queue) == expected)
        #expect(try await todos(pool) == expected)
        // The server offered protocol v2 on its first answers: both clients switched to it.
        let protocols = [try await queue.read(Self.rememberedProtocol), try await pool.read(Self.rememberedProtocol)]
        #expect(protocols == ["2", "2"])
        // Nothing left to exchange: syncing again moves nothing.
        let idle = try await laptop.sync()
        #expect(idle == SyncResult())
    }

    /// A client kept on protocol v1 (`Options.protocolV2 = false`) and one on v2 exchange
    /// changes through the same server.
    @Test(arguments: Transport.allCases) func aClientKeptOnV1AndAClientOnV2Converge(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let old = try makeQueue(directory, "v1.sqlite")
        let new = try makeQueue(directory, "v2.sqlite")
        var options = transport.options
        options.protocolV2 = false
        let v1 = try SyncClient(database: old, endpoint: endpoint, credential: .apiKey(key), options: options)
        let v2 = try SyncClient(database: new, endpoint: endpoint, credential: .apiKey(key), over: transport)
        for round in 0..<3 {
            try await insert(old, id: "old\(round)", title: "from v1")
            try await insert(new, id: "new\(round)", title: "from v2")
            try await v1.sync()
            try await v2.sync()
            try await v1.sync()
        }
        #expect(try await todos(old).count == 6)
        #expect(try await todos(old) == (try await todos(new)))
        #expect(try await old.read(Self.rememberedProtocol) == nil)
        #expect(try await new.read(Self.rememberedProtocol) == "2")
    }

    @Test(arguments: ["queue", "pool"], Transport.allCases)
    func observersSeeMergedChanges(kind: String, over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let sender = try makeQueue(directory, "sender.sqlite")
        let receiver: any DatabaseWriter = kind == "queue" ? try makeQueue(directory, "receiver.sqlite") : try makePool(directory, "receiver.sqlite")

        let titles = Locked<[[String]]>([])
        let regionChanges = Locked(0)
        let observation = ValueObservation.tracking { db in try String.fetchAll(db, sql: "SELECT title FROM todo ORDER BY title") }
        let cancellable = observation.start(
            in: receiver, scheduling: .async(onQueue: DispatchQueue(label: "observer")),
            onError: { Issue.record($0) }, onChange: { value in titles.withLock { $0.append(value) } })
        defer { cancellable.cancel() }
        let regionObserver = DatabaseRegionObservation(tracking: Table("todo"))
            .start(in: receiver, onError: { Issue.record($0) }, onChange: { _ in regionChanges.withLock { $0 += 1 } })
        defer { regionObserver.cancel() }
        // The initial value (a pool may deliver it more than once).
        #expect(await eventually { titles.withLock { !$0.isEmpty && $0.allSatisfy(\.isEmpty) } })

        try await insert(sender, id: "1", title: "written elsewhere")
        try await SyncClient(database: sender, endpoint: endpoint, credential: .apiKey(key), over: transport).send()
        let result = try await SyncClient(database: receiver, endpoint: endpoint, credential: .apiKey(key), over: transport).receive()
        #expect(result.changedTables == ["todo"])

        #expect(await eventually { titles.withLock { $0.last == ["written elsewhere"] } })
        #expect(regionChanges.withLock { $0 } == 1)
    }

    @Test(arguments: Transport.allCases) func tokenRefreshIsCalledOnceOn401(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        try await insert(queue, id: "1", title: "needs a fresh token")

        let refreshes = Locked(0)
        let client = try SyncClient(database: queue, endpoint: endpoint, credential: .token("expired-token") {
            refreshes.withLock { $0 += 1 }
            return key
        }, over: transport)
        let result = try await client.sync()
        #expect(result.sent > 0)
        #expect(refreshes.withLock { $0 } == 1)
        #expect(client.currentBearer == key)
        // The fresh token is kept: no further refresh.
        try await insert(queue, id: "2", title: "again")
        try await client.sync()
        #expect(refreshes.withLock { $0 } == 1)

        // A refresh that does not help: one refresh per request, then a typed 401.
        let failing = Locked(0)
        let stubborn = try SyncClient(database: queue, endpoint: endpoint, credential: .token("bad") {
            failing.withLock { $0 += 1 }
            return "still-bad"
        }, over: transport)
        await #expect {
            try await stubborn.receive()
        } throws: { error in
            let error = error as? SyncError
            return error?.code == .unauthorized && error?.httpStatus == 401
        }
        #expect(failing.withLock { $0 } == 1)

        // An API key is not refreshed.
        do {
            try await SyncClient(database: queue, endpoint: endpoint, credential: .apiKey("csk_wrong"), over: transport).sync()
            Issue.record("a wrong key was accepted")
        } catch {
            #expect(error.code == .unauthorized)
            #expect(error.httpStatus == 401)
        }
    }

    @Test(arguments: Transport.allCases) func backgroundSyncBacksOffWhileTheServerIsDownAndCompletesAfter(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        server.stop()
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        try await insert(queue, id: "1", title: "written while the server was down")
        let client = try SyncClient(database: queue, endpoint: endpoint, credential: .apiKey(key), over: transport)
        let log = EventLog(client)
        let options = BackgroundSyncOptions(
            interval: 30, initialBackoff: 0.05, maxBackoff: 0.4, jitter: 0.5)
        client.startBackgroundSync(options)
        #expect(client.isBackgroundSyncRunning)

        // Several failures, with growing jittered delays.
        #expect(await log.wait { $0.filter(\.isFailure).count >= 4 })
        let delays = log.all.compactMap { event -> TimeInterval? in
            if case .failed(let error, let retryIn) = event, error.code == .network { return retryIn }
            return nil
        }
        #expect(delays.count >= 4)
        for (index, delay) in delays.prefix(4).enumerated() {
            let full = options.backoff(afterFailures: index + 1)
            #expect(delay <= full && delay >= full * 0.5, "retry \(index + 1) after \(delay), expected \(full * 0.5)...\(full)")
        }
        #expect(try await queue.read { db in try db.hasUnsentChanges })

        try server.start()
        #expect(await log.wait { events in events.contains { ($0.completedResult?.sent ?? 0) > 0 } })
        #expect(try await queue.read { db in try db.hasUnsentChanges } == false)
        await client.stopBackgroundSync()
        #expect(client.isBackgroundSyncRunning == false)

        // The server has the row: another device receives it.
        let other = try makePool(directory)
        try await SyncClient(database: other, endpoint: endpoint, credential: .apiKey(key), over: transport).sync()
        #expect(try await todos(other) == [Todo(id: "1", title: "written while the server was down", done: false)])
        server.stop()
    }

    @Test(arguments: Transport.allCases) func backgroundSyncRunsSoonAfterLocalWritesAndDeliversToObservers(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let phone = try makeQueue(directory, "phone.sqlite")
        let laptop = try makePool(directory, "laptop.sqlite")
        let phoneClient = try SyncClient(database: phone, endpoint: endpoint, credential: .apiKey(key), over: transport)
        let laptopClient = try SyncClient(database: laptop, endpoint: endpoint, credential: .apiKey(key), over: transport)
        let phoneLog = EventLog(phoneClient)
        // Long interval: only a local write can make the phone sync again soon.
        let options = BackgroundSyncOptions(interval: 60, writeDebounce: 0.02)
        let task = Task { await phoneClient.runBackgroundSync(options) }
        #expect(await phoneLog.wait { $0.contains { $0.completedResult != nil } })
        // The observer is installed before the first sync; local writes count from now on.
        #expect(phoneClient.localWriteWakeups == 0)

        try await insert(phone, id: "1", title: "synced by the write")
        // Counted at commit, before the write returned.
        #expect(phoneClient.localWriteWakeups == 1)
        #expect(await phoneLog.wait(timeout: .seconds(10)) { events in events.contains { ($0.completedResult?.sent ?? 0) > 0 } })
        let received = try await laptopClient.sync()
        #expect(received.received > 0)
        #expect(try await todos(laptop).map(\.title) == ["synced by the write"])

        // The phone's merges of others' changes do not count as local writes: after the
        // laptop's write arrives (by the background loop's live channel or by the explicit
        // receive here, whichever is first), the loop is not woken. Operations run one at a
        // time and the observer runs at commit, so both are final when receive() returns.
        try await insert(laptop, id: "2", title: "from the laptop")
        try await laptopClient.sync()
        _ = try await phoneClient.receive()
        #expect(try await todos(phone).map(\.title).sorted() == ["from the laptop", "synced by the write"])
        #expect(phoneClient.localWriteWakeups == 1)
        task.cancel()
        await task.value
    }

    @Test(arguments: Transport.allCases) func cancellingTheBackgroundTaskStopsIt(over transport: Transport) async throws {
        let (server, endpoint, key) = try startTodoServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        let client = try SyncClient(database: queue, endpoint: endpoint, credential: .apiKey(key), over: transport)
        let log = EventLog(client)
        let task = Task { await client.runBackgroundSync(BackgroundSyncOptions(interval: 0.05)) }
        #expect(await log.wait { $0.compactMap(\.completedResult).count >= 2 })

        task.cancel()
        let stopped = Locked(false)
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            if !stopped.withLock({ $0 }) { Issue.record("the background task did not stop within 10 s") }
        }
        await task.value
        stopped.withLock { $0 = true }
        watchdog.cancel()
        #expect(await log.wait { $0.contains(.backgroundStopped) })

        // Stopped means stopped: the loop's task has ended (awaited above), and its observer
        // is gone, so a local write does not even signal it (counted at commit).
        let started = log.all.filter(\.isStarted).count
        let wakeups = client.localWriteWakeups
        try await insert(queue, id: "1", title: "after stop")
        #expect(client.localWriteWakeups == wakeups)
        #expect(log.all.filter(\.isStarted).count == started)
        #expect(try await queue.read { db in try db.hasUnsentChanges })

        // The owned variant stops too.
        client.startBackgroundSync(BackgroundSyncOptions(interval: 0.05))
        #expect(await log.wait { events in events.contains { ($0.completedResult?.sent ?? 0) > 0 } })
        await client.stopBackgroundSync()
        #expect(client.isBackgroundSyncRunning == false)
        // The log receives events on its own task: wait for it.
        #expect(await log.wait { $0.filter { $0 == .backgroundStopped }.count == 2 })
    }
}
