import CloudSyncCore
import Foundation
import CloudSyncNetwork
import GRDB

/// Syncs a GRDB database with a `cloudsync-server`: sends local changes, receives and merges
/// everyone else's.
///
/// ```swift
/// let client = try SyncClient(
///     database: dbQueue,
///     endpoint: "https://sync.example.com/todo.sqlite",
///     credential: .apiKey("csk_..."))
/// let result = try await client.sync()
/// print("sent \(result.sent), received \(result.received)")
/// ```
///
/// Network requests go through `URLSession` (Apple's platforms) or AsyncHTTPClient (Linux)
/// unless another ``SyncTransport`` is given; the
/// database is only accessed for short writes (encoding a payload, moving a cursor, merging a
/// downloaded payload), so the app keeps reading and writing while a sync waits on the network. Operations of one client run one at
/// a time, in call order.
///
/// After a merge, GRDB observers (`ValueObservation`, `DatabaseRegionObservation`) of the
/// changed tables are notified as for local writes.
public final class SyncClient: Sendable {
    /// Tuning of a client.
    public struct Options: Sendable {
        /// Local changes per uploaded payload; a larger backlog goes in several.
        public var maxChangesPerUpload = SyncLimits.defaultMaxChangesPerUpload
        /// Bytes of changes (uncompressed) per uploaded payload, so that large values do not
        /// make one payload too big for the server or for memory; a single larger change goes
        /// alone. The extension's `NetworkSession` has the same knob under the same name.
        public var maxBytesPerUpload = SyncLimits.defaultMaxBytesPerUpload
        /// Payloads downloaded per check (the receive half of an operation), a bound on one
        /// call's work: the server pages its backlog, and what is left comes with the next
        /// operation. The extension's `NetworkSession` has the same knob under the same name.
        public var maxDownloadsPerCheck = SyncLimits.defaultMaxDownloadsPerCheck
        /// Time allowed for one whole request, connecting included. The live channel's waiting
        /// checks get this much on top of the time the server may hold them.
        public var requestTimeout: TimeInterval = 60
        /// Sends the client's HTTP requests. nil (the default): the platform's transport
        /// (``URLSessionTransport`` on Apple's platforms, ``HTTPClientTransport`` on Linux)
        /// with `requestTimeout`.
        public var transport: (any SyncTransport)?
        /// Whether the client switches to the server's protocol v2 when the server offers it
        /// (fewer round trips: small uploads travel inside one request); false keeps protocol
        /// v1. The choice is remembered in the database's sync settings.
        public var protocolV2 = true

        public init() {}
    }

    /// The database this client syncs.
    public let database: any DatabaseWriter
    /// The server and database name, parsed from the endpoint.
    public let endpoint: ConnectionString
    let options: Options
    let credential: SyncCredential
    let bearer: Locked<String>
    /// Sends requests concurrently, so that the live channel's check held open at the server
    /// never delays a sync.
    package let transport: any SyncTransport
    /// The live channel's last reported state.
    let channelState = Locked<SyncChannel?>(nil)
    let operations = AsyncLock()
    let broadcaster = EventBroadcaster()
    /// > 0 while this client writes merged changes, so that its own merges do not wake the
    /// background loop as local writes do.
    let merges = MergeTracker()
    let background = Locked<Task<Void, Never>?>(nil)
    /// Commits of others than this client's merges seen by the background loop's observer:
    /// what tests wait on to know a write did (or did not) wake the loop.
    let localWriteSignals = Counter()

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - database: a `DatabaseQueue` or `DatabasePool` whose configuration called
    ///     ``GRDB/Configuration/enableCloudSync()``.
    ///   - endpoint: `http(s)://host[:port]/DATABASE`, as for `cloudsync_network_init`
    ///     (`sqlitecloud://` works too). A `?apikey=` or `?token=` in it is used when
    ///     `credential` is nil.
    ///   - credential: an API key, or a token with a refresh closure.
    public init(database: any DatabaseWriter, endpoint: String, credential: SyncCredential? = nil, options: Options = Options()) throws(SyncError) {
        let parsed: ConnectionString
        do { parsed = try ConnectionString(parsing: endpoint) } catch { throw SyncError(.misuse, error.message) }
        let credential: SyncCredential? = credential ?? parsed.credential.map { given in
            switch given {
            case .apiKey(let key): .apiKey(key)
            case .token(let token): .token(token)
            }
        }
        guard let credential, !credential.initialBearer.isEmpty else {
            throw SyncError(.misuse, "no credential: pass credential: .apiKey(key) or .token(token, refresh:)")
        }
        self.database = database
        self.endpoint = parsed
        self.credential = credential
        self.bearer = Locked(credential.initialBearer)
        self.options = options
        self.transport = options.transport ?? Self.defaultTransport(requestTimeout: options.requestTimeout)
    }

    /// The platform's transport, see ``Options/transport``.
    static func defaultTransport(requestTimeout: TimeInterval) -> any SyncTransport {
        #if os(Linux)
        HTTPClientTransport(requestTimeout: requestTimeout)
        #else
        URLSessionTransport(requestTimeout: requestTimeout)
        #endif
    }

    deinit {
        background.withLock { $0?.cancel() }
        broadcaster.finishAll()
    }

    // MARK: Operations

    /// Sends local changes, then receives the server's.
    @discardableResult
    public func sync() async throws(SyncError) -> SyncResult {
        try await run(.sync, reportFailure: true)
    }

    /// Sends every local change the server has not accepted yet.
    @discardableResult
    public func send() async throws(SyncError) -> SyncResult {
        try await run(.send, reportFailure: true)
    }

    /// Receives and merges every change the server has for this database.
    @discardableResult
    public func receive() async throws(SyncError) -> SyncResult {
        try await run(.receive, reportFailure: true)
    }

    /// Events of every operation, background ones included, from now on: for a UI.
    ///
    /// Each call returns a new stream; it ends when the client goes away or the consuming task
    /// stops iterating. When the consumer falls behind, the oldest events are dropped.
    public func events(bufferingNewest limit: Int = 64) -> AsyncStream<SyncEvent> {
        broadcaster.subscribe(bufferingNewest: limit)
    }

    /// The token or key sent with the next request (after refreshes). Not public: an app
    /// keeps its credential where it keeps secrets; tests of this package check refreshes.
    package var currentBearer: String { bearer.withLock { $0 } }

    /// How many local writes woke the background loop so far (see ``runBackgroundSync(_:)``).
    /// Counted at commit, before the write returns.
    package var localWriteWakeups: Int { localWriteSignals.value }

    func run(_ operation: SyncOperation, reportFailure: Bool) async throws(SyncError) -> SyncResult {
        await operations.lock()
        defer { operations.unlock() }
        broadcaster.emit(.started(operation))
        do {
            let result = try await perform(operation)
            broadcaster.emit(.completed(operation, result))
            return result
        } catch {
            let failure = SyncError.wrapping(error)
            if reportFailure { broadcaster.emit(.failed(failure, retryIn: nil)) }
            throw failure
        }
    }

    // MARK: Protocol (sync-protocol.md)

    /// Carries out the protocol state machine's actions: database work in short GRDB writes,
    /// HTTP through the transport, so the app keeps using the database while a sync waits.
    private func perform(_ operation: SyncOperation) async throws -> SyncResult {
        let start = try await database.write { db in
            let context = try CloudSync.context(db)
            return (site: try context.siteID(), send: try context.sendCursor(), receive: try context.receiveCursor(),
                    version: try context.protocolVersion())
        }
        var machine = SyncStateMachine(
            operation.protocolOperation, endpoint: endpoint, site: start.site,
            bearer: currentBearer, canRefresh: credential.refresh != nil,
            sendCursor: start.send, receiveCursor: start.receive,
            protocolVersion: start.version, upgrades: options.protocolV2,
            maxChangesPerUpload: options.maxChangesPerUpload, maxBytesPerUpload: options.maxBytesPerUpload,
            maxDownloadsPerCheck: options.maxDownloadsPerCheck)
        var result = SyncResult()
        var changed = Set<String>()
        var action = machine.start()
        while true {
            try Task.checkCancellation()
            switch action {
            case .encodeUpload(let cursor, let maxChanges, let maxBytes):
                let page = try await database.write { db in
                    try CloudSync.context(db).uploadPage(after: cursor, maxChanges: maxChanges, maxBytes: maxBytes)
                }
                action = machine.pageEncoded(page)
            case .send(let request):
                action = try await send(request, to: &machine)
            case .refreshCredential:
                action = await refreshCredential(&machine)
            case .storeSendCursor(let cursor):
                try await database.write { db in try CloudSync.context(db).storeSendCursor(cursor) }
                action = machine.sendCursorStored()
            case .rememberProtocol(let version):
                try await database.write { db in try CloudSync.context(db).storeProtocolVersion(version) }
                action = machine.protocolRemembered()
            case .sendFinished(let summary):
                result.sent = summary.sent
                result.refusedRows = summary.refusedRows
                broadcaster.emit(.sent(changes: summary.sent))
                if !summary.refusedRows.isEmpty { broadcaster.emit(.refused(rows: summary.refusedRows)) }
                action = machine.sendReported()
            case .apply(let payload):
                let merged = try await merges.tracking {
                    try await database.write { db in try Self.merge(payload, into: db) }
                }
                result.deniedRows += merged.deniedRows
                changed.formUnion(merged.changedTables)
                action = machine.applied(cursor: merged.cursor, changes: merged.received)
            case .wait(let milliseconds):
                try await Task.sleep(nanoseconds: UInt64(max(0, milliseconds)) * 1_000_000)
                action = machine.waited()
            case .finish(let summary):
                if operation != .send {
                    result.received = summary.received
                    result.changedTables = changed.sorted()
                    broadcaster.emit(.received(changes: result.received, changedTables: result.changedTables, deniedRows: result.deniedRows))
                }
                return result
            case .fail(let error):
                throw error
            }
        }
    }

    /// Sends a request of the state machine and hands it the answer. Cancellation ends the
    /// operation; any other failure of the transport is a `.network` failure of the request.
    private func send(_ request: HTTPRequest, to machine: inout SyncStateMachine) async throws -> SyncStateMachine.Action {
        do {
            return machine.received(try await transport.send(request))
        } catch let error as CloudSyncError {
            return machine.transportFailed(error)
        } catch let error as CancellationError {
            throw error
        } catch {
            return machine.transportFailed(CloudSyncError(.network, "\(request.method) \(request.url) failed: \(error)"))
        }
    }

    /// Asks the app for a fresh token and hands it to the state machine.
    private func refreshCredential(_ machine: inout SyncStateMachine) async -> SyncStateMachine.Action {
        guard let refresh = credential.refresh else { return machine.credentialRefreshFailed("no refresh closure") }
        do {
            let action = machine.credentialRefreshed(try await refresh())
            if let fresh = machine.currentBearer { bearer.withLock { $0 = fresh } }
            return action
        } catch {
            return machine.credentialRefreshFailed(SyncError.wrapping(error).message)
        }
    }

    /// One check of the live channel, outside the operations lock and beside any sync in
    /// flight: held at the server up to `wait` (its timeout is `requestTimeout` on top of that),
    /// it only tells whether changes are waiting and whether the server holds checks at all. It
    /// downloads and stores nothing.
    func watchForChanges(wait: TimeInterval) async throws -> SyncStateMachine.Summary {
        let start = try await database.read { db in
            let context = try CloudSync.context(db)
            return (site: try context.siteID(), receive: try context.receiveCursor())
        }
        let milliseconds = Int(max(0, wait) * 1000)
        var machine = SyncStateMachine(
            .watch(waitMilliseconds: milliseconds), endpoint: endpoint, site: start.site,
            bearer: currentBearer, canRefresh: credential.refresh != nil, sendCursor: .start, receiveCursor: start.receive)
        var action = machine.start()
        while true {
            try Task.checkCancellation()
            switch action {
            case .send(var request):
                request.timeout = options.requestTimeout + wait
                action = try await send(request, to: &machine)
            case .refreshCredential: action = await refreshCredential(&machine)
            case .finish(let summary): return summary
            case .fail(let error): throw error
            case .encodeUpload, .storeSendCursor, .sendFinished, .apply, .wait, .rememberProtocol:
                throw SyncError(.misuse, "the live channel's check asked for \(action)")
            }
        }
    }

    /// Reports the live channel's state when it changes.
    func setChannel(_ state: SyncChannel?) {
        let changed = channelState.withLock { current -> Bool in
            defer { current = state }
            return current != state
        }
        if changed, let state { broadcaster.emit(.channel(state)) }
    }

    struct Merged: Sendable {
        var received = 0
        var cursor = SyncCursor.start
        var deniedRows: [String] = []
        var changedTables: [String] = []
    }

    /// Merges `payload`, moves the receive cursor and notifies GRDB observers of the tables
    /// whose rows changed. Runs inside a write transaction.
    static func merge(_ payload: [UInt8], into db: Database) throws -> Merged {
        let context = try CloudSync.context(db)
        let before = try context.databaseVersion()
        let report = try context.applyDownload(payload)
        // Merged changes are stamped above every version present before the merge: a table
        // has changed rows if its clock has a version above `before`. The engine wrote them
        // with its own statements, which GRDB does not observe: tell it.
        var changed: [String] = []
        for table in try context.synchronizedTableNames {
            let clock = (table + "_cloudsync").quotedDatabaseIdentifier
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(clock) WHERE db_version > ?)", arguments: [before]) == true {
                changed.append(table)
                try db.notifyChanges(in: Table(table))
            }
        }
        return Merged(received: report.changes, cursor: SyncCursor(dbVersion: report.lastDbVersion, seq: report.lastSeq),
                      deniedRows: report.failedRows, changedTables: changed)
    }
}

extension SyncOperation {
    var protocolOperation: SyncStateMachine.Operation {
        switch self {
        case .sync: .sync()
        case .send: .send
        case .receive: .check()
        }
    }
}
