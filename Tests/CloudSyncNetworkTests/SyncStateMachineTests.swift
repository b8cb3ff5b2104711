import CloudSyncCore
import Testing
@testable import CloudSyncNetwork

/// The protocol client without I/O: each test feeds the state machine answers and checks the
/// actions it returns (requests, what to apply, what to store, what to report).
@Suite("Sync state machine")
struct SyncStateMachineTests {
    static let endpoint = try! ConnectionString(parsing: "http://sync.test:8091/todo.sqlite")
    static let site = [UInt8](repeating: 0xab, count: 16)
    static let base = "http://sync.test:8091/v1/cloudsync/todo.sqlite/" + String(repeating: "ab", count: 16)
    static let page1 = SyncStateMachine.UploadPage(payload: [1, 2, 3], last: SyncCursor(dbVersion: 4, seq: 1), count: 3)
    static let page2 = SyncStateMachine.UploadPage(payload: [4, 5], last: SyncCursor(dbVersion: 6, seq: 0), count: 2)

    static func machine(
        _ operation: SyncStateMachine.Operation, bearer: String? = "csk_key", canRefresh: Bool = false,
        send: SyncCursor = .start, receive: SyncCursor = .start, maxDownloads: Int = 1_000
    ) -> SyncStateMachine {
        SyncStateMachine(
            operation, endpoint: endpoint, site: site, bearer: bearer, missingCredential: "no credential given",
            canRefresh: canRefresh, sendCursor: send, receiveCursor: receive, maxChangesPerUpload: 100, maxDownloadsPerCheck: maxDownloads)
    }

    static func answer(_ status: Int = 200, _ text: String = "", headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, body: Array(text.utf8), headers: headers)
    }

    // MARK: Sending

    @Test func nothingToSendMakesNoRequest() throws {
        var machine = Self.machine(.send, bearer: nil)
        #expect(machine.start().encodeCursor == .start)
        // No credential is needed when there is nothing to send.
        let report = try #require(machine.pageEncoded(nil).sendReport)
        #expect(report == SyncStateMachine.Summary())
        #expect(machine.sendReported().summary == SyncStateMachine.Summary())
    }

    @Test func uploadGoesThroughTheThreeRequestsAndMovesTheCursorOnlyAfterTheConfirmation() throws {
        var machine = Self.machine(.send, send: SyncCursor(dbVersion: 2, seq: 0))
        #expect(machine.start().encodeCursor == SyncCursor(dbVersion: 2, seq: 0))

        let ask = try #require(machine.pageEncoded(Self.page1).request)
        #expect(ask.method == "GET" && ask.url == Self.base + "/upload" && ask.body.isEmpty)
        #expect(ask.headerValue("Authorization") == "Bearer csk_key" && ask.headerValue("Accept") == "sqlc/plain")

        let put = try #require(machine.received(Self.answer(200, "  https://blobs.test/u/1\r\n")).request)
        #expect(put.method == "PUT" && put.url == "https://blobs.test/u/1" && put.body == Self.page1.payload)
        #expect(put.headerValue("Content-Type") == "application/octet-stream")
        #expect(put.headerValue("Authorization") == nil, "blob URLs are capabilities: no credential")

        let confirm = try #require(machine.received(Self.answer(201)).request)
        #expect(confirm.method == "POST" && confirm.url == Self.base + "/upload")
        #expect(confirm.text == #"{"url":"https://blobs.test/u/1"}"#)
        #expect(confirm.headerValue("Content-Type") == "application/json" && confirm.headerValue("Authorization") == "Bearer csk_key")

        #expect(machine.received(Self.answer(200)).storedSendCursor == Self.page1.last)
        // The next page starts after the stored cursor.
        #expect(machine.sendCursorStored().encodeCursor == Self.page1.last)
        #expect(machine.pageEncoded(nil).sendReport == SyncStateMachine.Summary(sent: 3))
        #expect(machine.sendReported().summary == SyncStateMachine.Summary(sent: 3))
    }

    @Test(arguments: [
        ([("Cloudsync-Denied", "todo=1")], ["todo": 1]),
        ([("cloudsync-denied", "todo=2, notes=1")], ["todo": 2, "notes": 1]),
        ([("CLOUDSYNC-DENIED", "my%20table=3")], ["my table": 3]),
        ([("Cloudsync-Denied", "todo=x, =2, notes, todo=0, todo=-1, docs=4")], ["docs": 4]),
        ([("Cloudsync-Denied", "")], [:]),
        ([("Other", "todo=1")], [:]),
        ([], [:]),
    ] as [([(String, String)], [String: Int])])
    func refusedRowsHeaderVariants(headers: [(String, String)], expected: [String: Int]) throws {
        var machine = Self.machine(.send)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        _ = machine.received(Self.answer(200, "http://blobs.test/1"))
        _ = machine.received(Self.answer(200))
        #expect(machine.received(Self.answer(200, headers: headers)).storedSendCursor == Self.page1.last)
        _ = machine.sendCursorStored()
        let report = try #require(machine.pageEncoded(nil).sendReport)
        #expect(report.refusedRows == expected)
        #expect(report.sent == 3, "refused rows were sent and the cursor moved past them")
        #expect((report.refusedError == nil) == expected.isEmpty)
    }

    @Test func refusedRowsAddUpOverPagesAndNameEveryTableInTheError() throws {
        var device = ScriptedDevice(pages: [Self.page1, Self.page2])
        var server = ScriptedServer()
        server.denied = ["todo=1", "todo=2, notes=1"]
        let summary = try device.run(.send, server: &server).get()
        #expect(summary.refusedRows == ["todo": 3, "notes": 1])
        let error = try #require(summary.refusedError)
        #expect(error.code == .denied)
        #expect(error.message.hasPrefix("the server refused 1 row of table notes, 3 rows of table todo (row-level security)"))
    }

    @Test(arguments: ["", "not a url", "ftp://blobs.test/1", "<html>proxy</html>"])
    func uploadURLAnswerThatIsNoURLFails(answer: String) throws {
        var machine = Self.machine(.send)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        let error = try #require(machine.received(Self.answer(200, answer)).failure)
        #expect(error.code == .network)
        #expect(error.message.hasPrefix("the server gave no upload URL"))
    }

    // MARK: Checking

    @Test(arguments: ["", " ", "\r\n", "\n\t"])
    func emptyCheckAnswerMeansNothingNew(answer: String) throws {
        var machine = Self.machine(.check(), receive: SyncCursor(dbVersion: 7, seq: 2))
        let check = try #require(machine.start().request)
        #expect(check.method == "POST" && check.url == Self.base + "/7/2/check" && check.body.isEmpty)
        #expect(check.headerValue("Authorization") == "Bearer csk_key")
        #expect(machine.received(Self.answer(200, answer)).summary == SyncStateMachine.Summary())
    }

    @Test func checkAnswerWithURLIsDownloadedAppliedAndTheNextCheckStartsAfterIt() throws {
        var machine = Self.machine(.check())
        #expect(machine.start().request?.url == Self.base + "/0/0/check")
        let download = try #require(machine.received(Self.answer(200, "https://blobs.test/d/1\n")).request)
        #expect(download.method == "GET" && download.url == "https://blobs.test/d/1" && download.headerValue("Authorization") == nil)
        #expect(machine.received(HTTPResponse(status: 200, body: [9, 9, 9])).appliedPayload == [9, 9, 9])
        let next = try #require(machine.applied(cursor: SyncCursor(dbVersion: 12, seq: 3), changes: 5).request)
        #expect(next.url == Self.base + "/12/3/check")
        #expect(machine.received(Self.answer(200, "")).summary == SyncStateMachine.Summary(received: 5))
    }

    /// `InlineCheck`: a check that downloads asks for the page in the answer; a server that
    /// sends it inline saves the download, and one that sends a URL is followed as before.
    @Test func inlinePagesAreAppliedWithoutADownload() throws {
        var machine = Self.machine(.check())
        let check = try #require(machine.start().request)
        #expect(check.headerValue(InlineCheck.requestHeader) == String(InlineCheck.clientMaximum))
        let inline = [(InlineCheck.responseHeader, InlineCheck.responseValue)]
        // A payload whose bytes read like a URL is still a payload when marked inline.
        let body = Array("http://not-a-url".utf8) + [0, 255]
        #expect(machine.received(HTTPResponse(status: 200, body: body, headers: inline)).appliedPayload == body)
        let next = try #require(machine.applied(cursor: SyncCursor(dbVersion: 3, seq: 0), changes: 2).request)
        #expect(next.url == Self.base + "/3/0/check")
        #expect(machine.received(Self.answer(200, "")).summary == SyncStateMachine.Summary(received: 2))

        // The live channel's watch downloads nothing: it does not ask, and an inline answer
        // only says changes wait.
        var watch = Self.machine(.watch(waitMilliseconds: 1000))
        #expect(try #require(watch.start().request).headerValue(InlineCheck.requestHeader) == nil)
        #expect(watch.received(HTTPResponse(status: 200, body: [1], headers: inline)).summary?.changesWaiting == true)
    }

    @Test(arguments: ["garbage", "<html>", "OK"])
    func checkAnswerThatIsNoURLFails(answer: String) throws {
        var machine = Self.machine(.check())
        _ = machine.start()
        let error = try #require(machine.received(Self.answer(200, answer)).failure)
        #expect(error.code == .network)
        #expect(error.message == "the server answered the check with \"\(answer)\" instead of a download URL")
    }

    @Test func downloadsPerCheckAreBounded() throws {
        var device = ScriptedDevice()
        var server = ScriptedServer()
        server.downloads = [[1], [2], [3]]
        let summary = try device.run(.check(), maxDownloads: 2, server: &server).get()
        #expect(summary.received == 2)
        #expect(device.receiveCursor == SyncCursor(dbVersion: 2, seq: 0))
        #expect(server.requests.filter { $0.url.hasSuffix("/check") }.count == 2)
        // The rest comes with the next check.
        #expect(try device.run(.check(), maxDownloads: 2, server: &server).get().received == 1)
        #expect(device.receiveCursor == SyncCursor(dbVersion: 3, seq: 0))
    }

    @Test func syncRoundsWaitBetweenChecksAndStopAtTheFirstThatReceives() throws {
        var machine = Self.machine(.sync(rounds: 3, waitMilliseconds: 50))
        _ = machine.start()
        _ = machine.pageEncoded(nil)
        #expect(machine.sendReported().request?.url.hasSuffix("/0/0/check") == true)
        #expect(machine.received(Self.answer(200, "")).waitMilliseconds == 50)
        #expect(machine.waited().request?.url.hasSuffix("/check") == true)
        _ = machine.received(Self.answer(200, "http://blobs.test/d"))
        _ = machine.received(Self.answer(200, "p"))
        _ = machine.applied(cursor: SyncCursor(dbVersion: 1, seq: 0), changes: 2)
        // Something arrived in round 2: no third round.
        #expect(machine.received(Self.answer(200, "")).summary == SyncStateMachine.Summary(received: 2))

        var idle = Self.machine(.sync(rounds: 2, waitMilliseconds: 0))
        _ = idle.start()
        _ = idle.pageEncoded(nil)
        _ = idle.sendReported()
        // No wait action for 0 ms: straight to the second check, then done.
        #expect(idle.received(Self.answer(200, "")).request?.url.hasSuffix("/check") == true)
        #expect(idle.received(Self.answer(200, "")).summary == SyncStateMachine.Summary())
    }

    static func waitHeader(_ action: SyncStateMachine.Action) -> String? {
        action.request?.headers.first { $0.0 == WaitingCheck.requestHeader }?.1
    }

    /// The waiting check: a round's first check asks the server to hold an empty answer; a
    /// server that advertises it did the waiting, so the client does not wait again.
    @Test func roundsAskTheServerToWaitAndDoNotWaitAgainWhenItDoes() throws {
        var machine = Self.machine(.sync(rounds: 3, waitMilliseconds: 5000))
        _ = machine.start()
        _ = machine.pageEncoded(nil)
        let first = machine.sendReported()
        #expect(Self.waitHeader(first) == "5000")
        let advertised = [(WaitingCheck.capabilityHeader, "wait-check")]
        // Empty after the server's wait: the next round's check at once, again asking to wait.
        let second = machine.received(Self.answer(200, "", headers: advertised))
        #expect(second.request?.url.hasSuffix("/0/0/check") == true)
        #expect(Self.waitHeader(second) == "5000")
        // A download: the rest of the round's checks page through without waiting.
        _ = machine.received(Self.answer(200, "http://blobs.test/d", headers: advertised))
        _ = machine.received(Self.answer(200, "p"))
        let paging = machine.applied(cursor: SyncCursor(dbVersion: 1, seq: 0), changes: 1)
        #expect(paging.request?.url.hasSuffix("/1/0/check") == true)
        #expect(Self.waitHeader(paging) == nil)
        #expect(machine.received(Self.answer(200, "", headers: advertised)).summary == SyncStateMachine.Summary(received: 1))

        // An old server (no capability): the client waits between rounds as before.
        var old = Self.machine(.check(rounds: 2, waitMilliseconds: 5000))
        #expect(Self.waitHeader(old.start()) == "5000")
        #expect(old.received(Self.answer(200, "")).waitMilliseconds == 5000)

        // No wait asked: no header.
        var plain = Self.machine(.check())
        #expect(Self.waitHeader(plain.start()) == nil)
    }

    // MARK: Errors

    static let steps: [(operation: SyncStateMachine.Operation, step: String, requestIndex: Int)] = [
        (.send, "asking for an upload URL", 0),
        (.send, "uploading changes", 1),
        (.send, "confirming the upload", 2),
        (.check(), "checking for changes", 0),
        (.check(), "downloading changes", 1),
    ]

    @Test(arguments: [400, 404, 409, 413, 500, 502, 503])
    func httpErrorsAreNetworkErrorsWithTheServersMessageOrTheStep(status: Int) throws {
        for (operation, step, index) in Self.steps {
            for body in ["payload too large: 9 MB > 8 MB", ""] {
                var device = ScriptedDevice(pages: [Self.page1])
                var server = ScriptedServer()
                server.downloads = [[1]]
                server.fail = (index, .success(Self.answer(status, body)))
                let error = try #require(device.run(operation, server: &server).failure)
                #expect(error.code == .network)
                #expect(error.httpStatus == status)
                #expect(error.message == (body.isEmpty ? "server answered HTTP \(status) while \(step)" : body))
            }
        }
    }

    @Test(arguments: [401, 403])
    func refusedCredentialIsUnauthorizedAtEveryStep(status: Int) throws {
        for (operation, _, index) in Self.steps {
            var device = ScriptedDevice(pages: [Self.page1])
            var server = ScriptedServer()
            server.downloads = [[1]]
            server.fail = (index, .success(Self.answer(status, "invalid token")))
            let error = try #require(device.run(operation, server: &server).failure)
            #expect(error.code == .unauthorized)
            #expect(error.httpStatus == status && error.message == "invalid token")
        }
    }

    @Test func transportFailureIsANetworkError() throws {
        for (operation, _, index) in Self.steps {
            var device = ScriptedDevice(pages: [Self.page1])
            var server = ScriptedServer()
            server.downloads = [[1]]
            server.fail = (index, .failure(CloudSyncError(.sqlite, "connection refused")))
            let error = try #require(device.run(operation, server: &server).failure)
            #expect(error.code == .network && error.message == "connection refused" && error.httpStatus == nil)
        }
    }

    @Test func missingCredentialFailsAtTheFirstRequestAsMisuse() throws {
        var machine = Self.machine(.check(), bearer: nil)
        let error = try #require(machine.start().failure)
        #expect(error.code == .misuse && error.message == "no credential given")
    }

    @Test func a401IsAnsweredByOneRefreshPerRequest() throws {
        var machine = Self.machine(.send, bearer: "old", canRefresh: true)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        #expect(machine.received(Self.answer(401, "expired")).isRefresh)
        let again = try #require(machine.credentialRefreshed("fresh").request)
        #expect(again.method == "GET" && again.url == Self.base + "/upload" && again.headerValue("Authorization") == "Bearer fresh")
        #expect(machine.currentBearer == "fresh")
        _ = machine.received(Self.answer(200, "http://blobs.test/1"))
        // The blob PUT carries no credential: a 401 there is an error, not a refresh.
        let confirm = try #require(machine.received(Self.answer(200)).request)
        #expect(confirm.headerValue("Authorization") == "Bearer fresh")
        // A later request may refresh again, but only once.
        #expect(machine.received(Self.answer(401)).isRefresh)
        _ = machine.credentialRefreshed("fresher")
        let error = try #require(machine.received(Self.answer(401, "still expired")).failure)
        #expect(error.code == .unauthorized && error.httpStatus == 401 && error.message == "still expired")
    }

    @Test func a401OnABlobTransferIsNotRefreshed() throws {
        var machine = Self.machine(.send, canRefresh: true)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        _ = machine.received(Self.answer(200, "http://blobs.test/1"))
        let error = try #require(machine.received(Self.answer(401)).failure)
        #expect(error.code == .unauthorized && error.message == "server answered HTTP 401 while uploading changes")
    }

    @Test func aFailedOrEmptyRefreshIsUnauthorized() throws {
        var failing = Self.machine(.check(), canRefresh: true)
        _ = failing.start()
        #expect(failing.received(Self.answer(401)).isRefresh)
        let error = try #require(failing.credentialRefreshFailed("identity provider down").failure)
        #expect(error.code == .unauthorized && error.httpStatus == 401)
        #expect(error.message == "the server refused the token and refreshing it failed: identity provider down")

        var empty = Self.machine(.check(), canRefresh: true)
        _ = empty.start()
        _ = empty.received(Self.answer(401))
        #expect(empty.credentialRefreshed("").failure?.code == .unauthorized)

        var notRefreshable = Self.machine(.check(), canRefresh: false)
        _ = notRefreshable.start()
        #expect(notRefreshable.received(Self.answer(401)).failure?.code == .unauthorized)
    }

    @Test func inputsOutOfTurnAreMisuseNotATrap() {
        var machine = Self.machine(.send)
        #expect(machine.applied(cursor: .start, changes: 1).failure?.code == .misuse)
        var uploading = Self.machine(.send)
        _ = uploading.start()
        _ = uploading.pageEncoded(SyncStateMachine.UploadPage(payload: [UInt8](repeating: 7, count: 10_000), last: .start, count: 1))
        // The message names the step, not the payload in flight.
        #expect(uploading.waited().failure?.message == "sync state machine: waited is not expected while asking for an upload URL")
        var other = Self.machine(.check())
        _ = other.start()
        #expect(other.sendCursorStored().failure?.code == .misuse)
    }

    // MARK: Interrupted sequences

    /// A send of two pages (six requests) and a check of two downloads (five requests), cut at
    /// each request in turn: only what the server acknowledged is stored, and the retry sends
    /// or downloads exactly the rest.
    @Test(arguments: 0..<6)
    func sendInterruptedAtEachRequestResendsWhatWasNotConfirmed(cut: Int) throws {
        var device = ScriptedDevice(pages: [Self.page1, Self.page2])
        var server = ScriptedServer()
        server.fail = (cut, .failure(CloudSyncError(.network, "connection reset")))
        #expect(device.run(.send, server: &server).failure != nil)
        let confirmedFirst = cut >= 3
        #expect(device.sendCursor == (confirmedFirst ? Self.page1.last : .start))
        #expect(server.confirmed.count == (confirmedFirst ? 1 : 0))

        server.fail = nil
        server.requests = []
        let summary = try device.run(.send, server: &server).get()
        #expect(summary.sent == (confirmedFirst ? 2 : 5))
        #expect(device.sendCursor == Self.page2.last)
        // Uploaded on retry: what was not confirmed, from the stored cursor on.
        let puts = server.requests.filter { $0.method == "PUT" }.map(\.body)
        #expect(puts == (confirmedFirst ? [Self.page2.payload] : [Self.page1.payload, Self.page2.payload]))
        #expect(server.confirmed == [Self.page1.payload, Self.page2.payload])
    }

    @Test(arguments: 0..<5)
    func checkInterruptedAtEachRequestDownloadsAgainWhatWasNotApplied(cut: Int) throws {
        var device = ScriptedDevice()
        var server = ScriptedServer()
        server.downloads = [[1, 1], [2]]
        server.fail = (cut, .success(Self.answer(503)))
        #expect(device.run(.check(), server: &server).failure?.httpStatus == 503)
        // Requests: check, download 1, check, download 2, check. A payload counts once applied.
        let applied = cut >= 4 ? 2 : cut >= 2 ? 1 : 0
        #expect(device.receiveCursor == SyncCursor(dbVersion: Int64(applied), seq: 0))
        #expect(device.applied.count == applied)

        server.fail = nil
        server.requests = []
        let summary = try device.run(.check(), server: &server).get()
        #expect(summary.received == [3, 1, 0][applied])
        #expect(device.applied == [[1, 1], [2]])
        #expect(server.requests.first?.url == Self.base + "/\(applied)/0/check")
    }

    @Test func aSyncWhoseCheckFailsKeepsTheConfirmedSend() throws {
        var device = ScriptedDevice(pages: [Self.page1])
        var server = ScriptedServer()
        server.downloads = [[1]]
        server.fail = (3, .success(Self.answer(500, "database is locked")))
        let error = try #require(device.run(.sync(), server: &server).failure)
        #expect(error.message == "database is locked")
        #expect(device.sendCursor == Self.page1.last)
        #expect(device.reports == [SyncStateMachine.Summary(sent: 3)], "the send half was reported before the check")
    }
}

// MARK: - Harness

/// A device as the clients are: stored cursors, local pages, applied payloads. Runs a machine
/// against `Server`, carrying out its actions the way the clients do.
private struct ScriptedDevice {
    var pages: [SyncStateMachine.UploadPage] = []
    var sendCursor = SyncCursor.start
    var receiveCursor = SyncCursor.start
    var applied: [[UInt8]] = []
    var reports: [SyncStateMachine.Summary] = []

    mutating func run(
        _ operation: SyncStateMachine.Operation, maxDownloads: Int = 1_000, server: inout ScriptedServer
    ) -> Result<SyncStateMachine.Summary, CloudSyncError> {
        var machine = SyncStateMachineTests.machine(operation, send: sendCursor, receive: receiveCursor, maxDownloads: maxDownloads)
        var action = machine.start()
        for _ in 0..<1_000 {
            switch action {
            case .encodeUpload(let cursor, _, _):
                action = machine.pageEncoded(pages.first { $0.last > cursor })
            case .send(let request):
                switch server.answer(request) {
                case .success(let response): action = machine.received(response)
                case .failure(let error): action = machine.transportFailed(error)
                }
            case .refreshCredential:
                action = machine.credentialRefreshFailed("no refresh in this harness")
            case .storeSendCursor(let cursor):
                sendCursor = cursor
                action = machine.sendCursorStored()
            case .sendFinished(let summary):
                reports.append(summary)
                action = machine.sendReported()
            case .apply(let payload):
                applied.append(payload)
                receiveCursor = SyncCursor(dbVersion: Int64(payload[0]), seq: 0)
                action = machine.applied(cursor: receiveCursor, changes: payload.count)
            case .wait:
                action = machine.waited()
            case .rememberProtocol:
                action = machine.protocolRemembered()
            case .finish(let summary):
                return .success(summary)
            case .fail(let error):
                return .failure(error)
            }
        }
        Issue.record("the machine did not finish")
        return .failure(CloudSyncError(.misuse, "no end"))
    }
}

/// A server that speaks the protocol: upload URLs, blob PUTs, confirmations (with a refused-rows
/// header per confirmation, if given), checks answered from `downloads` after the cursor.
private struct ScriptedServer {
    var downloads: [[UInt8]] = []
    var denied: [String] = []
    var fail: (index: Int, answer: Result<HTTPResponse, CloudSyncError>)?
    var requests: [HTTPRequest] = []
    var confirmed: [[UInt8]] = []
    private var blobs: [String: [UInt8]] = [:]

    mutating func answer(_ request: HTTPRequest) -> Result<HTTPResponse, CloudSyncError> {
        requests.append(request)
        if let fail, fail.index == requests.count - 1 { return fail.answer }
        switch (request.method, request.url) {
        case ("GET", let url) where url.hasSuffix("/upload"):
            return .success(SyncStateMachineTests.answer(200, "https://blobs.test/u/\(requests.count)"))
        case ("PUT", let url):
            blobs[url] = request.body
            return .success(SyncStateMachineTests.answer(200))
        case ("POST", let url) where url.hasSuffix("/upload"):
            let target = String(request.text.dropFirst(8).dropLast(2))
            guard let blob = blobs.removeValue(forKey: target) else { return .success(SyncStateMachineTests.answer(404, "no such upload")) }
            confirmed.append(blob)
            let header = denied.isEmpty ? [] : [(DeniedRowsHeader.name, denied.removeFirst())]
            return .success(SyncStateMachineTests.answer(200, headers: header))
        case ("POST", let url) where url.hasSuffix("/check"):
            let parts = url.split(separator: "/")
            let version = Int(parts[parts.count - 3])!
            guard version < downloads.count else { return .success(SyncStateMachineTests.answer(200, "")) }
            return .success(SyncStateMachineTests.answer(200, "https://blobs.test/d/\(version)"))
        case ("GET", let url) where url.hasPrefix("https://blobs.test/d/"):
            return .success(HTTPResponse(status: 200, body: downloads[Int(url.split(separator: "/").last!)!]))
        default:
            return .success(SyncStateMachineTests.answer(404, "no route"))
        }
    }
}

extension SyncStateMachine.Action {
    var request: HTTPRequest? { if case .send(let request) = self { request } else { nil } }
    var failure: CloudSyncError? { if case .fail(let error) = self { error } else { nil } }
    var summary: SyncStateMachine.Summary? { if case .finish(let summary) = self { summary } else { nil } }
    var sendReport: SyncStateMachine.Summary? { if case .sendFinished(let summary) = self { summary } else { nil } }
    var encodeCursor: SyncCursor? { if case .encodeUpload(let cursor, _, _) = self { cursor } else { nil } }
    var storedSendCursor: SyncCursor? { if case .storeSendCursor(let cursor) = self { cursor } else { nil } }
    var appliedPayload: [UInt8]? { if case .apply(let payload) = self { payload } else { nil } }
    var waitMilliseconds: Int? { if case .wait(let milliseconds) = self { milliseconds } else { nil } }
    var isRefresh: Bool { if case .refreshCredential = self { true } else { false } }
    var remembered: SyncStateMachine.ProtocolVersion? { if case .rememberProtocol(let version) = self { version } else { nil } }
}

extension Result {
    var failure: Failure? { if case .failure(let error) = self { error } else { nil } }
}

extension HTTPRequest {
    func headerValue(_ name: String) -> String? { headers.last { $0.0 == name }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }
}
