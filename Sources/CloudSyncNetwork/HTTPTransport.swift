import CloudSyncCore

/// One HTTP request of the sync protocol.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
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

/// Sends HTTP requests for the network layer. The engine ships a libcurl transport; an
/// application may install its own (a platform HTTP stack, a test harness) per connection.
///
/// Calls are synchronous because SQL functions are.
public protocol HTTPTransport: AnyObject {
    /// Sends `request` and returns the response, whatever its status; throws only when no
    /// response arrived (refused, unreachable, timed out), as a `.network` error naming the cause.
    func send(_ request: HTTPRequest) throws(CloudSyncError) -> HTTPResponse
}
