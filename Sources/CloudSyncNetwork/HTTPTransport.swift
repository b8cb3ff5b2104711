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

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
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
