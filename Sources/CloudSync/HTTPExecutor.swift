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

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    let transport = try self.transport ?? self.makeTransport()
                    self.transport = transport
                    continuation.resume(returning: try transport.send(request))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
