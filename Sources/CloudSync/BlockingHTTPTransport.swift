import CloudSyncCore
import CloudSyncNetwork
import Dispatch

/// Runs a synchronous `HTTPTransport` (the extension's protocol: libcurl, a test harness) as a
/// ``SyncTransport``, on dispatch queues of its own, so that network waits block neither GRDB's
/// writer nor Swift's cooperative threads.
///
/// ```swift
/// var options = SyncClient.Options()
/// options.transport = BlockingHTTPTransport { try MyHTTPTransport() }
/// ```
///
/// Transports are not `Sendable`: each is made by `makeTransport` on a queue of its own and
/// only used there, and it is kept for later requests so that its connections are reused.
/// Concurrent requests each get their own queue and transport.
public final class BlockingHTTPTransport: SyncTransport {
    /// A serial queue and the transport used only on it.
    private final class Lane: @unchecked Sendable {
        // @unchecked: `transport` is only touched on `queue`.
        let queue = DispatchQueue(label: "cloudsync.http")
        var transport: (any HTTPTransport)?
    }

    private let makeTransport: @Sendable () throws -> any HTTPTransport
    /// Lanes with no request in flight.
    private let idle = Locked<[Lane]>([])

    /// - Parameter makeTransport: makes a transport, on the queue that will use it.
    public init(_ makeTransport: @escaping @Sendable () throws -> any HTTPTransport) {
        self.makeTransport = makeTransport
    }

    /// Sends `request` on an idle lane. Cancelling the calling task returns at once with
    /// `CancellationError`; the request itself runs to its end on its queue (a blocking
    /// transport cannot be interrupted), its answer is dropped, and only then is the lane
    /// reused.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        let lane = idle.withLock { $0.popLast() } ?? Lane()
        let pending = Locked<CheckedContinuation<HTTPResponse, any Error>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                pending.withLock { $0 = continuation }
                if Task.isCancelled, let taken = pending.withLock({ $0.take() }) {
                    idle.withLock { $0.append(lane) }
                    taken.resume(throwing: CancellationError())
                    return
                }
                lane.queue.async {
                    let result = Result { () throws -> HTTPResponse in
                        let transport = try lane.transport ?? self.makeTransport()
                        lane.transport = transport
                        return try transport.send(request)
                    }
                    self.idle.withLock { $0.append(lane) }
                    pending.withLock { $0.take() }?.resume(with: result)
                }
            }
        } onCancel: {
            pending.withLock { $0.take() }?.resume(throwing: CancellationError())
        }
    }
}
