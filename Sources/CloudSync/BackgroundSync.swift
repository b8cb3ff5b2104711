import CloudSyncCore
import Foundation
import GRDB

/// How a ``SyncClient`` syncs in the background.
public struct BackgroundSyncOptions: Sendable {
    /// Seconds between syncs when nothing happens locally (every time below is in seconds).
    public var interval: TimeInterval
    /// Sync soon after local writes to synchronized tables commit.
    public var syncOnLocalWrites: Bool
    /// Wait this long after a local write before syncing, so that a burst of writes goes in
    /// one sync.
    public var writeDebounce: TimeInterval
    /// First delay after a failure; each further failure doubles it, up to `maxBackoff`.
    public var initialBackoff: TimeInterval
    public var maxBackoff: TimeInterval
    /// Random fraction taken off each backoff delay (0...1): with 0.5, a delay of 8 s becomes
    /// 4 to 8 s, so that devices that lost the server together do not retry together.
    public var jitter: Double
    /// Keep a live channel to the server: a change subscription (a Server-Sent Events stream)
    /// that tells this device when another device's changes wait for it, so that they are
    /// merged here within a fraction of a second instead of at the next interval. A server
    /// without subscriptions is asked with waiting checks instead; one that holds neither is
    /// polled every `interval` as before.
    public var live: Bool
    /// How long one waiting check of the live channel may be held at the server (servers
    /// without subscriptions).
    public var liveWait: TimeInterval
    /// How long the subscription may stay silent, not even a heartbeat from the server
    /// (every 15 s by default), before its connection is deemed dead and opened again.
    public var liveIdleTimeout: TimeInterval

    public init(
        interval: TimeInterval = 30, syncOnLocalWrites: Bool = true, writeDebounce: TimeInterval = 0.1,
        initialBackoff: TimeInterval = 1, maxBackoff: TimeInterval = 60, jitter: Double = 0.5,
        live: Bool = true, liveWait: TimeInterval = 25, liveIdleTimeout: TimeInterval = 45
    ) {
        self.interval = interval
        self.syncOnLocalWrites = syncOnLocalWrites
        self.writeDebounce = writeDebounce
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.jitter = jitter
        self.live = live
        self.liveWait = liveWait
        self.liveIdleTimeout = liveIdleTimeout
    }

    /// The delay before retry number `failures` (1 for the first failure), before jitter.
    public func backoff(afterFailures failures: Int) -> TimeInterval {
        guard failures > 0 else { return 0 }
        let exponent = min(failures - 1, 30)
        let delay = initialBackoff * Double(1 << exponent)
        return min(delay, maxBackoff)
    }

    func jittered(_ delay: TimeInterval) -> TimeInterval {
        let fraction = min(max(jitter, 0), 1)
        guard fraction > 0 else { return delay }
        return delay * (1 - Double.random(in: 0...fraction))
    }
}

extension SyncClient {
    /// Syncs until the calling task is cancelled: at once, then every `options.interval`, soon
    /// after local writes to synchronized tables and, with `options.live`, as soon as the live
    /// channel (a change subscription, or a waiting check with a server without subscriptions)
    /// reports changes from other devices; after a failure, again after an exponentially
    /// growing, jittered delay. The channel's state is
    /// reported as ``SyncEvent/channel(_:)`` events. Failures never end the loop (they are reported
    /// as ``SyncEvent/failed(_:retryIn:)`` events); cancellation does, cleanly, after the
    /// request in flight.
    ///
    /// ```swift
    /// let task = Task { await client.runBackgroundSync() }
    /// // ...
    /// task.cancel()
    /// ```
    public func runBackgroundSync(_ options: BackgroundSyncOptions = BackgroundSyncOptions()) async {
        let wake = WakeSignal()
        // Whether the server takes subscriptions; false once it answered that it does not.
        let subscribing = Locked(options.live)
        await withTaskGroup(of: Void.self) { group in
            if options.live {
                group.addTask {
                    await self.keepSubscribed(wake, options)
                    // An older server: the waiting check carries the channel from now on.
                    subscribing.withLock { $0 = false }
                    wake.signal()
                }
            }
            await syncLoop(wake, options, subscribing: subscribing)
            group.cancelAll()
        }
        setChannel(nil)
        broadcaster.emit(.backgroundStopped)
    }

    /// The loop of ``runBackgroundSync(_:)``: sync, wait for work, again.
    private func syncLoop(_ wake: WakeSignal, _ options: BackgroundSyncOptions, subscribing: Locked<Bool>) async {
        var observation: AnyDatabaseCancellable?
        defer { observation?.cancel() }
        var failures = 0
        while !Task.isCancelled {
            if options.syncOnLocalWrites && observation == nil {
                observation = try? await observeLocalWrites(wake)
            }
            wake.reset()
            do {
                _ = try await run(.sync, reportFailure: false)
                failures = 0
                await waitForWork(wake, options, subscribing: subscribing.withLock { $0 })
                if options.writeDebounce > 0, !Task.isCancelled {
                    try? await sleep(seconds: options.writeDebounce)
                }
            } catch {
                if error.code == .cancelled || Task.isCancelled { break }
                failures += 1
                if error.code == .network { setChannel(.down) }
                let delay = options.jittered(options.backoff(afterFailures: failures))
                broadcaster.emit(.failed(error, retryIn: delay))
                try? await sleep(seconds: delay)
            }
        }
    }

    /// Returns when there is something to sync: a local write, the interval, or (live) changes
    /// the server reports. The subscription signals `wake` itself; without one, a waiting
    /// check is held while waiting.
    private func waitForWork(_ wake: WakeSignal, _ options: BackgroundSyncOptions, subscribing: Bool) async {
        guard options.live, !subscribing else {
            await wake.wait(upTo: options.interval)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await wake.wait(upTo: options.interval) }
            group.addTask { await self.watchUntilChanges(options) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Keeps the live channel open until the server reports changes. Without a server that
    /// holds checks it waits for cancellation (the interval decides); a failed channel is
    /// reopened after a jittered, growing delay.
    private func watchUntilChanges(_ options: BackgroundSyncOptions) async {
        var failures = 0
        // A first look that is not held learns at once whether the server holds checks.
        var wait: TimeInterval = 0
        while !Task.isCancelled {
            do {
                let summary = try await watchForChanges(wait: wait)
                failures = 0
                guard summary.serverWaits else {
                    setChannel(.polling)
                    try? await sleep(seconds: 365 * 86_400)
                    return
                }
                setChannel(.live)
                if summary.changesWaiting { return }
                wait = options.liveWait
            } catch {
                guard !Task.isCancelled else { return }
                failures += 1
                wait = 0
                setChannel(.down)
                try? await sleep(seconds: options.jittered(options.backoff(afterFailures: failures)))
            }
        }
    }

    /// Starts ``runBackgroundSync(_:)`` in a task the client owns, until
    /// ``stopBackgroundSync()``. Starting while it runs does nothing.
    ///
    /// The running task keeps the client alive: call ``stopBackgroundSync()`` when done.
    public func startBackgroundSync(_ options: BackgroundSyncOptions = BackgroundSyncOptions()) {
        background.withLock { task in
            guard task == nil else { return }
            task = Task { [weak self] in await self?.runBackgroundSync(options) }
        }
    }

    /// Stops background sync and waits until it has stopped.
    public func stopBackgroundSync() async {
        let task = background.withLock { task -> Task<Void, Never>? in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
    }

    /// Whether ``startBackgroundSync(_:)`` is in effect.
    public var isBackgroundSyncRunning: Bool { background.withLock { $0 != nil } }

    /// Watches the synchronized tables; commits by others than this client's merges wake `wake`.
    /// Returns nil while no table is synchronized.
    private func observeLocalWrites(_ wake: WakeSignal) async throws -> AnyDatabaseCancellable? {
        let database = self.database
        let merges = self.merges
        let signals = self.localWriteSignals
        return try await database.writeWithoutTransaction { db -> AnyDatabaseCancellable? in
            let tables = try db.synchronizedTables
            guard !tables.isEmpty else { return nil }
            let observation = DatabaseRegionObservation(tracking: tables.map { Table($0) })
            // Started on the writer's queue, so it starts at once.
            return observation.start(in: database, onError: { _ in }, onChange: { _ in
                if !merges.inProgress {
                    signals.increment()
                    wake.signal()
                }
            })
        }
    }
}
