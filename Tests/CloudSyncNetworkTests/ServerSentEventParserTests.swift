import Testing
@testable import CloudSyncNetwork

/// The Server-Sent Events parser without I/O: streams fed whole, split at every byte, with each
/// line ending the format allows.
@Suite("Server-Sent Event parser")
struct ServerSentEventParserTests {
    typealias Event = ServerSentEventParser.Event

    /// A stream with a comment, a named event with two data lines, an id and a retry, and a
    /// default-typed event.
    static let stream = """
        : subscribed

        event: changes
        data: {"db_version":3,
        data:  "seq":0}
        id: 7

        : ping
        retry: 1500
        data:plain


        """

    static let expected = [
        Event(type: "changes", data: "{\"db_version\":3,\n \"seq\":0}", lastEventID: "7"),
        Event(type: "message", data: "plain", lastEventID: "7"),
    ]

    static func parseWhole(_ text: String) -> (events: [Event], parser: ServerSentEventParser) {
        var parser = ServerSentEventParser()
        return (parser.feed(Array(text.utf8)), parser)
    }

    @Test("a stream fed at once gives its events, comments and retry", arguments: ["\n", "\r\n", "\r"])
    func whole(lineEnd: String) {
        let (events, parser) = Self.parseWhole(Self.stream.replacingLineEnds(with: lineEnd))
        #expect(events == Self.expected)
        #expect(parser.comments == 2)
        #expect(parser.retryMilliseconds == 1500)
    }

    @Test("a stream split at every byte gives the same events", arguments: ["\n", "\r\n", "\r"])
    func splitAtEveryByte(lineEnd: String) {
        let bytes = Array(Self.stream.replacingLineEnds(with: lineEnd).utf8)
        for split in 0...bytes.count {
            var parser = ServerSentEventParser()
            let events = parser.feed(bytes[..<split]) + parser.feed(bytes[split...])
            #expect(events == Self.expected, "split at \(split)")
        }
        var parser = ServerSentEventParser()
        #expect(bytes.flatMap { parser.feed([$0]) } == Self.expected)
    }

    @Test("an event is dispatched only at its blank line, and not without data")
    func dispatchRules() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("event: changes\ndata: 1\n".utf8)).isEmpty)
        #expect(parser.feed(Array("\n".utf8)) == [Event(type: "changes", data: "1")])
        // No data: nothing is dispatched, and the type does not leak into the next event.
        #expect(parser.feed(Array("event: lost\n\ndata: 2\n\n".utf8)) == [Event(type: "message", data: "2")])
        // An empty data line still counts as data.
        #expect(parser.feed(Array("data\n\n".utf8)) == [Event(type: "message", data: "")])
        // Unknown fields and a bad retry are ignored.
        #expect(parser.feed(Array("foo: bar\nretry: 12x\ndata: 3\n\n".utf8)) == [Event(type: "message", data: "3")])
        #expect(parser.retryMilliseconds == nil)
    }

    @Test("a byte order mark at the start is skipped")
    func byteOrderMark() {
        var parser = ServerSentEventParser()
        #expect(parser.feed([0xEF, 0xBB, 0xBF] + Array("data: x\n\n".utf8)) == [Event(type: "message", data: "x")])
    }

    @Test("long lines and data are cut at the limits, and the stream goes on")
    func bounded() {
        var parser = ServerSentEventParser(maxLineLength: 16, maxDataLength: 10)
        let long = "data: " + String(repeating: "a", count: 100) + "\n"
        let events = parser.feed(Array((long + long + "\n" + "data: ok\n\n").utf8))
        #expect(events == [Event(type: "message", data: String(repeating: "a", count: 10)), Event(type: "message", data: "ok")])
    }
}

extension String {
    /// The text with each LF replaced by `lineEnd`.
    func replacingLineEnds(with lineEnd: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: lineEnd)
    }
}
