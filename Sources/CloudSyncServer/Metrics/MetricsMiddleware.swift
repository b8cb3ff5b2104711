import Hummingbird

/// Counts every request by endpoint (the route pattern, never a database name or token) and
/// status, with its latency. Outside `ErrorAndLogMiddleware`, so errors arrive as responses.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var status = 500
        defer {
            metrics.request(
                endpoint: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status,
                duration: ContinuousClock.now - start)
        }
        let response = try await next(request, context)
        status = response.status.code
        return response
    }
}

extension ServerMetrics {
    /// `GET /metrics`: the Prometheus text format.
    func register(on router: Router<BasicRequestContext>, storage: any SyncStorage, notifier: ChangeNotifier) {
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.exposition(storage: storage, notifier: notifier))))
        }
    }
}
