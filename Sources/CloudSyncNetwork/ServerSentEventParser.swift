/// Parses a Server-Sent Events stream (`text/event-stream`, HTML Living Standard, "Interpreting
/// an event stream") from bytes as they arrive, in chunks split anywhere. It does no I/O: the
/// change subscription's clients feed it what their connection receives.
///
/// Lines end with CRLF, LF or CR; a line starting with `:` is a comment (the server's
/// heartbeat); `data` lines accumulate, joined by LF; an empty line dispatches the event, unless
/// it has no data. Memory is bounded: a line longer than `maxLineLength` is cut there and an
/// event's data longer than `maxDataLength` is cut too, so a broken or hostile server cannot
/// grow the client.
package struct ServerSentEventParser: Sendable {
    /// One dispatched event.
    package struct Event: Sendable, Equatable {
        /// The `event` field, `message` when absent.
        package var type: String
        /// The `data` lines, joined by LF.
        package var data: String
        /// The last `id` seen so far in the stream, if any.
        package var lastEventID: String?

        package init(type: String, data: String, lastEventID: String? = nil) {
            self.type = type
            self.data = data
            self.lastEventID = lastEventID
        }
    }

    package let maxLineLength: Int
    package let maxDataLength: Int

    /// The reconnection time the server asked for (`retry`), in milliseconds.
    package private(set) var retryMilliseconds: Int?
    /// Comment lines seen so far (heartbeats).
    package private(set) var comments = 0

    private var line: [UInt8] = []
    private var lineTooLong = false
    /// The previous byte ended a line with CR: an LF right after it belongs to that line end.
    private var afterCR = false
    private var atStreamStart = true
    private var eventType = ""
    private var data: [UInt8] = []
    private var hasData = false
    private var lastEventID: String?

    package init(maxLineLength: Int = 64 << 10, maxDataLength: Int = 256 << 10) {
        self.maxLineLength = maxLineLength
        self.maxDataLength = maxDataLength
    }

    /// Feeds the next bytes of the stream; returns the events they complete, in order.
    package mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == UInt8(ascii: "\n") { continue }
            }
            switch byte {
            case UInt8(ascii: "\r"):
                afterCR = true
                if let event = endLine() { events.append(event) }
            case UInt8(ascii: "\n"):
                if let event = endLine() { events.append(event) }
            default:
                if line.count < maxLineLength { line.append(byte) } else { lineTooLong = true }
            }
        }
        return events
    }

    private mutating func endLine() -> Event? {
        defer {
            line.removeAll(keepingCapacity: line.capacity <= 1024)
            lineTooLong = false
        }
        if atStreamStart {
            atStreamStart = false
            // A byte order mark may open the stream.
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        }
        if line.isEmpty { return dispatch() }
        if line.first == UInt8(ascii: ":") {
            comments += 1
            return nil
        }
        let name: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            name = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        } else {
            name = line[...]
            value = []
        }
        switch String(decoding: name, as: UTF8.self) {
        case "event":
            eventType = String(decoding: value, as: UTF8.self)
        case "data":
            if hasData { appendData(CollectionOfOne(UInt8(ascii: "\n"))) }
            hasData = true
            appendData(value)
        case "id":
            if !value.contains(0) { lastEventID = String(decoding: value, as: UTF8.self) }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), !lineTooLong {
                retryMilliseconds = Int(String(decoding: value, as: UTF8.self))
            }
        default:
            break
        }
        return nil
    }

    private mutating func appendData(_ bytes: some Collection<UInt8>) {
        let room = maxDataLength - data.count
        guard room > 0 else { return }
        data.append(contentsOf: bytes.prefix(room))
    }

    private mutating func dispatch() -> Event? {
        defer {
            eventType = ""
            data.removeAll()
            hasData = false
        }
        guard hasData else { return nil }
        return Event(type: eventType.isEmpty ? "message" : eventType, data: String(decoding: data, as: UTF8.self), lastEventID: lastEventID)
    }
}
