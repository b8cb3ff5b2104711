import CloudSyncCore
import CloudSyncNetwork

/// Sends the HTTP requests of a ``SyncClient``.
///
/// The default is ``URLSessionTransport`` on Apple's platforms and ``HTTPClientTransport``
/// (AsyncHTTPClient) on Linux. Install another one with
/// ``SyncClient/Options/transport``: an app's own HTTP stack, a test harness that injects
/// faults, or a synchronous `HTTPTransport` (the extension's) through ``BlockingHTTPTransport``.
///
/// A client may send two requests at once (a sync, and the live channel's waiting check of
/// background mode), so implementations must handle concurrent calls.
public protocol SyncTransport: Sendable {
    /// Sends `request` and returns the response, whatever its status.
    ///
    /// Throws a `.network` ``SyncError`` when no response arrived (refused, unreachable, timed
    /// out), and `CancellationError` when the calling task was cancelled; other errors are
    /// reported as `.network` failures too. A request's own `timeout`, when set, replaces the
    /// transport's request timeout.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}
