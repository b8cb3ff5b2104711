import Testing

@testable import CloudSyncServer

/// The notifier alone: epochs, wakes, timeouts, cancellation and its bound.
@Suite("Change notifier")
struct ChangeNotifierTests {
    /// Waits until `notifier` has `count` waiters (a condition, not a fixed sleep).
    static func waiters(_ notifier: ChangeNotifier, _ count: Int) async throws {
        try await waitUntil("\(count) waiters") { notifier.waiting == count }
    }

    @Test func aChangeWakesWaitersOfItsDatabaseOnly() async throws {
        let notifier = ChangeNotifier()
        let epoch = notifier.epoch(of: "a")
        async let woken = notifier.wait("a", after: epoch, timeout: .seconds(60))
        async let other = notifier.wait("b", after: notifier.epoch(of: "b"), timeout: .seconds(60))
        try await Self.waiters(notifier, 2)
        notifier.changed("a")
        #expect(await woken == .changed)
        #expect(notifier.waiting == 1)
        #expect(notifier.epoch(of: "a") == epoch + 1)
        notifier.changed("b")
        #expect(await other == .changed)
        #expect(notifier.waiting == 0)
    }

    @Test func aChangeBeforeTheWaitIsNotMissed() async {
        let notifier = ChangeNotifier()
        let epoch = notifier.epoch(of: "a")
        notifier.changed("a")
        #expect(await notifier.wait("a", after: epoch, timeout: .seconds(60)) == .changed)
        #expect(notifier.waiting == 0)
    }

    @Test func nothingChangingEndsInATimeout() async {
        let notifier = ChangeNotifier()
        #expect(await notifier.wait("a", after: notifier.epoch(of: "a"), timeout: .milliseconds(20)) == .timedOut)
        #expect(await notifier.wait("a", after: 0, timeout: .zero) == .timedOut)
        #expect(notifier.waiting == 0)
    }

    @Test func cancellingAWaitEndsIt() async throws {
        let notifier = ChangeNotifier()
        let task = Task { await notifier.wait("a", after: 0, timeout: .seconds(60)) }
        try await Self.waiters(notifier, 1)
        task.cancel()
        #expect(await task.value == .refused)
        #expect(notifier.waiting == 0)
    }

    @Test func waitersAreBounded() async throws {
        let notifier = ChangeNotifier(maxWaiters: 2)
        async let one = notifier.wait("a", after: 0, timeout: .seconds(60))
        async let two = notifier.wait("b", after: 0, timeout: .seconds(60))
        try await Self.waiters(notifier, 2)
        // A third answers at once instead of holding memory.
        #expect(await notifier.wait("a", after: 0, timeout: .seconds(60)) == .refused)
        notifier.changedEverywhere()
        #expect(await one == .changed)
        #expect(await two == .changed)
        #expect(notifier.waiting == 0)
    }

    @Test func closingEndsEveryWaitAndRefusesLaterOnes() async throws {
        let notifier = ChangeNotifier()
        async let held = notifier.wait("a", after: 0, timeout: .seconds(60))
        try await Self.waiters(notifier, 1)
        notifier.close()
        #expect(await held == .refused)
        #expect(await notifier.wait("a", after: 0, timeout: .seconds(60)) == .refused)
        #expect(notifier.waiting == 0)
    }

    @Test func subscriptionsHaveTheirOwnBoundAndDoNotCountAsWaitingChecks() async throws {
        let notifier = ChangeNotifier(maxWaiters: 1, maxSubscriptions: 2)
        #expect(notifier.beginSubscription())
        #expect(notifier.beginSubscription())
        #expect(!notifier.beginSubscription())
        #expect(notifier.subscriptions == 2)
        // A subscription waiting does not take the waiting checks' one place.
        async let subscribed = notifier.wait("a", after: 0, timeout: .seconds(60), subscription: true)
        try await waitUntil("the subscription waits") { notifier.waitingSubscriptions == 1 }
        async let check = notifier.wait("a", after: 0, timeout: .seconds(60))
        try await Self.waiters(notifier, 1)
        #expect(await notifier.wait("a", after: 0, timeout: .seconds(60)) == .refused)
        notifier.changed("a")
        #expect(await subscribed == .changed)
        #expect(await check == .changed)
        #expect(notifier.waiting == 0 && notifier.waitingSubscriptions == 0)
        notifier.endSubscription()
        #expect(notifier.beginSubscription())
        notifier.close()
        #expect(!notifier.beginSubscription())
    }
}
