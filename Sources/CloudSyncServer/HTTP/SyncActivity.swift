import Logging
import Metrics
import Synchronization

/// What the sync endpoints report beyond their responses: metrics, the device bookkeeping of
/// the dashboard (last seen, how far behind) and the refused rows it lists.
///
/// Bookkeeping never fails a sync: its errors are logged. Device records are written when a
/// device's downloaded version moves or at most once a minute otherwise, so a device polling
/// for changes costs one catalog write a minute, not one per check.
final class SyncActivity: Sendable {
    static let deviceRecordInterval = Duration.seconds(60)

    let metrics: ServerMetrics
    let console: (any ConsoleStorage)?
    let logger: Logger
    private let recorded = Mutex<[String: (version: Int64?, at: ContinuousClock.Instant)]>([:])

    init(metrics: ServerMetrics, storage: any SyncStorage, logger: Logger) {
        self.metrics = metrics
        self.console = storage as? any ConsoleStorage
        self.logger = logger
    }

    /// An uploaded payload of `bytes` was merged.
    func merged(_ target: SyncRoutes.Target, bytes: Int, result: MergeResult) async {
        metrics.bytesIn.increment(by: bytes)
        metrics.changesMerged.increment(by: result.changes)
        let refused = result.denied.map(\.rows).reduce(0, +)
        if refused > 0 { metrics.refusedRows.increment(by: refused) }
        guard let console else { return }
        if let claims = target.principal.claims {
            for denied in result.denied where denied.rows > 0 {
                await bookkeeping("record refused rows") {
                    try await console.recordRefusedRows(RefusedRowsEvent(
                        database: target.database, site: target.site.hex, userID: claims.userID, table: denied.table, rows: denied.rows))
                }
            }
        }
        await seen(target, checkedVersion: nil)
    }

    /// A device checked for changes after `version`.
    func checked(_ target: SyncRoutes.Target, after version: Int64) async {
        await seen(target, checkedVersion: version)
    }

    /// A page of `bytes` was downloaded.
    func downloaded(bytes: Int) {
        metrics.bytesOut.increment(by: bytes)
    }

    private func seen(_ target: SyncRoutes.Target, checkedVersion: Int64?) async {
        guard let console else { return }
        let key = target.database + "/" + target.site.hex
        let now = ContinuousClock.now
        let due = recorded.withLock { recorded -> Bool in
            let previous = recorded[key]
            let version = checkedVersion ?? previous?.version
            guard previous == nil || version != previous?.version || now - previous!.at >= Self.deviceRecordInterval else { return false }
            recorded[key] = (version, now)
            return true
        }
        guard due else { return }
        await bookkeeping("record device") {
            try await console.recordDevice(database: target.database, site: target.site, userID: target.principal.claims?.userID, checkedVersion: checkedVersion)
        }
    }

    private func bookkeeping(_ what: String, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            logger.warning("cannot \(what): \(error)")
        }
    }
}
