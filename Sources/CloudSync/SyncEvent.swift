import CloudSyncCore
import Foundation

/// Which operation of a ``SyncClient``.
public enum SyncOperation: String, Sendable, Equatable {
    case sync, send, receive
}

/// What a ``SyncClient`` operation did.
public struct SyncResult: Sendable, Equatable {
    /// Local changes the server accepted.
    public var sent: Int
    /// Rows of those sent changes that the server's Row-Level Security refused, per table: the
    /// user's policy does not let them write these rows. They were not applied on the server;
    /// the server's version of each row (or its absence) comes back with the next receive and
    /// replaces the local edit. The extension's functions raise the same report as a `.denied`
    /// error. Not to be confused with ``deniedRows``, which are refused *locally*.
    public var refusedRows: [String: Int]
    /// Changes downloaded from the server and merged (every change examined, including those
    /// that lost to newer local ones).
    public var received: Int
    /// Received rows that could not be written locally (a local constraint failed, e.g. a
    /// `UNIQUE` column), as "table: reason". Their changes are not recorded, so a later
    /// delivery can merge them. Rows the *server* refused are in ``refusedRows``.
    public var deniedRows: [String]
    /// Synchronized tables whose rows changed by merging, in name order. GRDB observers of
    /// these tables were notified.
    public var changedTables: [String]

    public init(sent: Int = 0, refusedRows: [String: Int] = [:], received: Int = 0, deniedRows: [String] = [], changedTables: [String] = []) {
        self.sent = sent
        self.refusedRows = refusedRows
        self.received = received
        self.deniedRows = deniedRows
        self.changedTables = changedTables
    }
}

/// Something a ``SyncClient`` did, for a UI to show: see ``SyncClient/events()``.
public enum SyncEvent: Sendable, Equatable {
    /// An operation started.
    case started(SyncOperation)
    /// Local changes were sent (the count may be 0).
    case sent(changes: Int)
    /// The server's Row-Level Security refused some of the rows just sent: how many per table
    /// (see ``SyncResult/refusedRows``). Follows ``sent(changes:)`` only when rows were refused.
    case refused(rows: [String: Int])
    /// Server changes were received and merged.
    case received(changes: Int, changedTables: [String], deniedRows: [String])
    /// An operation finished.
    case completed(SyncOperation, SyncResult)
    /// An operation failed. In background mode, `retryIn` says when the next attempt is.
    case failed(SyncError, retryIn: TimeInterval?)
    /// Background sync stopped (cancelled or ``SyncClient/stopBackgroundSync()``).
    case backgroundStopped
    /// The background sync's live channel changed state (only when it changes).
    case channel(SyncChannel)
}

/// Fans events out to every subscriber.
final class EventBroadcaster: Sendable {
    private let subscribers = Locked<(next: Int, continuations: [Int: AsyncStream<SyncEvent>.Continuation])>((0, [:]))

    func subscribe(bufferingNewest limit: Int) -> AsyncStream<SyncEvent> {
        let (stream, continuation) = AsyncStream<SyncEvent>.makeStream(bufferingPolicy: .bufferingNewest(max(1, limit)))
        let id = subscribers.withLock { state in
            let id = state.next
            state.next += 1
            state.continuations[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { _ = $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func emit(_ event: SyncEvent) {
        let targets = subscribers.withLock { Array($0.continuations.values) }
        for continuation in targets { continuation.yield(event) }
    }

    func finishAll() {
        let targets = subscribers.withLock { state in
            let all = Array(state.continuations.values)
            state.continuations.removeAll()
            return all
        }
        for continuation in targets { continuation.finish() }
    }
}
