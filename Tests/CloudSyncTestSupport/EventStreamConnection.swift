import CloudSyncNetwork
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One open Server-Sent Events stream (a change subscription) over HTTP/1.1, read as it
/// arrives: for the server tests and the load tool. On NIO, so that thousands can be open on a
/// few threads.
package final class EventStreamConnection: Sendable {
    /// One event of the stream.
    package struct Event: Sendable, Equatable {
        package var type: String
        package var data: String
    }

    /// The response's status code.
    package let status: Int
    private let headers: HTTPHeaders
    /// The events as they arrive; the stream finishes when the response ends or the connection
    /// closes.
    package let events: AsyncStream<Event>
    /// Comment lines (heartbeats) seen so far.
    package var comments: Int { state.withLockedValue { $0.comments } }
    /// Whether the response has ended (the server closed the stream).
    package var ended: Bool { state.withLockedValue { $0.ended } }

    private struct State {
        var comments = 0
        var ended = false
    }

    private let state: NIOLockedValueBox<State>
    private let channel: any Channel

    private init(status: Int, headers: HTTPHeaders, events: AsyncStream<Event>, state: NIOLockedValueBox<State>, channel: any Channel) {
        self.status = status
        self.headers = headers
        self.events = events
        self.state = state
        self.channel = channel
    }

    /// The response's header `name` (the first, if repeated).
    package func header(_ name: String) -> String? {
        headers.first(name: name)
    }

    /// Closes the connection.
    package func close() {
        channel.close(promise: nil)
    }

    /// Sends `GET path` to `host:port` with `headers` and returns once the response's head has
    /// arrived.
    package static func open(
        host: String = "127.0.0.1", port: Int, path: String, headers: [(String, String)],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> EventStreamConnection {
        let channel = try await ClientBootstrap(group: group).connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let state = NIOLockedValueBox(State())
        let head = NIOLockedValueBox<CheckedContinuation<HTTPResponseHead, any Error>?>(nil)
        let rawChannel = channel.channel
        return try await withTaskCancellationHandler {
            let response = try await withCheckedThrowingContinuation { (waiting: CheckedContinuation<HTTPResponseHead, any Error>) in
                head.withLockedValue { $0 = waiting }
                Task {
                    var failure: any Error = ChannelError.eof
                    do {
                        try await channel.executeThenClose { inbound, outbound in
                            var requestHeaders = HTTPHeaders(headers)
                            requestHeaders.replaceOrAdd(name: "Host", value: "\(host):\(port)")
                            requestHeaders.replaceOrAdd(name: "Accept", value: "text/event-stream")
                            try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: requestHeaders)))
                            try await outbound.write(.end(nil))
                            var parser = ServerSentEventParser()
                            var streaming = false
                            for try await part in inbound {
                                switch part {
                                case .head(let responseHead):
                                    streaming = responseHead.status == .ok
                                    head.withLockedValue { $0.take() }?.resume(returning: responseHead)
                                case .body(let buffer):
                                    // An error's body is not a stream.
                                    guard streaming else { continue }
                                    for event in parser.feed(buffer.readableBytesView) { continuation.yield(Event(type: event.type, data: event.data)) }
                                    let comments = parser.comments
                                    state.withLockedValue { $0.comments = comments }
                                case .end:
                                    return
                                }
                            }
                        }
                    } catch {
                        failure = error
                    }
                    state.withLockedValue { $0.ended = true }
                    continuation.finish()
                    head.withLockedValue { $0.take() }?.resume(throwing: failure)
                }
            }
            return EventStreamConnection(
                status: Int(response.status.code), headers: response.headers, events: events, state: state, channel: rawChannel)
        } onCancel: {
            rawChannel.close(promise: nil)
        }
    }
}

extension EventStreamConnection {
    /// The next event, or nil when the stream ended first.
    package func nextEvent() async -> Event? {
        var iterator = events.makeAsyncIterator()
        return await iterator.next()
    }

    /// The next event, or nil when the stream ended first or `timeout` passed (after which the
    /// stream is finished: a test that gets nil has failed).
    package func nextEvent(within timeout: Duration) async -> Event? {
        await withTaskGroup(of: Event?.self) { group in
            group.addTask { await self.nextEvent() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
