import CloudSyncCore

/// The client side of the sync protocol (sync-protocol.md) as a state machine that does no I/O.
///
/// Both clients, the extension's network functions (`NetworkSession`: synchronous, libcurl,
/// SQL on its own connection) and the Swift API's `SyncClient` (async, GRDB), drive one of
/// these per operation: they carry out the ``Action`` it returns and hand it the outcome,
/// which yields the next action, until ``Action/finish(_:)`` or ``Action/fail(_:)``. What to
/// ask the server, how to read its answers, when a cursor may move and what an error is
/// called are decided here only, so the two clients cannot drift apart, and every answer
/// shape can be tested without a server.
///
/// Protocol: v1 (sync-protocol.md) until a v1 answer names ``ProtocolDiscovery/capability``,
/// then v2 (sync-protocol-v2.md): inline `/apply` for small pages, upload URL + `/apply` for
/// large ones, JSON `/check`. The switch is reported as ``Action/rememberProtocol(_:)`` so that
/// later operations start in v2; a v2 request answered 404 or 405 (the server dropped v2)
/// falls back to v1 for the rest of the operation and is remembered too. Waiting checks and
/// ``Operation/watch(waitMilliseconds:)`` use v1 requests, since v2 has no waiting check.
///
/// Cursor rules: the send cursor moves (``Action/storeSendCursor(_:)``) only after the server
/// confirmed an upload; the receive cursor moves with the merge of a download, in the same
/// transaction (``Action/apply(_:)``). An operation abandoned at any step (a failure, a crash)
/// therefore resends or re-downloads exactly what was not acknowledged.
package struct SyncStateMachine: Sendable {
    /// Which halves of the protocol an operation runs.
    package enum Operation: Sendable, Equatable {
        /// Send every local change the server has not accepted.
        case send
        /// Check for changes: up to `rounds` rounds, `waitMilliseconds` apart, stopping after
        /// the first round that receives something. A round downloads until the server has
        /// nothing more (at most `maxDownloadsPerCheck` payloads). A server that supports the
        /// waiting check holds a round's empty answer up to `waitMilliseconds` instead, and
        /// answers as soon as a change arrives.
        case check(rounds: Int = 1, waitMilliseconds: Int = 0)
        /// `send`, then `check`.
        case sync(rounds: Int = 1, waitMilliseconds: Int = 0)
        /// One check that downloads nothing: it only tells whether changes are waiting
        /// (``Summary/changesWaiting``), after the server held it up to `waitMilliseconds` if
        /// it supports waiting (``Summary/serverWaits``). The Swift API's live channel.
        case watch(waitMilliseconds: Int)
    }

    /// Which protocol the operation speaks.
    package enum ProtocolVersion: Int, Sendable, Equatable {
        case v1 = 1
        case v2 = 2
    }

    /// A payload of local changes, encoded by the client on ``Action/encodeUpload(after:maxChanges:maxBytes:)``.
    package struct UploadPage: Sendable, Equatable {
        package var payload: [UInt8]
        /// The position of the last change in the payload: the send cursor once it is accepted.
        package var last: SyncCursor
        package var count: Int

        package init(payload: [UInt8], last: SyncCursor, count: Int) {
            self.payload = payload
            self.last = last
            self.count = count
        }
    }

    /// What an operation did.
    package struct Summary: Sendable, Equatable {
        /// Local changes the server accepted.
        package var sent = 0
        /// Changes downloaded and merged.
        package var received = 0
        /// The tables the merged changes belong to, in order of first appearance.
        package var receivedTables: [String] = []
        /// Rows the server's Row-Level Security refused, per table (the `Cloudsync-Denied`
        /// header of upload confirmations). They are not applied on the server; the send
        /// cursor moved past them and the server's version of those rows comes back by check.
        package var refusedRows: [String: Int] = [:]
        /// `watch`: the server has changes for this device after its cursor.
        package var changesWaiting = false
        /// The server holds empty checks (it answered with the waiting-check capability).
        package var serverWaits = false

        package init(sent: Int = 0, received: Int = 0, refusedRows: [String: Int] = [:]) {
            self.sent = sent
            self.received = received
            self.refusedRows = refusedRows
        }
    }

    /// What the client must do next.
    package enum Action: Sendable {
        /// Encode the local changes after `cursor` (at most `maxChanges`, and no more once the
        /// body holds `maxBytes`), then call ``pageEncoded(_:)`` with the page, or nil when
        /// there is nothing to send.
        case encodeUpload(after: SyncCursor, maxChanges: Int, maxBytes: Int)
        /// Send the request, then call ``received(_:)`` with the answer, whatever its status,
        /// or ``transportFailed(_:)`` when no answer came.
        case send(HTTPRequest)
        /// The server refused the token: ask the app for a fresh one, then call
        /// ``credentialRefreshed(_:)`` or ``credentialRefreshFailed(_:)``.
        case refreshCredential
        /// The server accepted an upload: store `cursor` as the send cursor, then call
        /// ``sendCursorStored()``.
        case storeSendCursor(SyncCursor)
        /// The send half is over (this is reported before checking); call ``sendReported()``.
        case sendFinished(Summary)
        /// Remember `version` as the protocol later operations start with (the device's
        /// settings), then call ``protocolRemembered()``.
        case rememberProtocol(ProtocolVersion)
        /// Merge the downloaded payload and store the position of its last change as the
        /// receive cursor in the same transaction, then call ``applied(cursor:changes:)``.
        case apply([UInt8])
        /// Wait before the next check round, then call ``waited()``.
        case wait(milliseconds: Int)
        /// The operation is over.
        case finish(Summary)
        /// The operation failed; nothing unacknowledged was stored.
        case fail(CloudSyncError)
    }

    private enum State: Sendable {
        case ready
        case encoding
        case askingUploadURL(UploadPage)
        case uploading(UploadPage, url: String)
        case confirming(UploadPage, url: String)
        case askingUploadURLV2(UploadPage)
        case uploadingV2(UploadPage, url: String)
        case applyingV2(UploadPage, window: ClosedRange<Int64>)
        case storingSendCursor(UploadPage)
        case reportingSent
        case checking
        case checkingV2
        case downloading
        case applying
        case waiting
        case done

        /// For messages: the step, without the payload it may hold.
        var name: String {
            switch self {
            case .ready: "not started"
            case .encoding: "encoding an upload"
            case .askingUploadURL: "asking for an upload URL"
            case .uploading: "uploading changes"
            case .confirming: "confirming the upload"
            case .askingUploadURLV2: "asking for an upload URL (v2)"
            case .uploadingV2: "uploading changes (v2)"
            case .applyingV2: "applying the upload (v2)"
            case .storingSendCursor: "storing the send cursor"
            case .reportingSent: "reporting the send"
            case .checking: "checking for changes"
            case .checkingV2: "checking for changes (v2)"
            case .downloading: "downloading changes"
            case .applying: "applying a download"
            case .waiting: "waiting between checks"
            case .done: "finished"
            }
        }
    }

    package let operation: Operation
    private let baseURL: String
    private let v2BaseURL: String
    /// The protocol of the next request.
    package private(set) var protocolVersion: ProtocolVersion
    /// Whether a v1 answer offering v2 switches to it.
    private let upgrades: Bool
    /// A v2 request found no v2 here: stay on v1 for the rest of the operation.
    private var downgraded = false
    /// The action that follows ``Action/rememberProtocol(_:)``.
    private var afterRemembering: Action?
    /// The chunks of a v2 check answer still to apply, in order.
    private var pendingChunks: [Chunk] = []
    private var bearer: String?
    private let missingCredential: String
    private let canRefresh: Bool
    private let maxChangesPerUpload: Int
    private let maxBytesPerUpload: Int
    private let maxDownloadsPerCheck: Int

    private var state = State.ready
    private var sendCursor: SyncCursor
    private var receiveCursor: SyncCursor
    private var summary = Summary()
    /// The authorized request in flight, kept to repeat it after a token refresh.
    private var pending: HTTPRequest?
    /// Whether the token was refreshed for the request in flight (once per request).
    private var refreshedPending = false
    private var refreshing = false
    private var round = 0
    private var downloadsThisRound = 0
    private var receivedThisRound = 0
    /// Whether the server holds empty checks itself (`WaitingCheck`): then the client does not
    /// wait between rounds, the server did.
    private var serverWaits = false

    /// - Parameters:
    ///   - endpoint, site: where the device syncs, and its site id (the `BASE` URL).
    ///   - bearer: the credential, or nil: the first request then fails as `.misuse` with
    ///     `missingCredential` as its message.
    ///   - canRefresh: whether an HTTP 401 may be answered by ``Action/refreshCredential``.
    ///   - sendCursor, receiveCursor: the device's stored cursors.
    ///   - protocolVersion: the protocol remembered from earlier operations.
    ///   - upgrades: whether a server's offer of v2 is taken (false keeps v1).
    package init(
        _ operation: Operation, endpoint: ConnectionString, site: [UInt8],
        bearer: String?, missingCredential: String = "no credential", canRefresh: Bool = false,
        sendCursor: SyncCursor, receiveCursor: SyncCursor,
        protocolVersion: ProtocolVersion = .v1, upgrades: Bool = true,
        maxChangesPerUpload: Int = SyncLimits.defaultMaxChangesPerUpload,
        maxBytesPerUpload: Int = SyncLimits.defaultMaxBytesPerUpload,
        maxDownloadsPerCheck: Int = SyncLimits.defaultMaxDownloadsPerCheck
    ) {
        self.operation = operation
        self.baseURL = endpoint.baseURL(site: site)
        self.v2BaseURL = endpoint.v2BaseURL(site: site)
        let watch = if case .watch = operation { true } else { false }
        self.protocolVersion = upgrades && !watch ? protocolVersion : .v1
        self.upgrades = upgrades && !watch
        self.bearer = bearer
        self.missingCredential = missingCredential
        self.canRefresh = canRefresh
        self.sendCursor = sendCursor
        self.receiveCursor = receiveCursor
        self.maxChangesPerUpload = max(1, maxChangesPerUpload)
        self.maxBytesPerUpload = max(1, maxBytesPerUpload)
        self.maxDownloadsPerCheck = max(0, maxDownloadsPerCheck)
    }

    // MARK: Inputs

    /// The first action.
    package mutating func start() -> Action {
        guard case .ready = state else { return misuse("start") }
        switch operation {
        case .send, .sync: return encodeNext()
        case .check, .watch: return startRound()
        }
    }

    package mutating func pageEncoded(_ page: UploadPage?) -> Action {
        if afterRemembering != nil { return misuse("pageEncoded") }
        guard case .encoding = state else { return misuse("pageEncoded") }
        guard let page, page.count > 0 else {
            state = .reportingSent
            return .sendFinished(summary)
        }
        return upload(page)
    }

    /// The first request for `page`: v1's upload URL; in v2 the page itself when it is small
    /// (one request instead of three), else v2's upload URL.
    private mutating func upload(_ page: UploadPage) -> Action {
        guard protocolVersion == .v2 else {
            state = .askingUploadURL(page)
            return authorized("GET", uploadURL)
        }
        guard page.payload.count <= SyncLimits.v2InlineApplyMaximum else {
            state = .askingUploadURLV2(page)
            return authorized("GET", v2BaseURL + "/upload", accept: false)
        }
        return applyV2(page, source: #""blob":"# + JSONText.string(Base64.encode(page.payload)))
    }

    /// `POST apply` with the page's window. Every page ends on a whole db_version
    /// (`SyncContext.uploadPage`) and every change before it was confirmed, so the window
    /// starts at 1: versions 1…`last.dbVersion` are covered once this page is, whatever
    /// protocol sent the earlier ones.
    private mutating func applyV2(_ page: UploadPage, source: String) -> Action {
        let window = 1...max(1, page.last.dbVersion)
        state = .applyingV2(page, window: window)
        let body = "{\(source), \"dbVersionMin\":\(window.lowerBound), \"dbVersionMax\":\(window.upperBound)}"
        return authorized("POST", v2BaseURL + "/apply", body: Array(body.utf8), contentType: "application/json", accept: false)
    }

    package mutating func received(_ response: HTTPResponse) -> Action {
        if afterRemembering != nil { return misuse("received") }
        refreshing = false
        if response.status == 401, canRefresh, !refreshedPending, pending != nil {
            refreshedPending = true
            refreshing = true
            return .refreshCredential
        }
        let offersV2 = protocolVersion == .v1 && upgrades && !downgraded && response.status < 400
            && ProtocolDiscovery.isOffered(response.header(WaitingCheck.capabilityHeader))
        let action = handle(response)
        if case .fail = action { return action }
        guard offersV2 else { return action }
        protocolVersion = .v2
        return remember(.v2, then: action)
    }

    /// The protocol was remembered (``Action/rememberProtocol(_:)``). Until then every other
    /// input is out of turn.
    package mutating func protocolRemembered() -> Action {
        guard let next = afterRemembering else { return misuse("protocolRemembered") }
        afterRemembering = nil
        return next
    }

    private mutating func remember(_ version: ProtocolVersion, then next: Action) -> Action {
        afterRemembering = next
        return .rememberProtocol(version)
    }

    /// A v2 request answered 404 or 405: the server does not serve v2 (any more). Redo the
    /// step in v1 and remember v1.
    private mutating func downgrade(_ response: HTTPResponse) -> Action? {
        guard response.status == 404 || response.status == 405 else { return nil }
        protocolVersion = .v1
        downgraded = true
        pending = nil
        let next: Action
        switch state {
        case .askingUploadURLV2(let page), .applyingV2(let page, _):
            next = upload(page)
        case .checkingV2:
            next = check()
        default:
            return nil
        }
        return remember(.v1, then: next)
    }

    private mutating func handle(_ response: HTTPResponse) -> Action {
        switch state {
        case .askingUploadURL(let page):
            let answer: String
            do throws(CloudSyncError) { answer = try Self.url(in: Self.validated(response, while: "asking for an upload URL"), otherwise: "the server gave no upload URL") } catch { return fail(error) }
            state = .uploading(page, url: answer)
            pending = nil
            return .send(HTTPRequest(method: "PUT", url: answer, headers: [("Content-Type", "application/octet-stream")], body: page.payload))
        case .uploading(let page, let url):
            do throws(CloudSyncError) { _ = try Self.validated(response, while: "uploading changes") } catch { return fail(error) }
            state = .confirming(page, url: url)
            return authorized("POST", uploadURL, body: UploadNotice.body(url: url), contentType: "application/json")
        case .confirming(let page, _):
            do throws(CloudSyncError) { _ = try Self.validated(response, while: "confirming the upload") } catch { return fail(error) }
            for report in DeniedRowsHeader.decode(response.header(DeniedRowsHeader.name) ?? "") {
                summary.refusedRows[report.table, default: 0] += report.rows
            }
            state = .storingSendCursor(page)
            pending = nil
            return .storeSendCursor(page.last)
        case .checking:
            do throws(CloudSyncError) { _ = try Self.validated(response, while: "checking for changes") } catch { return fail(error) }
            pending = nil
            if WaitingCheck.isSupported(response.header(WaitingCheck.capabilityHeader)) { serverWaits = true }
            if response.header(InlineCheck.responseHeader) == InlineCheck.responseValue {
                guard !isWatch else { return finishWatch(changesWaiting: true) }
                state = .applying
                return .apply(response.body)
            }
            let answer = response.text.trimmed
            guard !answer.isEmpty else { return isWatch ? finishWatch(changesWaiting: false) : endRound() }
            guard Self.isURL(answer) else {
                return fail(CloudSyncError(.network, "the server answered the check with \"\(answer.prefix(80))\" instead of a download URL"))
            }
            if isWatch { return finishWatch(changesWaiting: true) }
            state = .downloading
            return .send(HTTPRequest(method: "GET", url: answer))
        case .downloading:
            do throws(CloudSyncError) { _ = try Self.validated(response, while: "downloading changes") } catch { return fail(error) }
            state = .applying
            return .apply(response.body)
        case .askingUploadURLV2(let page):
            if let fallback = downgrade(response) { return fallback }
            let url: String
            do throws(CloudSyncError) {
                let json = try Self.jsonAnswer(Self.validated(response, while: "asking for an upload URL"), while: "asking for an upload URL")
                url = try Self.url(in: json?["url"], otherwise: "the server gave no upload URL")
            } catch { return fail(error) }
            state = .uploadingV2(page, url: url)
            pending = nil
            return .send(HTTPRequest(method: "PUT", url: url, headers: [("Content-Type", "application/octet-stream")], body: page.payload))
        case .uploadingV2(let page, let url):
            do throws(CloudSyncError) { _ = try Self.validated(response, while: "uploading changes") } catch { return fail(error) }
            return applyV2(page, source: #""url":"# + JSONText.string(url))
        case .applyingV2(let page, let window):
            if let fallback = downgrade(response) { return fallback }
            do throws(CloudSyncError) {
                let status = try Self.jsonAnswer(Self.validated(response, while: "applying the upload"), while: "applying the upload")
                try Self.confirm(window, by: status)
            } catch { return fail(error) }
            for report in DeniedRowsHeader.decode(response.header(DeniedRowsHeader.name) ?? "") {
                summary.refusedRows[report.table, default: 0] += report.rows
            }
            state = .storingSendCursor(page)
            pending = nil
            return .storeSendCursor(page.last)
        case .checkingV2:
            if let fallback = downgrade(response) { return fallback }
            let chunks: [Chunk]
            do throws(CloudSyncError) {
                chunks = try Self.chunks(in: Self.validated(response, while: "checking for changes"))
            } catch { return fail(error) }
            pending = nil
            guard !chunks.isEmpty else { return endRound() }
            pendingChunks = chunks
            return nextChunk()
        default:
            return misuse("received")
        }
    }

    /// No answer came (refused, unreachable, timed out). The operation fails with `error`;
    /// what was not acknowledged is sent again next time.
    package mutating func transportFailed(_ error: CloudSyncError) -> Action {
        var error = error
        if error.code != .cancelled { error.code = .network }
        return fail(error)
    }

    package mutating func credentialRefreshed(_ token: String) -> Action {
        if afterRemembering != nil { return misuse("credentialRefreshed") }
        guard refreshing, var request = pending else { return misuse("credentialRefreshed") }
        refreshing = false
        guard !token.isEmpty else {
            return fail(CloudSyncError(.unauthorized, "the server refused the token and the refresh returned an empty token", httpStatus: 401))
        }
        bearer = token
        request.headers = request.headers.map { $0.0 == "Authorization" ? ("Authorization", "Bearer \(token)") : $0 }
        pending = request
        return .send(request)
    }

    /// The refresh closure threw; `reason` is its message.
    package mutating func credentialRefreshFailed(_ reason: String) -> Action {
        if afterRemembering != nil { return misuse("credentialRefreshFailed") }
        guard refreshing else { return misuse("credentialRefreshFailed") }
        refreshing = false
        return fail(CloudSyncError(.unauthorized, "the server refused the token and refreshing it failed: \(reason)", httpStatus: 401))
    }

    package mutating func sendCursorStored() -> Action {
        if afterRemembering != nil { return misuse("sendCursorStored") }
        guard case .storingSendCursor(let page) = state else { return misuse("sendCursorStored") }
        sendCursor = page.last
        summary.sent += page.count
        return encodeNext()
    }

    package mutating func sendReported() -> Action {
        if afterRemembering != nil { return misuse("sendReported") }
        guard case .reportingSent = state else { return misuse("sendReported") }
        switch operation {
        case .sync: return startRound()
        default: return finish()
        }
    }

    /// The payload was merged and `cursor` stored as the receive cursor.
    package mutating func applied(cursor: SyncCursor, changes: Int, tables: [String] = []) -> Action {
        if afterRemembering != nil { return misuse("applied") }
        guard case .applying = state else { return misuse("applied") }
        receiveCursor = cursor
        receivedThisRound += changes
        for table in tables where !summary.receivedTables.contains(table) { summary.receivedTables.append(table) }
        downloadsThisRound += 1
        // A v2 answer's chunks are applied together; the bound applies between answers.
        if !pendingChunks.isEmpty { return nextChunk() }
        return downloadsThisRound < maxDownloadsPerCheck ? check() : endRound()
    }

    /// The next chunk of a v2 check answer: applied, or downloaded first.
    private mutating func nextChunk() -> Action {
        switch pendingChunks.removeFirst() {
        case .payload(let bytes):
            state = .applying
            return .apply(bytes)
        case .url(let url):
            state = .downloading
            return .send(HTTPRequest(method: "GET", url: url))
        }
    }

    package mutating func waited() -> Action {
        if afterRemembering != nil { return misuse("waited") }
        guard case .waiting = state else { return misuse("waited") }
        round += 1
        return startRound()
    }

    /// The token sent with the latest request (after refreshes).
    package var currentBearer: String? { bearer }

    // MARK: Steps

    private var uploadURL: String { baseURL + "/upload" }

    private mutating func encodeNext() -> Action {
        state = .encoding
        return .encodeUpload(after: sendCursor, maxChanges: maxChangesPerUpload, maxBytes: maxBytesPerUpload)
    }

    private mutating func startRound() -> Action {
        downloadsThisRound = 0
        receivedThisRound = 0
        return maxDownloadsPerCheck > 0 ? check() : endRound()
    }

    /// The check of the next page. A round's first check, with a wait asked, tells the server
    /// how long it may hold an empty answer (`WaitingCheck`); a check that downloads accepts the
    /// page inline (`InlineCheck`). Old servers ignore both.
    private mutating func check() -> Action {
        let wait = receivedThisRound == 0 ? waitMilliseconds : 0
        // v2 has no waiting check: a check that may wait goes by v1.
        if protocolVersion == .v2, wait == 0 { return checkV2() }
        state = .checking
        var headers: [(String, String)] = wait > 0 ? [(WaitingCheck.requestHeader, String(wait))] : []
        if !isWatch { headers.append((InlineCheck.requestHeader, String(InlineCheck.clientMaximum))) }
        return authorized("POST", baseURL + "/\(receiveCursor.dbVersion)/\(receiveCursor.seq)/check", extraHeaders: headers)
    }

    /// v2's check: the cursor in the body; chunk answers (inline payloads; an empty answer, not
    /// a 202 with a status object the server must look up, when nothing is ready), with the
    /// exact cursor (``ProtocolDiscovery/exactCursor``): the server resumes
    /// after `(dbVersion, seq)`, as in v1, so a cursor inside a version loses nothing. Pages up
    /// to ``v2InlineMaximum`` come inline, not only v2's 128 KiB.
    private mutating func checkV2() -> Action {
        state = .checkingV2
        let body = #"{"dbVersion":\#(receiveCursor.dbVersion), "seq":\#(receiveCursor.seq), "cursor":0}"#
        let capabilities = "check-chunks, \(ProtocolDiscovery.exactCursor)"
        return authorized(
            "POST", v2BaseURL + "/check", body: Array(body.utf8), contentType: "application/json",
            extraHeaders: [(SyncStateMachine.v2CapabilitiesHeader, capabilities), (InlineCheck.requestHeader, String(Self.v2InlineMaximum))],
            accept: false)
    }

    /// The largest page a v2 check takes inline. v2 carries it as base64 in JSON, a third
    /// larger and parsed on both sides, where v1's inline answer is the payload's bytes: a
    /// larger page comes by URL, as binary, which an initial sync of big pages is faster with.
    static let v2InlineMaximum = 1 << 20

    private var waitMilliseconds: Int {
        switch operation {
        case .check(_, let wait), .sync(_, let wait), .watch(let wait): wait
        case .send: 0
        }
    }

    private var isWatch: Bool {
        if case .watch = operation { true } else { false }
    }

    private mutating func finishWatch(changesWaiting: Bool) -> Action {
        summary.changesWaiting = changesWaiting
        summary.serverWaits = serverWaits
        return finish()
    }

    private mutating func endRound() -> Action {
        summary.received += receivedThisRound
        let (rounds, wait) = switch operation {
        case .check(let rounds, let wait), .sync(let rounds, let wait): (rounds, wait)
        case .send, .watch: (1, 0)
        }
        if receivedThisRound > 0 || round + 1 >= max(1, rounds) { return finish() }
        state = .waiting
        return wait > 0 && !serverWaits ? .wait(milliseconds: wait) : waited()
    }

    private mutating func finish() -> Action {
        state = .done
        return .finish(summary)
    }

    private mutating func fail(_ error: CloudSyncError) -> Action {
        state = .done
        pending = nil
        return .fail(error)
    }

    private mutating func misuse(_ input: String) -> Action {
        let step = afterRemembering == nil ? state.name : "remembering the protocol"
        afterRemembering = nil
        return fail(CloudSyncError(.misuse, "sync state machine: \(input) is not expected while \(step)"))
    }

    /// A request of the protocol with the credential and, in v1, `Accept: sqlc/plain`.
    private mutating func authorized(
        _ method: String, _ url: String, body: [UInt8] = [], contentType: String? = nil, extraHeaders: [(String, String)] = [],
        accept: Bool = true
    ) -> Action {
        guard let bearer else { return fail(CloudSyncError(.misuse, missingCredential)) }
        var headers = [("Authorization", "Bearer \(bearer)")]
        if accept { headers.append(("Accept", "sqlc/plain")) }
        if let contentType { headers.append(("Content-Type", contentType)) }
        headers += extraHeaders
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body)
        pending = request
        refreshedPending = false
        return .send(request)
    }
}
