import CloudSyncCore
import CloudSyncNetwork
import Dispatch

/// Runs the synchronous `HTTPTransport` (libcurl by default) on a dedicated serial dispatch
/// queue, so that network waits block neither GRDB's writer nor Swift's cooperative threads.
///
/// The transport is created lazily on that queue and only ever used there (it is not
/// `Sendable`), so its connections are reused between the requests of successive syncs.
final class HTTPExecutor: @unchecked Sendable {
    // @unchecked: `transport` is only touched on `queue`.
    private let queue = DispatchQueue(label: "cloudsync.http")
    private let makeTransport: @Sendable () throws -> any HTTPTransport
    private var transport: (any HTTPTransport)?

    init(makeTransport: @escaping @Sendable () throws -> any HTTPTransport) {
        self.makeTransport = makeTransport
    }

    /// Sends `request` on the executor's queue. Cancelling the calling task returns at once
    /// with `CancellationError`; the request itself runs to its end on the queue (a blocking
    /// transport cannot be interrupted) and its answer is dropped.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        let pending = Locked<CheckedContinuation<HTTPResponse, any Error>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                pending.withLock { $0 = continuation }
                if Task.isCancelled, let taken = pending.withLock({ $0.take() }) {
                    taken.resume(throwing: CancellationError())
                    return
                }
                queue.async {
                    let result = Result { () throws -> HTTPResponse in
                        let transport = try self.transport ?? self.makeTransport()
                        self.transport = transport
                        return try transport.send(request)
                    }
                    pending.withLock { $0.take() }?.resume(with: result)
                }
            }
        } onCancel: {
            pending.withLock { $0.take() }?.resume(throwing: CancellationError())
        }
    }
}
