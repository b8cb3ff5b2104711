import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import HTTPTypes
import Testing

@testable import CloudSyncServer

/// The pure parts of protocol v2: window bookkeeping, request parsing, answer building.
@Suite("Protocol v2 (pure parts)")
struct ProtocolV2UnitTests {
    // MARK: Send windows

    @Test("the send cursor is the end of the contiguous prefix of announced windows")
    func windows() {
        var windows = SendWindows()
        #expect(windows.contiguousEnd == 0)
        windows.insert(3...4)
        #expect(windows.contiguousEnd == 0, "version 1 was never announced")
        windows.insert(1...2)
        #expect(windows.contiguousEnd == 4, "adjacent windows join")
        windows.insert(7...9)
        #expect(windows.contiguousEnd == 4)
        #expect(windows.ranges == [1...4, 7...9])
        windows.insert(2...3)
        #expect(windows.ranges == [1...4, 7...9], "a repeated window changes nothing")
        windows.insert(5...6)
        #expect(windows.ranges == [1...9])
        windows.insert(0...0)
        #expect(windows.ranges == [1...9], "versions below 1 are ignored")
        windows.insert(12...20)
        windows.insert(10...30)
        #expect(windows.ranges == [1...30], "a window covering several joins them all")
    }

    @Test("windows survive their stored form; a damaged one reads as none")
    func windowsEncoding() throws {
        let windows = SendWindows([1...5, 8...9, 20...20])
        #expect(windows.encoded == "1-5,8-9,20-20")
        #expect(SendWindows(encoded: windows.encoded) == windows)
        #expect(SendWindows(encoded: "") == SendWindows())
        for damaged in ["1-", "x-2", "5-1", "0-3", "1-2-3"] {
            #expect(SendWindows(encoded: damaged) == nil, "\(damaged)")
        }
    }

    @Test("at most maxRanges ranges are kept, the lowest ones")
    func windowsBounded() {
        var windows = SendWindows()
        for index in 0..<Int64(SendWindows.maxRanges + 10) { windows.insert((index * 3 + 2)...(index * 3 + 2)) }
        #expect(windows.ranges.count == SendWindows.maxRanges)
        #expect(windows.ranges.first == 2...2)
        windows.insert(1...1)
        #expect(windows.contiguousEnd == 2)
    }

    // MARK: Requests

    @Test("apply bodies: url or blob, window, unknown members ignored")
    func applyRequests() throws {
        let url = try V2ApplyRequest(json: Array(#"{"url":"http://h/v1/blobs/x", "dbVersionMin":1, "dbVersionMax":4}"#.utf8))
        #expect(url == V2ApplyRequest(source: .url("http://h/v1/blobs/x"), window: 1...4))
        let blob = try V2ApplyRequest(json: Array(#"{"blob":"AQID\nBA==", "dbVersionMin":5, "dbVersionMax":5, "batchId":"b", "chunkIndex":0, "isFinal":true}"#.utf8))
        #expect(blob == V2ApplyRequest(source: .blob([1, 2, 3, 4]), window: 5...5))
    }

    @Test("bad apply bodies are refused with a code", arguments: [
        (#"not json"#, V2RequestError.Code.malformedJSON),
        (#"[1,2]"#, .malformedJSON),
        (#"{"dbVersionMin":1,"dbVersionMax":2}"#, .missingMember),
        (#"{"url":"u","blob":"AA==","dbVersionMin":1,"dbVersionMax":2}"#, .invalidMember),
        (#"{"url":"u","dbVersionMax":2}"#, .missingMember),
        (#"{"url":"u","dbVersionMin":3,"dbVersionMax":2}"#, .invalidMember),
        (#"{"url":"u","dbVersionMin":-1,"dbVersionMax":2}"#, .invalidMember),
        (#"{"url":"u","dbVersionMin":"1","dbVersionMax":2}"#, .invalidMember),
        (#"{"url":7,"dbVersionMin":1,"dbVersionMax":2}"#, .invalidMember),
        (#"{"blob":"AQI","dbVersionMin":1,"dbVersionMax":2}"#, .invalidBase64),
        (#"{"blob":"AQ!D","dbVersionMin":1,"dbVersionMax":2}"#, .invalidBase64),
        (#"{"blob":"AQ-_","dbVersionMin":1,"dbVersionMax":2}"#, .invalidBase64),
    ])
    func badApplyRequests(body: String, code: V2RequestError.Code) {
        #expect(performing: { try V2ApplyRequest(json: Array(body.utf8)) }, throws: { ($0 as? V2RequestError)?.code == code })
    }

    @Test("check bodies: 1.0.12 and 1.1.x forms")
    func checkRequests() throws {
        #expect(try V2CheckRequest(json: Array(#"{"dbVersion":7, "seq":2}"#.utf8)) == V2CheckRequest(dbVersion: 7, seq: 2))
        #expect(try V2CheckRequest(json: Array(#"{"dbVersion":7, "seq":0, "cursor":0, "maxChunks":4}"#.utf8))
            == V2CheckRequest(dbVersion: 7, seq: 0, pageCursor: 0, maxChunks: 4))
        #expect(try V2CheckRequest(json: Array(#"{"dbVersion":7, "seq":0, "maxChunks":0}"#.utf8)).maxChunks == nil)
        for bad in ["", "{}", #"{"dbVersion":1}"#, #"{"dbVersion":-1,"seq":0}"#, #"{"dbVersion":1.5,"seq":0}"#, #"{"dbVersion":true,"seq":0}"#] {
            #expect(throws: V2RequestError.self, "\(bad)") { try V2CheckRequest(json: Array(bad.utf8)) }
        }
    }

    @Test("capabilities: comma-separated, spaces ignored, unknown skipped")
    func capabilities() {
        #expect(V2Capabilities(header: nil) == V2Capabilities())
        #expect(V2Capabilities(header: "check-status-response") == V2Capabilities(statusResponse: true))
        #expect(V2Capabilities(header: "check-status-response, check-chunks") == V2Capabilities(statusResponse: true, chunks: true))
        #expect(V2Capabilities(header: " check-chunks ,future-thing") == V2Capabilities(chunks: true))
        #expect(V2Capabilities(header: "check-status-response, check-chunks, check-exact-cursor") == V2Capabilities(statusResponse: true, chunks: true, exactCursor: true))
    }

    // MARK: Answers

    @Test("status objects place the versions first and stay under 64 tokens")
    func statusAnswer() throws {
        let plain = V2Answer.status(version: 7)
        #expect(plain == #"{"lastOptimisticVersion":7,"lastConfirmedVersion":7,"gaps":[]}"#)
        let failure = V2Answer.Failure.apply(
            MergeResult(changes: 3, failedRows: ["x"], denied: [DeniedRows(table: "tasks", rows: 2), DeniedRows(table: "a\"b", rows: 1)]),
            failedAt: "2026-01-01T00:00:00Z")
        #expect(failure?.code == "rls_denied")
        #expect(failure?.retryable == false)
        let full = V2Answer.status(version: 9, applyFailure: failure)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(full.utf8)) as? [String: Any])
        #expect(object["lastOptimisticVersion"] as? Int == 9)
        let apply = try #require((object["failures"] as? [String: Any])?["apply"] as? [String: Any])
        #expect((apply["message"] as? String)?.contains("refused 3 rows (tasks: 2, a\"b: 1)") == true)
        #expect(JSONTokens.count(full) <= 64)
        #expect(full.range(of: "lastOptimisticVersion")!.lowerBound < full.range(of: "{", options: [], range: full.index(after: full.startIndex)..<full.endIndex)!.lowerBound)
        #expect(V2Answer.Failure.apply(MergeResult(changes: 3), failedAt: "t") == nil)
    }

    @Test("check answers by capability")
    func checkAnswers() throws {
        let legacy = V2CheckAnswer(request: V2CheckRequest(dbVersion: 4, seq: 2), capabilities: V2Capabilities())
        #expect(legacy.cursor == SyncCursor(dbVersion: 4, seq: 2))
        #expect(!legacy.inlines([1, 2]))
        #expect(legacy.answer(page: [1], url: "http://h/v1/blobs/t", watermark: 9) == .init(status: .ok, body: #"{"url":"http://h/v1/blobs/t"}"#))
        #expect(legacy.nothing(status: "{}") == .init(status: .ok, body: nil))

        let polling = V2CheckAnswer(request: V2CheckRequest(dbVersion: 4, seq: 2), capabilities: V2Capabilities(statusResponse: true))
        #expect(polling.nothing(status: "{}") == .init(status: .accepted, body: "{}"))

        let chunked = V2CheckAnswer(request: V2CheckRequest(dbVersion: 4, seq: 0, pageCursor: 0, maxChunks: 1), capabilities: V2Capabilities(statusResponse: true, chunks: true))
        #expect(chunked.cursor == SyncCursor(dbVersion: 4, seq: .max), "1.1.x resumes after the whole version")
        #expect(chunked.inlines(Array(repeating: 0, count: V2Answer.inlineLimit)))
        #expect(!chunked.inlines(Array(repeating: 0, count: V2Answer.inlineLimit + 1)))
        let inline = try #require(chunked.answer(page: [0xFB, 0xFF], url: nil, watermark: 9).body)
        #expect(inline == #"{"data":{"final":true,"nextCursor":0,"chunks":[{"cursor":0,"payload":"+/8=","watermark":9}]}}"#)
        let linked = try #require(chunked.answer(page: [1], url: "http://h/v1/blobs/t", watermark: 9).body)
        #expect(linked == #"{"data":{"final":true,"nextCursor":0,"chunks":[{"cursor":0,"url":"http://h/v1/blobs/t","watermark":9}]}}"#)
        #expect(chunked.refusal == nil)
        // This project's clients name their exact cursor, which may lie inside a version.
        let exact = V2CheckAnswer(request: V2CheckRequest(dbVersion: 4, seq: 2), capabilities: V2Capabilities(statusResponse: true, chunks: true, exactCursor: true))
        #expect(exact.cursor == SyncCursor(dbVersion: 4, seq: 2))
        #expect(exact.inlines([1, 2]))
        // Larger pages inline for a client that asks, within the server's maximum.
        let asking = V2CheckAnswer(request: V2CheckRequest(dbVersion: 4, seq: 2), capabilities: V2Capabilities(chunks: true), requestedInline: 1 << 20, serverInlineMaximum: 1 << 19)
        #expect(asking.inlines(Array(repeating: 0, count: 1 << 19)))
        #expect(!asking.inlines(Array(repeating: 0, count: (1 << 19) + 1)))
        #expect(V2CheckAnswer(request: V2CheckRequest(dbVersion: 4, seq: 2), capabilities: V2Capabilities(chunks: true), requestedInline: 1 << 20, serverInlineMaximum: 0).inlineLimit == V2Answer.inlineLimit)
        #expect(V2CheckAnswer(request: V2CheckRequest(dbVersion: 4, seq: 0, pageCursor: 3), capabilities: V2Capabilities(chunks: true)).refusal != nil)
    }

    @Test("URLs clients can use; JSON strings")
    func urlsAndStrings() {
        #expect(V2Answer.isUsableURL("https://sync.example.com/v1/blobs/ab"))
        #expect(!V2Answer.isUsableURL("/v1/blobs/ab"), "relative")
        #expect(!V2Answer.isUsableURL("http://h/\"x"))
        #expect(!V2Answer.isUsableURL("http://h/\\x"))
        #expect(!V2Answer.isUsableURL("http://h/é"))
        #expect(!V2Answer.isUsableURL("http://h/" + String(repeating: "a", count: 3_900)))
        #expect(V2Answer.quoted("a\"b\\c\nd\u{1}é") == #""a\"b\\c\nd\u0001é""#)
    }
}
