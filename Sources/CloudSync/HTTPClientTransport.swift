#if os(Linux)
import AsyncHTTPClient
import CloudSyncCore
import CloudSyncNetwork
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The default ``SyncTransport`` on Linux: AsyncHTTPClient over SwiftNIO.
///
/// Linux's `URLSession` (FoundationNetworking) is not used: it crashes the process now and
/// then when a connection closes or a session ends (its libcurl sockets are watched by
/// dispatch sources that outlive them; swift-corelibs-foundation #4791 and its family), and a
/// sync client opens and closes connections all day. Apple's platforms use
/// ``URLSessionTransport``.
///
/// All transports of a process share one connection pool. Redirects are not followed (a sync
/// endpoint never redirects; a POST would be sent twice), connections are made once per
/// request without retries (an offline device learns it at once), and the request's
/// deadline covers the whole exchange, body included.
public final class HTTPClientTransport: SyncTransport {
    /// Time allowed for one whole request, connecting included, when the request does not set
    /// its own `timeout`.
    public let requestTimeout: TimeInterval

    /// - Parameter requestTimeout: seconds allowed for one whole request, connecting included.
    public init(requestTimeout: TimeInterval = 60) {
        self.requestTimeout = requestTimeout
    }

    /// The process's pool. Never shut down: it lives as long as the process, like URLSession's
    /// shared session.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10)),
            decompression: .disabled
        )
        // Several clients of one process may each hold a subscription and a waiting check open
        // on the same server: the pool must not make a sync queue behind them.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        let timeout = request.timeout ?? requestTimeout
        let failed = "\(request.method) \(request.url) failed"
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if request.method != "GET" { outgoing.body = .bytes(request.body) }
        let prepared = outgoing
        do {
            return try await Self.withDeadline(seconds: timeout) {
                let response = try await Self.client.execute(prepared, timeout: .nanoseconds(Int64(Self.nanoseconds(timeout))))
                let body = try await response.body.collect(upTo: Int.max)
                return HTTPResponse(
                    status: Int(response.status.code),
                    body: Array(buffer: body),
                    headers: response.headers.map { ($0.name, $0.value) }
                )
            }
        } catch {
            throw Self.failure(error, failed: failed, timeout: timeout)
        }
    }

    /// What a failure means to the caller: `CancellationError` when its task was cancelled,
    /// a `.network` error with a short cause otherwise.
    static func failure(_ error: any Error, failed: String, timeout: TimeInterval) -> any Error {
        if error is CancellationError || Task.isCancelled { return CancellationError() }
        if error is DeadlineExceeded { return CloudSyncError(.network, "\(failed): no answer within \(timeout) s") }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout: return CloudSyncError(.network, "\(failed): no answer within \(timeout) s")
            case .connectTimeout: return CloudSyncError(.network, "\(failed): could not connect to the server in time")
            case .cancelled: return CancellationError()
            case .remoteConnectionClosed: return CloudSyncError(.network, "\(failed): the connection was lost")
            case .invalidURL, .emptyHost, .emptyScheme: return CloudSyncError(.network, "\(failed): not an http(s) URL")
            default: return CloudSyncError(.network, "\(failed): \(error)")
            }
        }
        if let error = error as? NIOConnectionError {
            return CloudSyncError(.network, "\(failed): could not connect to the server (\(error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)"))")
        }
        return CloudSyncError(.network, "\(failed): \(error)")
    }

    /// The request's deadline passed.
    struct DeadlineExceeded: Error {}

    /// Runs `operation` and throws ``DeadlineExceeded`` (cancelling it) if it has not ended
    /// within `seconds`: AsyncHTTPClient's own deadline stops at the response's head, and a
    /// body that trickles must not hold a sync forever.
    static func withDeadline<T: Sendable>(seconds: TimeInterval, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(nanoseconds: nanoseconds(seconds))
                throw DeadlineExceeded()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    static func nanoseconds(_ seconds: TimeInterval) -> UInt64 {
        UInt64(max(0.001, min(seconds, 365 * 86_400)) * 1_000_000_000)
    }
}
#endif
