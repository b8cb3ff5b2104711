#if !os(Linux)
import CloudSyncCore
import CloudSyncNetwork
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The default ``SyncTransport`` on Apple's platforms: `URLSession`. (On Linux the default is
/// ``HTTPClientTransport``: FoundationNetworking's `URLSession` is not dependable there.)
///
/// It uses the system's proxy settings, trust store and TLS policy (App Transport Security on
/// Apple platforms), reuses connections between requests, and cancels the request in flight
/// when the calling task is cancelled. Requests bypass the URL cache and cookie storage: sync
/// answers are never stale copies.
///
/// ```swift
/// let configuration = URLSessionConfiguration.default
/// configuration.allowsExpensiveNetworkAccess = false   // Apple platforms: no sync over cellular hotspots
/// var options = SyncClient.Options()
/// options.transport = URLSessionTransport(configuration: configuration)
/// ```
///
/// A background `URLSessionConfiguration` is not supported (its sessions run upload and
/// download tasks only); to sync while the app is suspended, call ``SyncClient/sync()`` from a
/// background task (BackgroundTasks' `BGAppRefreshTask`).
public final class URLSessionTransport: SyncTransport {
    /// Time allowed for one whole request, connecting included, when the request does not set
    /// its own `timeout`.
    public let requestTimeout: TimeInterval
    private let session: URLSession

    /// - Parameters:
    ///   - requestTimeout: seconds allowed for one whole request, connecting included.
    ///   - configuration: the session's configuration (proxies, cellular access, extra
    ///     headers…); `URLSession` copies it.
    public init(requestTimeout: TimeInterval = 60, configuration: URLSessionConfiguration = .default) {
        self.requestTimeout = requestTimeout
        self.session = URLSession(configuration: configuration)
    }

    deinit { session.finishTasksAndInvalidate() }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        guard let url = URL(string: request.url), url.scheme == "http" || url.scheme == "https" else {
            throw CloudSyncError(.network, "\(request.method) \(request.url) failed: not an http(s) URL")
        }
        let timeout = request.timeout ?? requestTimeout
        let seconds = max(0.001, timeout)
        var urlRequest = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: seconds)
        urlRequest.httpMethod = request.method
        urlRequest.httpShouldHandleCookies = false
        for (name, value) in request.headers { urlRequest.addValue(value, forHTTPHeaderField: name) }
        if request.method != "GET" { urlRequest.httpBody = Data(request.body) }

        let exchange = Exchange()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                let task = session.dataTask(with: urlRequest) { data, response, error in
                    continuation.resume(with: exchange.finish(request, timeout: timeout, data: data, response: response, error: error))
                }
                exchange.start(task, deadline: seconds)
            }
        } onCancel: {
            exchange.cancel()
        }
    }

    /// One request's task and how it ended early (cancelled by the caller, or past its
    /// deadline), shared by the cancellation handler, the deadline and the completion handler.
    private final class Exchange: @unchecked Sendable {
        // @unchecked: every field is behind `state`'s lock.
        private struct State {
            var task: URLSessionDataTask?
            var cancelled = false
            var timedOut = false
            var deadline: DispatchWorkItem?
        }
        private let state = Locked(State())

        /// Starts `task` unless the caller already cancelled, in which case it is cancelled at
        /// once (its completion handler still runs, and reports the cancellation). The deadline
        /// bounds the whole request: `URLRequest.timeoutInterval` only bounds the time between
        /// packets.
        func start(_ task: URLSessionDataTask, deadline seconds: Double) {
            let expire = DispatchWorkItem { [self] in
                let task = state.withLock { state -> URLSessionDataTask? in
                    state.timedOut = true
                    return state.task
                }
                task?.cancel()
            }
            let cancelled = state.withLock { state -> Bool in
                state.task = task
                state.deadline = expire
                return state.cancelled
            }
            task.resume()
            if cancelled { task.cancel() }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: expire)
        }

        func cancel() {
            let task = state.withLock { state -> URLSessionDataTask? in
                state.cancelled = true
                return state.task
            }
            task?.cancel()
        }

        /// The outcome for the caller: a response whatever its status, or why none came.
        func finish(_ request: HTTPRequest, timeout: TimeInterval, data: Data?, response: URLResponse?, error: (any Error)?) -> Result<HTTPResponse, any Error> {
            let (cancelled, timedOut) = state.withLock { state -> (Bool, Bool) in
                state.deadline?.cancel()
                state.deadline = nil
                state.task = nil
                return (state.cancelled, state.timedOut)
            }
            if cancelled { return .failure(CancellationError()) }
            let failed = "\(request.method) \(request.url) failed"
            if timedOut { return .failure(CloudSyncError(.network, "\(failed): no answer within \(timeout) s")) }
            if let error { return .failure(CloudSyncError(.network, "\(failed): \(Self.reason(error))")) }
            guard let http = response as? HTTPURLResponse else {
                return .failure(CloudSyncError(.network, "\(failed): the answer is not HTTP"))
            }
            let headers = http.allHeaderFields.compactMap { field -> (String, String)? in
                guard let name = field.key as? String, let value = field.value as? String else { return nil }
                return (name, value)
            }
            return .success(HTTPResponse(status: http.statusCode, body: data.map(Array.init) ?? [], headers: headers))
        }

        /// A short cause for the common URL loading failures; Linux's Foundation describes them
        /// only by number.
        static func reason(_ error: any Error) -> String {
            // Through NSError: Linux's Foundation reports URLSession failures as NSError
            // values, which do not cast to URLError there.
            let error = error as NSError
            guard error.domain == NSURLErrorDomain else { return error.localizedDescription }
            return switch URLError.Code(rawValue: error.code) {
            case .timedOut: "timed out"
            case .cannotConnectToHost: "could not connect to the server"
            case .cannotFindHost, .dnsLookupFailed: "unknown host"
            case .notConnectedToInternet: "not connected to the internet"
            case .networkConnectionLost: "the connection was lost"
            case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
                 .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected:
                "TLS failed (\(error.localizedDescription))"
            default: "URL error \(error.code) (\(error.localizedDescription))"
            }
        }
    }
}
#endif
