import CloudSyncNetwork

/// One HTTP exchange of `V2TestClient`, whatever carries it (the Hummingbird test client, or
/// libcurl to a server process).
public protocol V2ClientTransport: Sendable {
    /// Sends a request to `url`: an API URL (`address` + path) or a blob URL the server gave.
    func send(method: String, url: String, headers: [(String, String)], body: [UInt8]?) async throws -> HTTPResponse
}
