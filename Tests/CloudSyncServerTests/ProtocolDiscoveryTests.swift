import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudSyncServer

/// How this project's clients learn of protocol v2 (`ProtocolDiscovery`): v1's upload URL,
/// notify and check answers name it in `Cloudsync-Capabilities` while v2 is served, and neither
/// is there with `protocolV2` off; old clients' answers are otherwise unchanged.
@Suite("Protocol v2 discovery")
struct ProtocolDiscoveryTests {
    static let capability = HTTPField.Name(WaitingCheck.capabilityHeader)!

    @Test("v1 answers advertise v2 only while it is served", arguments: [true, false])
    func advertised(protocolV2: Bool) async throws {
        try await ServerFixture.with(.embedded, { $0.protocolV2 = protocolV2 }) { fixture in
            let alice = try Device()
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: fixture.key)
                try alice.insertTodos(1, prefix: "a")
                let upload = try await sync.requestUploadURL(site: alice.siteHex)
                #expect(upload.status == .ok && upload.text.hasPrefix("http"), "the body is still the URL alone")
                #expect(ProtocolDiscovery.isOffered(upload.headers[Self.capability]) == protocolV2)
                let payload = try #require(try alice.pendingUpload())
                #expect(try await sync.put(upload.text, payload.payload).status == .ok)
                let notified = try await sync.notify(site: alice.siteHex, url: upload.text)
                #expect(notified.status == .ok && notified.text.isEmpty, "0.8 clients need an empty notify body")
                #expect(ProtocolDiscovery.isOffered(notified.headers[Self.capability]) == protocolV2)
                let check = try await sync.check(site: try Device().siteHex, cursor: .start)
                #expect(check.status == .ok)
                let names = check.headers[Self.capability] ?? ""
                #expect(WaitingCheck.isSupported(names) && ProtocolDiscovery.isOffered(names) == protocolV2)

                // The v2 routes exist only while v2 is served.
                var headers = sync.headers
                headers[.contentType] = "application/json"
                let v2 = try await client.executeRequest(
                    uri: "/v2/cloudsync/databases/\(ServerFixture.database)/\(alice.siteHex)/status", method: .get, headers: headers, body: nil)
                #expect(v2.status == (protocolV2 ? .ok : .notFound))
            }
        }
    }
}
