import CloudSyncCore
import Foundation

/// A FIFO lock for async code: one sync operation of a client at a time.
final class AsyncLock: Sendable {
    private let state = Locked<(locked: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if !state.locked {
                    state.locked = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }

    func withLock<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async rethrows -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }
}

/// Wakes the background loop when local writes happen.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Locked(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Forgets a signal that arrived before now (the sync about to start covers it).
    func reset() {
        state.withLock { $0.pending = false }
    }

    /// Returns when signalled (or at once if a signal is pending), or when cancelled.
    private func next() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// Returns after `seconds`, when signalled, or when the task is cancelled, whichever
    /// comes first. One waiter at a time.
    func wait(upTo seconds: TimeInterval) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await sleep(seconds: seconds) }
            group.addTask { await self.next() }
            await group.next()
            group.cancelAll()
        }
    }
}

/// Counts this client's merges in progress: their commits are not local writes.
final class MergeTracker: Sendable {
    private let count = Locked(0)

    var inProgress: Bool { count.withLock { $0 > 0 } }

    func tracking<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async rethrows -> T {
        count.withLock { $0 += 1 }
        defer { count.withLock { $0 -= 1 } }
        return try await body()
    }
}

/// A count shared between the database observer and whoever reads it.
final class Counter: Sendable {
    private let count = Locked(0)

    var value: Int { count.withLock { $0 } }

    func increment() { count.withLock { $0 += 1 } }
}

/// Sleeps `seconds` (the clock-based sleeps of the standard library need iOS 16 / macOS 13).
func sleep(seconds: TimeInterval) async throws {
    try await Task.sleep(nanoseconds: UInt64(min(max(0, seconds), 1e9) * 1e9))
}
