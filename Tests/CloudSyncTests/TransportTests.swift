import CloudSync
import CloudSyncTestSupport
import Foundation
import GRDB
import Testing

/// The Swift API's HTTP transports on their own: the platform's default (URLSession on Apple's
/// platforms, AsyncHTTPClient on Linux) and libcurl through `BlockingHTTPTransport`, against a
/// listener that never answers and a real server.
///
/// Upper bounds on elapsed time are loose (30 s): the whole test run shares two cores, and a
/// transport that did not enforce its deadline would hang until the suite's time limit anyway.
@Suite("HTTP transports of the Swift API", .timeLimit(.minutes(1)))
struct TransportTests {
    @Test func aClientSendsOverThePlatformsTransportUnlessToldOtherwise() throws {
        let queue = try DatabaseQueue(configuration: syncConfiguration())
        let client = try SyncClient(database: queue, endpoint: "http://127.0.0.1:1/todo.sqlite", credential: .apiKey("k"))
        #if os(Linux)
        #expect(client.transport is HTTPClientTransport)
        #else
        #expect(client.transport is URLSessionTransport)
        #endif
        var options = SyncClient.Options()
        options.transport = Transport.libcurl.make(requestTimeout: 5)
        let custom = try SyncClient(database: queue, endpoint: "http://127.0.0.1:1/todo.sqlite", credential: .apiKey("k"), options: options)
        #expect(custom.transport is BlockingHTTPTransport)
    }

    @Test(arguments: Transport.allCases)
    func aServerThatNeverAnswersIsANetworkFailureAfterTheRequestTimeout(transport: Transport) async throws {
        let listener = try SilentListener()
        let sender = transport.make(requestTimeout: 0.3)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect {
            _ = try await sender.send(HTTPRequest(method: "GET", url: listener.url))
        } throws: { error in
            let error = error as? SyncError
            return error?.code == .network && error?.httpStatus == nil && error?.isTransient == true
        }
        // libcurl starts its own timer a little after ours and rounds: allow a small margin,
        // which still tells a timeout from an immediate failure.
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(250))
        #expect(elapsed < .seconds(30))
    }

    /// The deadline covers the whole exchange: an answer whose head came but whose body stalls
    /// fails like one that never came.
    @Test(arguments: Transport.allCases)
    func anAnswerWhoseBodyStallsIsANetworkFailureAfterTheRequestTimeout(transport: Transport) async throws {
        let listener = try SilentListener()
        let sender = transport.make(requestTimeout: 1)
        let clock = ContinuousClock()
        let start = clock.now
        let request = Task { try await sender.send(HTTPRequest(method: "GET", url: listener.url)) }
        let connection = try #require(await listener.nextConnection())
        listener.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nthe first bytes", on: connection)
        await #expect {
            _ = try await request.value
        } throws: { error in
            (error as? SyncError)?.code == .network
        }
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(900))
        #expect(elapsed < .seconds(30))
    }

    /// The live channel's checks are held at the server longer than other requests may take:
    /// a request's own timeout replaces the transport's.
    @Test(arguments: Transport.allCases)
    func aRequestsOwnTimeoutReplacesTheTransports(transport: Transport) async throws {
        let listener = try SilentListener()
        let sender = transport.make(requestTimeout: 0.1)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: SyncError.self) {
            _ = try await sender.send(HTTPRequest(method: "GET", url: listener.url, timeout: 1.5))
        }
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(1500))
        #expect(elapsed < .seconds(30))
    }

    @Test(arguments: Transport.allCases)
    func cancellingTheCallingTaskEndsTheRequestAtOnce(transport: Transport) async throws {
        let listener = try SilentListener()
        let sender = transport.make(requestTimeout: 60)
        let request = Task { try await sender.send(HTTPRequest(method: "POST", url: listener.url, body: Array("payload".utf8))) }
        let connection = try #require(await listener.nextConnection())
        let clock = ContinuousClock()
        let cancelled = clock.now
        request.cancel()
        await #expect(throws: CancellationError.self) { _ = try await request.value }
        #expect(clock.now - cancelled < .seconds(30))
        // The platform's transport cancels the request itself, which closes its connection; a
        // blocking transport cannot be interrupted and lets its request run to its own timeout.
        if transport == .platform {
            #expect(await listener.clientCloses(connection))
        }
    }

    /// The live channel's check, held at the server, must not hold up a sync: a transport
    /// sends concurrent requests at once, on connections of their own.
    @Test(arguments: Transport.allCases)
    func concurrentRequestsTravelAtOnce(transport: Transport) async throws {
        let listener = try SilentListener()
        let sender = transport.make(requestTimeout: 60)
        let first = Task { try await sender.send(HTTPRequest(method: "GET", url: listener.url)) }
        let second = Task { try await sender.send(HTTPRequest(method: "GET", url: listener.url)) }
        defer {
            first.cancel()
            second.cancel()
        }
        // Neither request is answered: a transport that sent one after the other would never
        // open the second connection.
        #expect(await listener.nextConnection() != nil)
        #expect(await listener.nextConnection() != nil)
    }

    @Test(.enabled(if: ServerProcess.isAvailable, "cloudsync-server is not built"), arguments: Transport.allCases)
    func anyStatusIsAnAnswerWithItsHeaders(transport: Transport) async throws {
        let (server, endpoint, _) = try startTodoServer()
        defer { server.stop() }
        let sender = transport.make(requestTimeout: 10)
        let unauthorized = try await sender.send(HTTPRequest(method: "GET", url: endpoint + "/v1/nothing-here", headers: [("Authorization", "Bearer nobody")]))
        #expect(unauthorized.status >= 400)
        let metrics = try await sender.send(HTTPRequest(method: "GET", url: server.url + "/metrics"))
        #expect(metrics.status == 200)
        #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
        #expect(metrics.header("CONTENT-LENGTH") == String(metrics.body.count))
    }
}
