import CloudSyncCore
import Foundation

/// One change subscription (`ChangeSubscription`): the response's bytes go through the
/// Server-Sent Events parser as they arrive, and each `changes` event is reported.
///
/// It runs over the platform's default transport (``URLSessionChangeStream`` on Apple's
/// platforms, ``HTTPClientChangeStream`` on Linux), never over a custom ``SyncTransport``,
/// whose protocol has no streaming. Its connection is never shared with the sync's requests,
/// and its idle timeout (no byte for that long, not even the server's heartbeat, means the
/// connection is dead) applies to it alone.
enum ChangeStream {
    /// What the stream reports.
    enum Update: Sendable, Equatable {
        /// The server accepted the subscription (200): the channel is live.
        case opened
        /// Changes wait for this device: sync.
        case changes
    }

    /// Why a subscription was not accepted.
    struct Refused: Error, Sendable {
        /// The HTTP status (401 credential, 404 unknown database or an older server without
        /// subscriptions, 503 the server's bound).
        var status: Int
        /// Whether the server does not know the endpoint at all (an older server): the
        /// waiting check is the way to go.
        var unsupported: Bool { status == 404 || status == 405 }
    }

    /// Opens a subscription at `url` with `bearer`. The stream ends when the server closes
    /// it and throws when it fails (``Refused`` for an answer other than 200); ending the
    /// iteration closes the connection. Updates never pile up: a consumer that falls behind
    /// finds one pending `changes`, which is all it needs.
    static func open(url: URL, bearer: String, idleTimeout: TimeInterval) -> AsyncThrowingStream<Update, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Update.self, bufferingPolicy: .bufferingNewest(2))
        #if os(Linux)
        HTTPClientChangeStream.start(url: url, bearer: bearer, idleTimeout: idleTimeout, reporting: continuation)
        #else
        URLSessionChangeStream.start(url: url, bearer: bearer, idleTimeout: idleTimeout, reporting: continuation)
        #endif
        return stream
    }

    /// The subscription request's headers.
    static func headers(bearer: String) -> [(String, String)] {
        [("Authorization", "Bearer \(bearer)"), ("Accept", ChangeSubscription.contentType), ("Cache-Control", "no-cache")]
    }
}
