import CloudSyncCurl
import CloudSyncTestSupport
@testable import CloudSyncNetwork

/// `V2TestClient`'s HTTP over libcurl, the library sqlite-sync 1.x clients use (so the PUT is
/// announced with `Expect: 100-continue`).
final class CurlV2Transport: V2ClientTransport, @unchecked Sendable {
    private let curl: CurlTransport

    init() throws { curl = try CurlTransport() }

    func send(method: String, url: String, headers: [(String, String)], body: [UInt8]?) async throws -> HTTPResponse {
        try curl.send(HTTPRequest(method: method, url: url, headers: headers, body: body ?? []))
    }
}
