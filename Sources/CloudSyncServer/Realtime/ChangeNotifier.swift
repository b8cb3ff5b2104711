import Synchronization

/// Wakes requests that wait for a database to change (the waiting check).
///
/// Each database has a change epoch that every merge, and on PostgreSQL every write of any
/// instance or program, moves forward. A waiter reads the epoch, looks for changes, and if it
/// found none waits for the epoch to move past what it read: a change that lands between the
/// look and the wait is never missed. A wake says only "look again": what a device receives is
/// still decided by its cursor and, for a token user, by the policies.
///
/// Subscriptions (the change stream) wait here too, between their looks; they are bounded by
/// ``maxSubscriptions`` instead of ``maxWaiters``, so that idle subscribers never crowd out
/// waiting checks or the reverse.
public final class ChangeNotifier: Sendable {
    /// The most requests that may wait at once, over every database: memory stays bounded
    /// (one continuation each), and a further waiting check answers at once, as an old server.
    public let maxWaiters: Int
    /// The most subscriptions open at once, over every database; a further one is refused
    /// (503 with `Retry-After`).
    public let maxSubscriptions: Int

    private struct State {
        var epochs: [String: UInt64] = [:]
        /// Waiters by database, then by id.
        var waiters: [String: [UInt64: CheckedContinuation<WaitResult, Never>]] = [:]
        /// The database each waiter waits on, by id.
        var databases: [UInt64: String] = [:]
        /// The waiters that are subscriptions (not counted against `maxWaiters`).
        var subscriberWaits: Set<UInt64> = []
        var subscriptions = 0
        var nextID: UInt64 = 0
        var closed = false

        var waitingChecks: Int { databases.count - subscriberWaits.count }

        mutating func removeAll() {
            waiters.removeAll()
            databases.removeAll()
            subscriberWaits.removeAll()
        }

        mutating func remove(_ id: UInt64) -> CheckedContinuation<WaitResult, Never>? {
            guard let database = databases.removeValue(forKey: id) else { return nil }
            subscriberWaits.remove(id)
            let continuation = waiters[database]?.removeValue(forKey: id)
            if waiters[database]?.isEmpty == true { waiters[database] = nil }
            return continuation
        }
    }

    private let state = Mutex(State())

    public init(maxWaiters: Int = 10_000, maxSubscriptions: Int = 10_000) {
        self.maxWaiters = maxWaiters
        self.maxSubscriptions = maxSubscriptions
    }

    /// The current change epoch of `database`.
    public func epoch(of database: String) -> UInt64 {
        state.withLock { $0.epochs[database, default: 0] }
    }

    /// Records that `database` changed and wakes everything waiting on it.
    public func changed(_ database: String) {
        let woken = state.withLock { state -> [CheckedContinuation<WaitResult, Never>] in
            state.epochs[database, default: 0] += 1
            guard let waiting = state.waiters.removeValue(forKey: database) else { return [] }
            for id in waiting.keys {
                state.databases[id] = nil
                state.subscriberWaits.remove(id)
            }
            return Array(waiting.values)
        }
        for continuation in woken { continuation.resume(returning: .changed) }
    }

    /// Wakes every waiter of every database: when changes may have been missed (the
    /// PostgreSQL listener reconnecting), they all look again.
    public func changedEverywhere() {
        let woken = state.withLock { state -> [CheckedContinuation<WaitResult, Never>] in
            for database in state.epochs.keys { state.epochs[database]! += 1 }
            defer { state.removeAll() }
            return state.waiters.values.flatMap(\.values)
        }
        for continuation in woken { continuation.resume(returning: .changed) }
    }

    /// Ends every wait and makes later ones return at once: the server is shutting down, and
    /// a graceful shutdown must not wait for checks held open.
    public func close() {
        let woken = state.withLock { state -> [CheckedContinuation<WaitResult, Never>] in
            state.closed = true
            defer { state.removeAll() }
            return state.waiters.values.flatMap(\.values)
        }
        for continuation in woken { continuation.resume(returning: .refused) }
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// How many checks wait now (subscriptions not included).
    public var waiting: Int { state.withLock { $0.waitingChecks } }

    /// How many subscriptions are open now.
    public var subscriptions: Int { state.withLock { $0.subscriptions } }

    /// How many subscriptions wait for a change now (the others are looking or writing).
    public var waitingSubscriptions: Int { state.withLock { $0.subscriberWaits.count } }

    /// Takes one of the ``maxSubscriptions`` places; false when they are all taken or the
    /// notifier is closed. Give it back with ``endSubscription()``.
    public func beginSubscription() -> Bool {
        state.withLock { state in
            guard !state.closed, state.subscriptions < maxSubscriptions else { return false }
            state.subscriptions += 1
            return true
        }
    }

    /// Gives back a place taken by ``beginSubscription()``.
    public func endSubscription() {
        state.withLock { $0.subscriptions = max(0, $0.subscriptions - 1) }
    }

    /// How a ``wait(_:after:timeout:)`` ended.
    public enum WaitResult: Sendable, Equatable {
        /// The database changed.
        case changed
        /// The time was up.
        case timedOut
        /// Not waited: `maxWaiters` already wait, the notifier is closed, or the task was
        /// cancelled. The caller should not wait again.
        case refused
    }

    /// Waits until `database`'s epoch moves past `epoch`, at most `timeout`. A subscription's
    /// wait (`subscription: true`) is bounded by ``beginSubscription()``, not ``maxWaiters``.
    public func wait(_ database: String, after epoch: UInt64, timeout: Duration, subscription: Bool = false) async -> WaitResult {
        guard timeout > .zero else { return .timedOut }
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WaitResult, Never>) in
                let immediate: WaitResult? = state.withLock { state in
                    if state.epochs[database, default: 0] > epoch { return .changed }
                    if Task.isCancelled || state.closed || (!subscription && state.waitingChecks >= maxWaiters) { return .refused }
                    state.waiters[database, default: [:]][id] = continuation
                    state.databases[id] = database
                    if subscription { state.subscriberWaits.insert(id) }
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                    return
                }
                // The timer: whoever removes the waiter resumes it, exactly once.
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    self?.end(id, .timedOut)
                }
            }
        } onCancel: {
            end(id, .refused)
        }
    }

    private func end(_ id: UInt64, _ result: WaitResult) {
        state.withLock { $0.remove(id) }?.resume(returning: result)
    }
}
