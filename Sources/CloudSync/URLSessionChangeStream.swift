#if !os(Linux)
import CloudSyncCore
import CloudSyncNetwork
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A ``ChangeStream`` over URLSession, as the delegate of a session of its own (so that its
/// idle timeout applies to it alone).
final class URLSessionChangeStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `parser` and `refusedStatus` are only touched by the session's delegate
    // callbacks, which its serial delegate queue runs one at a time.

    private let continuation: AsyncThrowingStream<ChangeStream.Update, any Error>.Continuation
    private var parser = ServerSentEventParser()
    /// The status of an answer other than 200, reported when its (short) body has ended:
    /// cancelling a task from its response callback is avoided.
    private var refusedStatus: Int?

    private init(continuation: AsyncThrowingStream<ChangeStream.Update, any Error>.Continuation) {
        self.continuation = continuation
    }

    static func start(url: URL, bearer: String, idleTimeout: TimeInterval, reporting continuation: AsyncThrowingStream<ChangeStream.Update, any Error>.Continuation) {
        let delegate = URLSessionChangeStream(continuation: continuation)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout + 1
        configuration.timeoutIntervalForResource = 365 * 86_400
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        var request = URLRequest(url: url)
        request.httpMethod = "GET"
        for (name, value) in ChangeStream.headers(bearer: bearer) { request.setValue(value, forHTTPHeaderField: name) }
        let task = session.dataTask(with: request)
        continuation.onTermination = { _ in
            task.cancel()
            // Also releases the delegate, which the session holds until invalidated.
            session.finishTasksAndInvalidate()
        }
        task.resume()
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
            continuation.finish(throwing: ChangeStream.Refused(status: refusedStatus))
        } else if let error {
            continuation.finish(throwing: error)
        } else {
            continuation.finish()
        }
    }
}
#endif
