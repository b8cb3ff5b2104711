import CloudSyncCore
import CloudSyncCurl
import CloudSyncTestSupport
import Foundation
import Testing
@testable import CloudSyncNetwork

/// `cloudsync_network_sync(wait_ms, max_retries)` against a server that holds empty checks: a
/// device waiting in it gets another device's change as soon as that device syncs.
@Suite("Waiting check through the server", .serialized, .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"))
struct WaitingCheckEndToEndTests {
    static let schema = EndToEndSyncTests.schema
    static let database = EndToEndSyncTests.database

    /// The server's `cloudsync_waiting_checks` gauge.
    static func waitingChecks(_ server: ServerProcess) throws -> Int? {
        let metrics = try CurlTransport().send(HTTPRequest(method: "GET", url: server.url + "/metrics")).text
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("cloudsync_waiting_checks ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) }
    }

    @Test func aWaitingSyncReturnsRightAfterAnotherDevicesSync() async throws {
        let server = try ServerProcess()
        let key = try server.createDatabase(Self.database, schema: Self.schema)
        try server.start()
        defer { _ = server.stop() }
        let url = server.url

        // Device B waits up to 30 s in one check (blocking, as a SQL call does).
        let waiting = Task.detached { () throws -> (received: Int64, rows: [[SQLValue]], returned: ContinuousClock.Instant) in
            let b = try Device(schema: Self.schema, server: url, database: Self.database, apiKey: key)
            let received = try b.connection.scalar("SELECT cloudsync_network_sync(30000, 1)")?.integerValue ?? -1
            return (received, try b.rows(), ContinuousClock.now)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while try Self.waitingChecks(server) != 1 {
            guard ContinuousClock.now < deadline else {
                Issue.record("device B's check never waited at the server")
                waiting.cancel()
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }

        let a = try Device(schema: Self.schema, server: url, database: Self.database, apiKey: key)
        try a.execute("INSERT INTO todo(id, title) VALUES ('1', 'written on A')")
        try a.sync()
        let synced = ContinuousClock.now
        let b = try await waiting.value
        #expect(b.received > 0)
        #expect(b.rows == [[.string("1"), .string("written on A"), .integer(0)]])
        // Without the waiting check B's single check would have returned empty long before;
        // with it, B answers as A's change lands, well within its 30 s. Loose because the
        // suite runs in parallel on two cores; a benchmark carries the real figure.
        #expect(b.returned - synced < .seconds(10))
    }
}
