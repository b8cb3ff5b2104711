@testable import CloudSync
import Foundation
import Testing

/// The change subscription's stream on the platform's HTTP stack, against a listener that
/// answers by hand: events, refusals and a connection gone silent.
@Suite("Change subscription stream", .timeLimit(.minutes(1)))
struct ChangeStreamTests {
    static let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

    static func chunk(_ text: String) -> String {
        String(text.utf8.count, radix: 16) + "\r\n" + text + "\r\n"
    }

    @Test func aChangesEventIsReportedAfterTheOpening() async throws {
        let listener = try SilentListener()
        let url = try #require(URL(string: listener.url))
        let reader = Task {
            var updates: [ChangeStream.Update] = []
            for try await update in ChangeStream.open(url: url, bearer: "token", idleTimeout: 30) {
                updates.append(update)
                if update == .changes { break }
            }
            return updates
        }
        let connection = try #require(await listener.nextConnection())
        listener.send(Self.head + Self.chunk(": heartbeat\n\n") + Self.chunk("event: changes\ndata: 7\n\n"), on: connection)
        #expect(try await reader.value == [.opened, .changes])
        // Ending the iteration closes the connection.
        #expect(await listener.clientCloses(connection))
    }

    @Test func anAnswerOtherThan200IsARefusalWithItsStatus() async throws {
        let listener = try SilentListener()
        let stream = ChangeStream.open(url: URL(string: listener.url)!, bearer: "token", idleTimeout: 30)
        let reader = Task { for try await _ in stream {} }
        let connection = try #require(await listener.nextConnection())
        listener.send("HTTP/1.1 401 Unauthorized\r\nContent-Length: 7\r\n\r\nrevoked", on: connection)
        await #expect {
            try await reader.value
        } throws: { error in
            (error as? ChangeStream.Refused)?.status == 401
        }
    }

    /// No byte, not even a heartbeat, for longer than the idle timeout (plus a second of
    /// grace): the connection is deemed dead and the stream fails, for the client to reopen it.
    @Test func aSilentSubscriptionFailsAfterItsIdleTimeout() async throws {
        let listener = try SilentListener()
        let stream = ChangeStream.open(url: URL(string: listener.url)!, bearer: "token", idleTimeout: 0.5)
        let clock = ContinuousClock()
        let reader = Task {
            var updates: [ChangeStream.Update] = []
            for try await update in stream { updates.append(update) }
            return updates
        }
        let connection = try #require(await listener.nextConnection())
        listener.send(Self.head, on: connection)
        let opened = clock.now
        await #expect(throws: (any Error).self) { _ = try await reader.value }
        let elapsed = clock.now - opened
        #expect(elapsed >= .milliseconds(1300))
        #expect(elapsed < .seconds(30))
    }
}
