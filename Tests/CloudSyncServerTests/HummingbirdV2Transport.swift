import CloudSyncNetwork
import CloudSyncTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting

/// `V2TestClient`'s HTTP through the Hummingbird test client: absolute URLs (blob URLs under
/// the fixture's public URL) become paths.
struct HummingbirdV2Transport: V2ClientTransport {
    let client: any TestClientProtocol

    init(_ client: any TestClientProtocol) { self.client = client }

    func send(method: String, url: String, headers: [(String, String)], body: [UInt8]?) async throws -> CloudSyncNetwork.HTTPResponse {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        let response = try await client.executeRequest(
            uri: url.hasPrefix("http") ? path(of: url) : url, method: HTTPRequest.Method(method)!, headers: fields, body: body.map { ByteBuffer(bytes: $0) })
        return CloudSyncNetwork.HTTPResponse(
            status: response.status.code, body: response.bytes, headers: response.headers.map { ($0.name.canonicalName, $0.value) })
    }
}
