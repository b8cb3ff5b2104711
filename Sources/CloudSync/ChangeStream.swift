import CloudSyncCore
import CloudSyncNetwork
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One change subscription (`ChangeSubscription`) over URLSession: the response's bytes go
/// through the Server-Sent Events parser as they arrive, and each `changes` event is reported.
///
/// The subscription has a URLSession of its own, so its idle timeout (no byte for that long,
/// not even the server's heartbeat, means the connection is dead) applies to it alone, and
/// its connection is never shared with the sync's requests.
final class ChangeStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `parser` and `opened` are only touched by the session's delegate callbacks,
    // which its serial delegate queue runs one at a time.

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

    private let continuation: AsyncThrowingStream<Update, any Error>.Continuation
    private var parser = ServerSentEventParser()
    /// The status of an answer other than 200, reported when its (short) body has ended:
    /// cancelling a task from its response callback is avoided, as FoundationNetworking on
    /// Linux has crashed on it.
    private var refusedStatus: Int?

    private init(continuation: AsyncThrowingStream<Update, any Error>.Continuation) {
        self.continuation = continuation
    }

    /// Opens a subscription at `url` with `bearer`. The stream ends when the server closes
    /// it and throws when it fails (``Refused`` for an answer other than 200); ending the
    /// iteration closes the connection. Updates never pile up: a consumer that falls behind
    /// finds one pending `changes`, which is all it needs.
    static func open(url: URL, bearer: String, idleTimeout: TimeInterval) -> AsyncThrowingStream<Update, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Update.self, bufferingPolicy: .bufferingNewest(2))
        let delegate = ChangeStream(continuation: continuation)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout + 1
        configuration.timeoutIntervalForResource = 365 * 86_400
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        var request = URLRequest(url: url)
        request.httpMethod = "GET"
        request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization")
        request.setValue(ChangeSubscription.contentType, forHTTPHeaderField: "Accept")
        request.setValue("no-cache", forHTTPHeaderField: "Cache-Control")
        let task = session.dataTask(with: request)
        continuation.onTermination = { _ in
            task.cancel()
            // Also releases the delegate, which the session holds until invalidated.
            session.finishTasksAndInvalidate()
        }
        task.resume()
        return stream
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status == 200 {
            continuation.yield(.opened)
        } else {
            refusedStatus = status
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard refusedStatus == nil else { return }
        let events = parser.feed(data)
        if events.contains(where: { $0.type == ChangeSubscription.changesEvent }) {
            continuation.yield(.changes)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if let refusedStatus {
            continuation.finish(throwing: Refused(status: refusedStatus))
        } else if let error {
            continuation.finish(throwing: error)
        } else {
            continuation.finish()
        }
    }
}
