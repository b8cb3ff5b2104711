#if os(Linux)
import AsyncHTTPClient
import CloudSyncCore
import CloudSyncNetwork
import Dispatch
import Foundation
import NIOCore
import NIOHTTP1

/// A ``ChangeStream`` over AsyncHTTPClient (Linux; see ``HTTPClientTransport`` for why not
/// URLSession there): a task reads the response's body while a watchdog ends it when no byte,
/// not even a heartbeat, came within the idle timeout.
enum HTTPClientChangeStream {
    /// The most a refusal's body is read (its text is not used, only its end).
    static let refusalBodyLimit = 64 * 1024

    static func start(url: URL, bearer: String, idleTimeout: TimeInterval, reporting continuation: AsyncThrowingStream<ChangeStream.Update, any Error>.Continuation) {
        let task = Task {
            do {
                try await run(url: url, bearer: bearer, idleTimeout: idleTimeout + 1, reporting: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
    }

    private static func run(url: URL, bearer: String, idleTimeout: TimeInterval, reporting continuation: AsyncThrowingStream<ChangeStream.Update, any Error>.Continuation) async throws {
        var request = HTTPClientRequest(url: url.absoluteString)
        for (name, value) in ChangeStream.headers(bearer: bearer) { request.headers.add(name: name, value: value) }
        let response = try await HTTPClientTransport.client.execute(request, timeout: .nanoseconds(Int64(HTTPClientTransport.nanoseconds(idleTimeout))))
        guard response.status == .ok else {
            _ = try? await response.body.collect(upTo: refusalBodyLimit)
            throw ChangeStream.Refused(status: Int(response.status.code))
        }
        continuation.yield(.opened)

        let lastByte = Locked(DispatchTime.now().uptimeNanoseconds)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var parser = ServerSentEventParser()
                for try await chunk in response.body {
                    lastByte.withLock { $0 = DispatchTime.now().uptimeNanoseconds }
                    if parser.feed(chunk.readableBytesView).contains(where: { $0.type == ChangeSubscription.changesEvent }) {
                        continuation.yield(.changes)
                    }
                }
            }
            group.addTask {
                let limit = HTTPClientTransport.nanoseconds(idleTimeout)
                while true {
                    let idle = DispatchTime.now().uptimeNanoseconds - lastByte.withLock { $0 }
                    if idle >= limit { throw CloudSyncError(.network, "the change subscription was silent for \(idleTimeout) s") }
                    try await Task.sleep(nanoseconds: limit - idle)
                }
            }
            // The body ended (the server closed the stream) or one of the two failed.
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
#endif
