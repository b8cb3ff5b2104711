import CloudSyncCore
import Metrics

/// The next download page of a device that is catching up, built while the device merges the
/// page it was just given. On two cores the server's encoding and the device's merge then
/// overlap instead of taking turns, which is most of a fresh device's initial sync
/// (benchmarks.md, `scripts/bigsync`).
///
/// Only unfiltered pages are built ahead (API keys): a filtered page records what its user was
/// shown as it is built. A page built ahead is the feed after its cursor at an earlier moment,
/// the same a check racing a merge could have read: a change merged since comes with a later
/// page, and a cell changed again since is delivered again with its newer value. An empty
/// result is not kept (a change may have come since): the check looks again.
///
/// Bounded: at most `maxPending` pages (each bounded by the page limits), each kept at most
/// `lifetime` for its device to ask.
actor PagePrefetch {
    struct Key: Hashable {
        var database: String
        var site: SiteID
        var cursor: SyncCursor
        var options: ChangesPageOptions
        var limit: Int
    }

    private var pending: [Key: (task: Task<ChangesPage?, any Error>, started: ContinuousClock.Instant)] = [:]
    private let maxPending: Int
    private let lifetime: Duration
    /// Pages built ahead that a check answered with (`cloudsync_pages_built_ahead_used_total`).
    private let used: Counter

    init(metrics: ServerMetrics, maxPending: Int = 8, lifetime: Duration = .seconds(30)) {
        self.maxPending = maxPending
        self.lifetime = lifetime
        used = metrics.pagesBuiltAheadUsed
    }

    /// Starts building the page of `key` unless one is already under way or the store is full.
    func start(_ key: Key, _ build: @escaping @Sendable () async throws -> ChangesPage?) {
        sweep()
        guard pending[key] == nil, pending.count < maxPending else { return }
        pending[key] = (Task { try await build() }, .now)
    }

    /// The page built ahead for `key`, if any (waiting for it if it is still being built);
    /// nil when there is none, it failed, or it was empty.
    func take(_ key: Key) async -> ChangesPage? {
        guard let entry = pending.removeValue(forKey: key) else { return nil }
        guard let page = try? await entry.task.value else { return nil }
        used.increment()
        return page
    }

    private func sweep() {
        let now = ContinuousClock.now
        for (key, entry) in pending where entry.started + lifetime <= now {
            entry.task.cancel()
            pending[key] = nil
        }
    }
}
