import Metrics
import Synchronization
import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory

/// The server's metrics, in a Prometheus registry of its own (docs/operations.md lists them).
///
/// Each application gets its own instance rather than a process-wide `MetricsSystem`
/// bootstrap: several servers in one process (the tests) each count only their own requests.
/// The metrics are recorded through swift-metrics handles made by a `PrometheusMetricsFactory`
/// on this registry, so the same names also work with any other swift-metrics backend.
public final class ServerMetrics: Sendable {
    /// What `GET /metrics` prints.
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    let changesMerged: Counter
    let bytesIn: Counter
    let bytesOut: Counter
    let refusedRows: Counter
    /// Download pages built ahead that a check answered with (`PagePrefetch`).
    let pagesBuiltAheadUsed: Counter
    /// Checks held open waiting for changes (the waiting check).
    let waitingChecks: Gauge
    /// Change subscriptions (event streams) open.
    let subscriptions: Gauge
    /// Made on the first scrape of a storage with a pool, so others do not show them at all.
    private let poolGauges = Mutex<(inUse: Gauge, maximum: Gauge)?>(nil)

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[Self.requestDuration] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        changesMerged = Counter(label: "cloudsync_changes_merged_total", factory: factory)
        bytesIn = Counter(label: "cloudsync_payload_bytes_total", dimensions: [("direction", "in")], factory: factory)
        bytesOut = Counter(label: "cloudsync_payload_bytes_total", dimensions: [("direction", "out")], factory: factory)
        refusedRows = Counter(label: "cloudsync_refused_rows_total", factory: factory)
        pagesBuiltAheadUsed = Counter(label: "cloudsync_pages_built_ahead_used_total", factory: factory)
        waitingChecks = Gauge(label: "cloudsync_waiting_checks", factory: factory)
        subscriptions = Gauge(label: "cloudsync_subscriptions", factory: factory)
    }

    static let requests = "cloudsync_http_requests_total"
    static let requestDuration = "cloudsync_http_request_duration_seconds"

    /// Counts one request and records its duration.
    func request(endpoint: String, method: String, status: Int, duration: Duration) {
        let dimensions = [("endpoint", endpoint), ("method", method), ("status", String(status))]
        Counter(label: Self.requests, dimensions: dimensions, factory: factory).increment()
        Timer(label: Self.requestDuration, dimensions: dimensions, factory: factory).record(duration: duration)
    }

    /// The Prometheus text exposition, after reading the gauges that are sampled, not pushed.
    func exposition(storage: any SyncStorage, notifier: ChangeNotifier) -> [UInt8] {
        waitingChecks.record(notifier.waiting)
        subscriptions.record(notifier.subscriptions)
        if let pool = (storage as? any ReportsConnectionPool)?.connectionPoolUse {
            let factory = factory
            let gauges = poolGauges.withLock { gauges in
                if gauges == nil {
                    gauges = (Gauge(label: "cloudsync_postgres_connections_in_use", factory: factory), Gauge(label: "cloudsync_postgres_connections_max", factory: factory))
                }
                return gauges!
            }
            gauges.inUse.record(pool.inUse)
            gauges.maximum.record(pool.maximum)
        }
        return registry.emitToBuffer()
    }
}
