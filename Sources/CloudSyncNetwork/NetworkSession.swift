#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CloudSyncCore

/// A connection's link to a sync server for the extension's network functions: where, with
/// which credential, over which transport. It carries out ``SyncStateMachine``'s actions
/// synchronously (SQL functions are), on the connection it belongs to.
///
/// Not `Sendable`: belongs to one connection.
package final class NetworkSession {
    package var endpoint: ConnectionString
    package var credential: ConnectionString.Credential?
    package var transport: any HTTPTransport
    /// Changes per uploaded payload; a larger backlog goes in several.
    package var maxChangesPerUpload = SyncLimits.defaultMaxChangesPerUpload
    /// Bytes of changes per uploaded payload (a single larger change goes alone).
    package var maxBytesPerUpload = SyncLimits.defaultMaxBytesPerUpload
    /// Downloads per check, a bound on one call's work (the server pages its backlog).
    package var maxDownloadsPerCheck = SyncLimits.defaultMaxDownloadsPerCheck
    /// Whether the session switches to protocol v2 when the server offers it; false keeps v1.
    package var allowsProtocolV2 = true

    unowned let context: SyncContext

    package init(context: SyncContext, endpoint: ConnectionString, transport: any HTTPTransport) {
        self.context = context
        self.endpoint = endpoint
        self.credential = endpoint.credential
        self.transport = transport
    }

    /// Sends every local change after the send cursor, in payloads of bounded size. Returns
    /// the changes sent.
    ///
    /// Throws a `.denied` error after sending everything if the server's Row-Level Security
    /// refused rows: they were not applied there, the cursor still moved past them, and the
    /// server sends its version of those rows back on the next check.
    @discardableResult
    package func sendChanges() throws(CloudSyncError) -> Int {
        let summary = try run(.send)
        if let refused = summary.refusedError { throw refused }
        return summary.sent
    }

    /// Asks for changes after the receive cursor and applies them, page by page until the
    /// server has nothing more. Returns the number of changes received.
    @discardableResult
    package func checkChanges() throws(CloudSyncError) -> Int {
        try run(.check()).received
    }

    /// 1.x's `cloudsync_network_receive_changes`: downloads and applies every page the server
    /// has for this device, or at most `maxPages`. Returns the summary (changes and tables).
    package func receiveChanges(maxPages: Int?) throws(CloudSyncError) -> SyncStateMachine.Summary {
        try run(.check(), maxDownloads: maxPages ?? Int.max)
    }

    /// Sends, then checks up to `maxRetries` times `waitMilliseconds` apart until something
    /// arrives. Returns the number of changes received.
    ///
    /// Rows refused by the server's Row-Level Security are reported as a `.denied` error at the
    /// end, after the check that brings back the server's version of them.
    package func sync(waitMilliseconds: Int = 0, maxRetries: Int = 1) throws(CloudSyncError) -> Int {
        let summary = try run(.sync(rounds: max(1, maxRetries), waitMilliseconds: waitMilliseconds))
        if let refused = summary.refusedError { throw refused }
        return summary.received
    }

    /// Runs one operation: carries out the state machine's actions until it finishes.
    func run(_ operation: SyncStateMachine.Operation, maxDownloads: Int? = nil) throws(CloudSyncError) -> SyncStateMachine.Summary {
        var machine = SyncStateMachine(
            operation, endpoint: endpoint, site: try context.siteID(),
            bearer: credential?.bearer,
            missingCredential: "no credential: call cloudsync_network_set_apikey(key) or cloudsync_network_set_token(token) first",
            sendCursor: try context.sendCursor(), receiveCursor: try context.receiveCursor(),
            protocolVersion: try context.protocolVersion(), upgrades: allowsProtocolV2,
            maxChangesPerUpload: maxChangesPerUpload, maxBytesPerUpload: maxBytesPerUpload,
            maxDownloadsPerCheck: maxDownloads ?? maxDownloadsPerCheck)
        var action = machine.start()
        while true {
            switch action {
            case .encodeUpload(let cursor, let maxChanges, let maxBytes):
                action = machine.pageEncoded(try context.uploadPage(after: cursor, maxChanges: maxChanges, maxBytes: maxBytes))
            case .send(let request):
                do throws(CloudSyncError) {
                    action = machine.received(try transport.send(request))
                } catch {
                    action = machine.transportFailed(error)
                }
            case .refreshCredential:
                // Not asked for: the session is created without a refresh (canRefresh: false).
                action = machine.credentialRefreshFailed("the extension cannot refresh tokens")
            case .storeSendCursor(let cursor):
                try context.storeSendCursor(cursor)
                action = machine.sendCursorStored()
            case .rememberProtocol(let version):
                try context.storeProtocolVersion(version)
                action = machine.protocolRemembered()
            case .sendFinished:
                action = machine.sendReported()
            case .apply(let payload):
                let report = try context.applyDownload(payload)
                action = machine.applied(cursor: SyncCursor(dbVersion: report.lastDbVersion, seq: report.lastSeq), changes: report.changes, tables: report.tables)
            case .wait(let milliseconds):
                Self.sleep(milliseconds: milliseconds)
                action = machine.waited()
            case .finish(let summary):
                return summary
            case .fail(let error):
                throw error
            }
        }
    }

    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 { request = remaining }
    }
}
