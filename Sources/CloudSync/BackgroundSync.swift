import GRDB
import CloudSyncCore
import Synchronization

/// How a ``SyncClient`` syncs in the background.
public struct BackgroundSyncOptions: Sendable {
    /// Time between syncs when nothing happens locally.
    public var interval: Duration
    /// Sync soon after local writes to synchronized tables commit.
    public var syncOnLocalWrites: Bool
    /// Wait this long after a local write before syncing, so that a burst of writes goes in
    /// one sync.
    public var writeDebounce: Duration
    /// First delay after a failure; each further failure doubles it, up to `maxBackoff`.
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    /// Random fraction taken off each backoff delay (0...1): with 0.5, a delay of 8 s becomes
    /// 4 to 8 s, so that devices that lost the server together do not retry together.
    public var jitter: Double

    public init(
        interval: Duration = .seconds(30), syncOnLocalWrites: Bool = true, writeDebounce: Duration = .milliseconds(100),
        initialBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(60), jitter: Double = 0.5
    ) {
        self.interval = interval
        self.syncOnLocalWrites = syncOnLocalWrites
        self.writeDebounce = writeDebounce
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.jitter = jitter
    }

    /// The delay before retry number `failures` (1 for the first failure), before jitter.
    public func backoff(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        let exponent = min(failures - 1, 30)
        let delay = initialBackoff * (1 << exponent)
        return min(delay, maxBackoff)
    }

    func jittered(_ delay: Duration) -> Duration {
        let fraction = min(max(jitter, 0), 1)
        guard fraction > 0 else { return delay }
        return delay * (1 - Double.random(in: 0...fraction))
    }
}

extension SyncClient {
    /// Syncs until the calling task is cancelled: at once, then every `options.interval` and
    /// soon after local writes to synchronized tables; after a failure, again after an
    /// exponentially growing, jittered delay. Failures never end the loop (they are reported
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
        var observation: AnyDatabaseCancellable?
        defer {
            observation?.cancel()
            broadcaster.emit(.backgroundStopped)
        }
        var failures = 0
        while !Task.isCancelled {
            if options.syncOnLocalWrites && observation == nil {
                observation = try? await observeLocalWrites(wake)
            }
            wake.reset()
            do {
                _ = try await run(.sync, reportFailure: false)
                failures = 0
                await wake.wait(upTo: options.interval)
                if options.writeDebounce > .zero, !Task.isCancelled {
                    try? await Task.sleep(for: options.writeDebounce)
                }
            } catch {
                if error.code == .cancelled || Task.isCancelled { break }
                failures += 1
                let delay = options.jittered(options.backoff(afterFailures: failures))
                broadcaster.emit(.failed(error, retryIn: delay))
                try? await Task.sleep(for: delay)
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
