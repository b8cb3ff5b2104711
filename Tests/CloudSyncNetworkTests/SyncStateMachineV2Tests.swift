import CloudSyncCore
import Testing
@testable import CloudSyncNetwork

/// Protocol v2 in the protocol client, without I/O: discovery and fallback, the inline and
/// URL sends, every check answer shape, and bad answers (sync-protocol-v2.md §5–§7).
@Suite("Sync state machine, protocol v2")
struct SyncStateMachineV2Tests {
    typealias Machine = SyncStateMachine
    static let site = SyncStateMachineTests.site
    static let v1Base = SyncStateMachineTests.base
    static let v2Base = "http://sync.test:8091/v2/cloudsync/databases/todo.sqlite/" + String(repeating: "ab", count: 16)
    static let page1 = SyncStateMachineTests.page1
    static let bigPage = Machine.UploadPage(payload: [UInt8](repeating: 7, count: SyncLimits.v2InlineApplyMaximum + 1), last: SyncCursor(dbVersion: 9, seq: 2), count: 50)
    static let offer = [(WaitingCheck.capabilityHeader, "wait-check, subscribe, protocol-v2")]

    static func machine(
        _ operation: Machine.Operation, version: Machine.ProtocolVersion = .v2, upgrades: Bool = true,
        send: SyncCursor = .start, receive: SyncCursor = .start
    ) -> Machine {
        Machine(
            operation, endpoint: SyncStateMachineTests.endpoint, site: site, bearer: "csk_key", sendCursor: send, receiveCursor: receive,
            protocolVersion: version, upgrades: upgrades, maxChangesPerUpload: 100)
    }

    static func answer(_ status: Int = 200, _ text: String = "", headers: [(String, String)] = []) -> HTTPResponse {
        SyncStateMachineTests.answer(status, text, headers: headers)
    }

    // MARK: Discovery

    @Test func aV1AnswerOfferingV2IsRememberedAndTheNextPageGoesInline() throws {
        var machine = Self.machine(.send, version: .v1)
        _ = machine.start()
        #expect(machine.pageEncoded(Self.page1).request?.url == Self.v1Base + "/upload")
        // The offer comes with the upload URL: remembered first, then this page goes on in v1.
        #expect(machine.received(Self.answer(200, "https://blobs.test/u/1", headers: Self.offer)).remembered == .v2)
        #expect(machine.protocolVersion == .v2)
        #expect(machine.protocolRemembered().request?.method == "PUT")
        #expect(machine.received(Self.answer(200)).request?.url == Self.v1Base + "/upload")
        #expect(machine.received(Self.answer(200, headers: Self.offer)).storedSendCursor == Self.page1.last, "already on v2: nothing more to remember")
        _ = machine.sendCursorStored()
        let page2 = Machine.UploadPage(payload: [4, 5], last: SyncCursor(dbVersion: 6, seq: 0), count: 2)
        let apply = try #require(machine.pageEncoded(page2).request)
        #expect(apply.method == "POST" && apply.url == Self.v2Base + "/apply")
    }

    @Test func anOfferOnTheConfirmationIsRememberedBeforeTheCursorMoves() throws {
        var machine = Self.machine(.send, version: .v1)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        _ = machine.received(Self.answer(200, "https://blobs.test/u/1"))
        _ = machine.received(Self.answer(200))
        #expect(machine.received(Self.answer(200, headers: Self.offer)).remembered == .v2)
        var inTurn = machine
        #expect(inTurn.protocolRemembered().storedSendCursor == Self.page1.last)
        let error = try #require(machine.sendCursorStored().failure, "the cursor is stored only after the protocol")
        #expect(error.code == .misuse && error.message.hasSuffix("while remembering the protocol"))
    }

    @Test func rememberingIsOnlyExpectedWhenAsked() throws {
        var machine = Self.machine(.check())
        _ = machine.start()
        #expect(machine.protocolRemembered().failure?.code == .misuse)
    }

    @Test func aCheckAnswerOfferingV2SwitchesTheNextCheck() throws {
        var machine = Self.machine(.check(), version: .v1)
        #expect(machine.start().request?.url == Self.v1Base + "/0/0/check")
        #expect(machine.received(Self.answer(200, "https://blobs.test/d/1", headers: Self.offer)).remembered == .v2)
        #expect(machine.protocolRemembered().request?.url == "https://blobs.test/d/1")
        _ = machine.received(Self.answer(200, "p"))
        #expect(machine.applied(cursor: SyncCursor(dbVersion: 3, seq: 1), changes: 1).request?.url == Self.v2Base + "/check")
    }

    @Test func withoutTheOfferOrWithUpgradesOffTheClientStaysOnV1() throws {
        var old = Self.machine(.check(), version: .v1)
        _ = old.start()
        #expect(old.received(Self.answer(200, "", headers: [(WaitingCheck.capabilityHeader, "wait-check")])).summary != nil)
        #expect(old.protocolVersion == .v1)

        var pinned = Self.machine(.check(), version: .v2, upgrades: false)
        #expect(pinned.start().request?.url == Self.v1Base + "/0/0/check", "upgrades off also ignores a remembered v2")
        #expect(pinned.received(Self.answer(200, "", headers: Self.offer)).summary != nil)
        #expect(pinned.protocolVersion == .v1)

        // A failed answer never switches.
        var failed = Self.machine(.check(), version: .v1)
        _ = failed.start()
        #expect(failed.received(Self.answer(200, "no url", headers: Self.offer)).failure != nil)
    }

    @Test(arguments: [404, 405])
    func aServerWithoutV2FallsBackToV1AndForgetsIt(status: Int) throws {
        var sender = Self.machine(.send)
        _ = sender.start()
        #expect(sender.pageEncoded(Self.page1).request?.url == Self.v2Base + "/apply")
        #expect(sender.received(Self.answer(status, "no route")).remembered == .v1)
        #expect(sender.protocolRemembered().request?.url == Self.v1Base + "/upload", "the same page, by v1")
        // The old server still advertises v2 by mistake: not taken again in this operation.
        #expect(sender.received(Self.answer(200, "https://blobs.test/u/1", headers: Self.offer)).request?.method == "PUT")

        var checker = Self.machine(.check(), receive: SyncCursor(dbVersion: 5, seq: 2))
        _ = checker.start()
        #expect(checker.received(Self.answer(status)).remembered == .v1)
        #expect(checker.protocolRemembered().request?.url == Self.v1Base + "/5/2/check")

        var big = Self.machine(.send)
        _ = big.start()
        #expect(big.pageEncoded(Self.bigPage).request?.url == Self.v2Base + "/upload")
        #expect(big.received(Self.answer(status)).remembered == .v1)
        #expect(big.protocolRemembered().request?.url == Self.v1Base + "/upload")
    }

    @Test func waitingChecksAndWatchesGoByV1() throws {
        var waiting = Self.machine(.check(rounds: 2, waitMilliseconds: 3000))
        let first = try #require(waiting.start().request)
        #expect(first.url == Self.v1Base + "/0/0/check" && first.headerValue(WaitingCheck.requestHeader) == "3000")
        _ = waiting.received(Self.answer(200, "https://blobs.test/d/1", headers: Self.offer))
        _ = waiting.received(Self.answer(200, "p"))
        // Paging after something arrived does not wait: v2.
        #expect(waiting.applied(cursor: SyncCursor(dbVersion: 1, seq: 0), changes: 1).request?.url == Self.v2Base + "/check")

        var watch = Self.machine(.watch(waitMilliseconds: 1000))
        #expect(watch.start().request?.url == Self.v1Base + "/0/0/check")
        #expect(watch.received(Self.answer(200, "", headers: Self.offer)).summary?.changesWaiting == false, "a watch never switches")
    }

    // MARK: Sending

    @Test func aSmallPageGoesInlineInOneRequest() throws {
        var machine = Self.machine(.send, send: SyncCursor(dbVersion: 2, seq: 0))
        _ = machine.start()
        let apply = try #require(machine.pageEncoded(Self.page1).request)
        #expect(apply.method == "POST" && apply.url == Self.v2Base + "/apply")
        #expect(apply.text == #"{"blob":"AQID", "dbVersionMin":1, "dbVersionMax":4}"#)
        #expect(apply.headerValue("Content-Type") == "application/json" && apply.headerValue("Authorization") == "Bearer csk_key")
        #expect(apply.headerValue("Accept") == nil)
        let status = #"{"lastOptimisticVersion":4,"lastConfirmedVersion":4,"gaps":[]}"#
        #expect(machine.received(Self.answer(200, status)).storedSendCursor == Self.page1.last, "the exact cursor, seq included")
        _ = machine.sendCursorStored()
        #expect(machine.pageEncoded(nil).sendReport == Machine.Summary(sent: 3))
    }

    @Test func aLargePageGoesByUploadURL() throws {
        var machine = Self.machine(.send)
        _ = machine.start()
        let ask = try #require(machine.pageEncoded(Self.bigPage).request)
        #expect(ask.method == "GET" && ask.url == Self.v2Base + "/upload" && ask.body.isEmpty)
        let put = try #require(machine.received(Self.answer(200, #"{"url":"https://blobs.test/u/\"1"}"#)).request)
        #expect(put.method == "PUT" && put.url == #"https://blobs.test/u/"1"# && put.body == Self.bigPage.payload && put.headerValue("Authorization") == nil)
        let apply = try #require(machine.received(Self.answer(200)).request)
        #expect(apply.url == Self.v2Base + "/apply")
        #expect(apply.text == #"{"url":"https://blobs.test/u/\"1", "dbVersionMin":1, "dbVersionMax":9}"#)
        #expect(machine.received(Self.answer(200, #"{"data":{"lastOptimisticVersion":9}}"#)).storedSendCursor == Self.bigPage.last)
    }

    @Test(arguments: [
        "", #"{}"#, #"{"lastOptimisticVersion":4}"#, #"{"lastOptimisticVersion":12,"gaps":[]}"#, #"{"data":{"lastOptimisticVersion":4}}"#,
    ])
    func applyAnswersThatConfirm(body: String) throws {
        var machine = Self.machine(.send)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        #expect(machine.received(Self.answer(200, body)).storedSendCursor == Self.page1.last)
    }

    @Test(arguments: [
        (200, "not json", "not a JSON object"),
        (200, "[1]", "not a JSON object"),
        (200, #"{"lastOptimisticVersion":"4"}"#, "not an integer"),
        (200, #"{"lastOptimisticVersion":3}"#, "only up to version 3"),
        (400, #"{"error":"bad window"}"#, #"{"error":"bad window"}"#),
        (413, "", "server answered HTTP 413 while applying the upload"),
        (500, "database is locked", "database is locked"),
    ] as [(Int, String, String)])
    func applyAnswersThatFailKeepTheCursor(status: Int, body: String, message: String) throws {
        var machine = Self.machine(.send)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        let error = try #require(machine.received(Self.answer(status, body)).failure)
        #expect(error.code == .network && error.message.contains(message))
    }

    @Test(arguments: ["", "https://blobs.test/u/1", #"{"uri":"https://x"}"#, #"{"url":"ftp://x"}"#, #"{"url":7}"#])
    func uploadAnswersWithoutAURLFail(body: String) throws {
        var machine = Self.machine(.send)
        _ = machine.start()
        _ = machine.pageEncoded(Self.bigPage)
        let error = try #require(machine.received(Self.answer(200, body)).failure)
        #expect(error.code == .network)
        #expect(error.message.contains("no upload URL") || error.message.contains("not a JSON object"))
    }

    @Test func refusedRowsOfAnApplyAreReported() throws {
        var machine = Self.machine(.send)
        _ = machine.start()
        _ = machine.pageEncoded(Self.page1)
        let status = #"{"lastOptimisticVersion":4,"failures":{"apply":{"code":"rls_denied","message":"refused","retryable":false}}}"#
        #expect(machine.received(Self.answer(200, status, headers: [(DeniedRowsHeader.name, "todo=2")])).storedSendCursor == Self.page1.last)
        _ = machine.sendCursorStored()
        #expect(machine.pageEncoded(nil).sendReport?.refusedRows == ["todo": 2])
    }

    // MARK: Checking

    @Test func theCheckCarriesTheExactCursorInItsBody() throws {
        var machine = Self.machine(.check(), receive: SyncCursor(dbVersion: 7, seq: 3))
        let check = try #require(machine.start().request)
        #expect(check.method == "POST" && check.url == Self.v2Base + "/check")
        #expect(check.text == #"{"dbVersion":7, "seq":3, "cursor":0}"#)
        #expect(check.headerValue("X-CloudSync-Capabilities") == "check-chunks, check-exact-cursor")
        #expect(check.headerValue(InlineCheck.requestHeader) == String(1 << 20))
        #expect(check.headerValue("Content-Type") == "application/json" && check.headerValue("Accept") == nil)
    }

    @Test(arguments: [
        (200, ""), (200, " \n"), (202, #"{"lastOptimisticVersion":0,"lastConfirmedVersion":0,"gaps":[]}"#),
        (200, #"{"data":{"final":true,"chunks":[]}}"#), (200, #"{"lastOptimisticVersion":1}"#),
        (200, #"{"failures":{"check":{"code":"slow","retryable":true}}}"#),
    ] as [(Int, String)])
    func answersThatMeanNothingIsReady(status: Int, body: String) throws {
        var machine = Self.machine(.check())
        _ = machine.start()
        #expect(machine.received(Self.answer(status, body)).summary == Machine.Summary())
    }

    @Test func anInlinePayloadIsAppliedAndTheNextCheckStartsAfterIt() throws {
        var machine = Self.machine(.check())
        _ = machine.start()
        let answer = #"{"data":{"final":true,"nextCursor":0,"chunks":[{"cursor":0,"payload":"CQkJ","watermark":12}]}}"#
        #expect(machine.received(Self.answer(200, answer)).appliedPayload == [9, 9, 9])
        let next = try #require(machine.applied(cursor: SyncCursor(dbVersion: 12, seq: 4), changes: 3, tables: ["todo"]).request)
        #expect(next.text == #"{"dbVersion":12, "seq":4, "cursor":0}"#)
        let summary = try #require(machine.received(Self.answer(202, "{}")).summary)
        #expect(summary.received == 3 && summary.receivedTables == ["todo"])
    }

    @Test(arguments: [#"{"url":"https://blobs.test/d/1"}"#, #"{"data":{"url":"https://blobs.test/d/1","final":true}}"#])
    func aURLAnswerIsDownloadedWithoutCredential(body: String) throws {
        var machine = Self.machine(.check())
        _ = machine.start()
        let download = try #require(machine.received(Self.answer(200, body)).request)
        #expect(download.method == "GET" && download.url == "https://blobs.test/d/1" && download.headerValue("Authorization") == nil)
        #expect(machine.received(HTTPResponse(status: 200, body: [1, 2])).appliedPayload == [1, 2])
        #expect(machine.applied(cursor: SyncCursor(dbVersion: 2, seq: 0), changes: 2).request?.url == Self.v2Base + "/check")
    }

    @Test func aBatchOfChunksIsAppliedInOrder() throws {
        var machine = Self.machine(.check())
        _ = machine.start()
        let answer = #"{"data":{"final":false,"nextCursor":2,"chunks":[{"cursor":0,"payload":"AQ=="},{"cursor":1,"url":"https://blobs.test/d/2"}]}}"#
        #expect(machine.received(Self.answer(200, answer)).appliedPayload == [1])
        #expect(machine.applied(cursor: SyncCursor(dbVersion: 1, seq: 0), changes: 1).request?.url == "https://blobs.test/d/2")
        #expect(machine.received(HTTPResponse(status: 200, body: [2])).appliedPayload == [2])
        // Every chunk moved the exact cursor: the next check starts a stream after it.
        #expect(machine.applied(cursor: SyncCursor(dbVersion: 2, seq: 5), changes: 1).request?.text == #"{"dbVersion":2, "seq":5, "cursor":0}"#)
        #expect(machine.received(Self.answer(200)).summary?.received == 2)
    }

    @Test(arguments: [
        (200, "https://blobs.test/d/1", "not a JSON object"),
        (200, "{\"url\":", "not a JSON object"),
        (200, #"{"url":"blobs/1"}"#, "no usable download URL"),
        (200, #"{"data":{"payload":"not base64!"}}"#, "not standard base64"),
        (200, #"{"data":{"payload":"AQ="}}"#, "not standard base64"),
        (200, #"{"data":{"chunks":{"cursor":0}}}"#, "not an array"),
        (200, #"{"data":{"chunks":[{"cursor":0}]}}"#, "without \"url\" or \"payload\""),
        (200, #"{"data":{"chunks":[7]}}"#, "not an object"),
        (202, #"{"failures":{"check":{"code":"gone","message":"database deleted","retryable":false}}}"#, "gone - database deleted"),
        (400, "page cursor 3 is unknown", "page cursor 3 is unknown"),
        (503, "", "server answered HTTP 503 while checking for changes"),
    ] as [(Int, String, String)])
    func badCheckAnswersFailWithoutApplying(status: Int, body: String, message: String) throws {
        var machine = Self.machine(.check(), receive: SyncCursor(dbVersion: 4, seq: 0))
        _ = machine.start()
        let error = try #require(machine.received(Self.answer(status, body)).failure)
        #expect(error.code == .network && error.message.contains(message), "\(error.message)")
    }

    @Test func unauthorizedIsNotADowngrade() throws {
        var machine = Self.machine(.check())
        _ = machine.start()
        let error = try #require(machine.received(Self.answer(401, "invalid token")).failure)
        #expect(error.code == .unauthorized && machine.protocolVersion == .v2)
    }
}
