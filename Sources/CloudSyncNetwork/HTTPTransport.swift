import CloudSyncCore

/// One HTTP request of the sync protocol.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Seconds allowed for this request instead of the transport's own request timeout: a
    /// waiting check is held at the server for longer than any other request takes.
    public var timeout: Double?

    public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Double? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// The answer to an `HTTPRequest`.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Response header fields, in the order received.
    public var headers: [(String, String)]

    public init(status: Int, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The last value of the header field `name` (compared case-insensitively).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.last { $0.0.lowercased() == wanted }?.1
    }
}

/// Sends HTTP requests for the network layer. The extension uses libcurl (`CurlTransport` in
/// CloudSyncCurl); a test harness or another HTTP stack implements this protocol. The Swift
/// API's transports are asynchronous (`SyncTransport` in CloudSync), and it runs one of these
/// through `BlockingHTTPTransport`.
///
/// Calls are synchronous because SQL functions are.
public protocol HTTPTransport: AnyObject {
    /// Sends `request` and returns the response, whatever its status; throws only when no
    /// response arrived (refused, unreachable, timed out), as a `.network` error naming the cause.
    func send(_ request: HTTPRequest) throws(CloudSyncError) -> HTTPResponse
}
