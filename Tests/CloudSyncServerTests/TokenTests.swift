import CloudSyncCore
import Foundation
import Hummingbird
import HummingbirdTesting
import JWTKit
import Testing

@testable import CloudSyncServer

@Suite("Access tokens over HTTP")
struct TokenHTTPTests {
    @Test("a valid token syncs: upload URL, upload, check", arguments: StorageBackend.allCases)
    func validTokenSyncs(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let token = try await fixture.token(for: "alice")
            let alice = try Device()
            try alice.insertTodos(2, prefix: "a")
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: token)
                let upload = try await sync.requestUploadURL(site: alice.siteHex)
                #expect(upload.status == .ok)
                #expect(upload.text.hasPrefix(ServerFixture.publicURL + "/v1/blobs/"))
                #expect(try await sync.send(alice) > 0)
                #expect(try await fixture.serverRows() == alice.snapshot())
                let check = try await sync.check(site: alice.siteHex, cursor: .start)
                #expect(check.status == .ok)
                #expect(check.text.isEmpty)
            }
        }
    }

    @Test("an expired token gets 401", arguments: StorageBackend.allCases)
    func expired(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            // Issued two hours ago for one hour.
            let token = try await fixture.token(for: "alice", expiresIn: .seconds(3600), now: Date().addingTimeInterval(-7200))
            try await fixture.application().test(.router) { client in
                let response = try await SyncClient(client: client, key: token).requestUploadURL(site: try Device().siteHex)
                #expect(response.status == .unauthorized)
                #expect(response.text.hasPrefix("access token expired at"))
            }
        }
    }

    @Test("a token that is not valid yet gets 401", arguments: StorageBackend.allCases)
    func notYetValid(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let token = try await fixture.token(for: "alice", now: Date().addingTimeInterval(3600))
            try await fixture.application().test(.router) { client in
                let response = try await SyncClient(client: client, key: token).check(site: try Device().siteHex, cursor: .start)
                #expect(response.status == .unauthorized)
                #expect(response.text.hasPrefix("access token is not valid before"))
            }
        }
    }

    @Test("a token whose payload was changed gets 401", arguments: StorageBackend.allCases)
    func tamperedPayload(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let parts = JWTParts.split(try await fixture.token(for: "alice"))
            var payload = try JWTParts.decodeObject(parts[1])
            payload["sub"] = "admin"
            let forged = [parts[0], try JWTParts.encode(json: payload), parts[2]].joined(separator: ".")
            try await fixture.application().test(.router) { client in
                let response = try await SyncClient(client: client, key: forged).requestUploadURL(site: try Device().siteHex)
                #expect(response.status == .unauthorized)
                #expect(response.text == "access token signature is not valid")
            }
        }
    }

    @Test("a token whose signature was changed gets 401", arguments: StorageBackend.allCases)
    func tamperedSignature(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            var parts = JWTParts.split(try await fixture.token(for: "alice"))
            var signature = Array(TokenAuthority.base64URLDecode(Substring(parts[2])) ?? Data())
            #expect(signature.count == 32)
            signature[0] ^= 0x01
            parts[2] = JWTParts.encode(signature)
            let tampered = parts.joined(separator: ".")
            // The same signature bytes, spelled differently: the last character's two unused
            // bits set (43 characters carry 258 bits for 256).
            let genuine = try await fixture.token(for: "alice")
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let lastValue = try #require(alphabet.firstIndex(of: genuine.last!))
            #expect(lastValue & 3 == 0)
            let respelled = String(genuine.dropLast()) + String(alphabet[lastValue | 1])
            #expect(TokenAuthority.base64URLDecode(Substring(JWTParts.split(respelled)[2])) == TokenAuthority.base64URLDecode(Substring(JWTParts.split(genuine)[2])))
            try await fixture.application().test(.router) { client in
                for token in [tampered, respelled] {
                    let response = try await SyncClient(client: client, key: token).requestUploadURL(site: try Device().siteHex)
                    #expect(response.status == .unauthorized)
                    #expect(response.text == "access token signature is not valid")
                }
                let response = try await SyncClient(client: client, key: genuine).requestUploadURL(site: try Device().siteHex)
                #expect(response.status == .ok)
            }
        }
    }

    @Test("alg none with an empty signature gets 401", arguments: StorageBackend.allCases)
    func algNone(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let parts = JWTParts.split(try await fixture.token(for: "alice"))
            let unsigned = try JWTParts.encode(json: ["alg": "none", "typ": "JWT"]) + "." + parts[1] + "."
            try await fixture.application().test(.router) { client in
                let response = try await SyncClient(client: client, key: unsigned).requestUploadURL(site: try Device().siteHex)
                #expect(response.status == .unauthorized)
                #expect(response.text == "access token algorithm 'none' is not accepted; this server accepts only HS256")
            }
        }
    }

    @Test("tokens signed with HS384, with another secret, or labelled with another algorithm get 401", arguments: StorageBackend.allCases)
    func otherAlgorithmsAndSecrets(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let secret = try await fixture.storage.tokenSigningSecret()
            let genuine = try await fixture.token(for: "alice")
            let payload = try await fixture.tokens.authenticate(genuine)

            // Right secret, HS384. (By hand: jwt-kit refuses HS384 keys under 48 bytes.)
            let hs384 = try JWTParts.signed(header: ["alg": "HS384", "typ": "JWT"], payload: JWTParts.split(genuine)[1], secret: secret, sha384: true)
            #expect(JWTParts.split(hs384)[2].count == 64)

            // HS256, another secret.
            let otherKeys = JWTKeyCollection()
            await otherKeys.add(hmac: HMACKey(from: [UInt8](repeating: 7, count: 32)), digestAlgorithm: .sha256)
            let otherSecret = try await otherKeys.sign(payload)

            // A correct HS256 signature under a header that claims RS256: the label must not
            // be trusted either way.
            let mislabelled = try JWTParts.signed(header: ["alg": "RS256", "typ": "JWT"], payload: JWTParts.split(genuine)[1], secret: secret)
            // The same construction with HS256 is accepted, so the refusal above is the label's.
            let relabelled = try JWTParts.signed(header: ["alg": "HS256", "typ": "JWT"], payload: JWTParts.split(genuine)[1], secret: secret)

            try await fixture.application().test(.router) { client in
                let site = try Device().siteHex
                let a = try await SyncClient(client: client, key: hs384).requestUploadURL(site: site)
                #expect(a.status == .unauthorized)
                #expect(a.text.contains("algorithm 'HS384' is not accepted"))
                let b = try await SyncClient(client: client, key: otherSecret).requestUploadURL(site: site)
                #expect(b.status == .unauthorized)
                #expect(b.text == "access token signature is not valid")
                let c = try await SyncClient(client: client, key: mislabelled).requestUploadURL(site: site)
                #expect(c.status == .unauthorized)
                #expect(c.text.contains("algorithm 'RS256' is not accepted"))
                let d = try await SyncClient(client: client, key: relabelled).requestUploadURL(site: site)
                #expect(d.status == .ok)
            }
        }
    }

    @Test("a revoked token gets 401 from the next request on", arguments: StorageBackend.allCases)
    func revoked(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let token = try await fixture.token(for: "alice")
            try await fixture.application().test(.router) { client in
                let sync = SyncClient(client: client, key: token)
                let site = try Device().siteHex
                #expect(try await sync.check(site: site, cursor: .start).status == .ok)
                // Revoked through a second storage, as the CLI does while the server runs.
                let admin = try await fixture.openAnotherStorage()
                try await TokenAuthority(storage: admin).revoke(token)
                await admin.close()
                let response = try await sync.check(site: site, cursor: .start)
                #expect(response.status == .unauthorized)
                #expect(response.text == "access token was revoked")
            }
        }
    }

    @Test("a token for another database gets 401; for an unknown database 404", arguments: StorageBackend.allCases)
    func otherDatabase(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.storage.createDatabase(name: "notes.sqlite", schema: todoSchema, tables: nil)
            let notesToken = try await fixture.token(for: "alice", database: "notes.sqlite")
            try await fixture.application().test(.router) { client in
                let site = try Device().siteHex
                let wrong = try await SyncClient(client: client, key: notesToken).requestUploadURL(site: site)
                #expect(wrong.status == .unauthorized)
                #expect(wrong.text == "this access token is not valid for database todo.sqlite")
                let own = try await SyncClient(client: client, database: "notes.sqlite", key: notesToken).requestUploadURL(site: site)
                #expect(own.status == .ok)
                let unknown = try await SyncClient(client: client, database: "nope.sqlite", key: notesToken).requestUploadURL(site: site)
                #expect(unknown.status == .notFound)
            }
        }
    }

    @Test("malformed JWTs get 401", arguments: StorageBackend.allCases, [
        "a.b.c",                                                   // header not base64url JSON
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.***",                    // HS256 header, signature not base64url
        "eyJ0eXAiOiJKV1QifQ.e30.",                                 // no alg at all
        "eyJhbGciOjF9.e30.",                                       // alg not a string
    ])
    func malformed(backend: StorageBackend, token: String) async throws {
        try await ServerFixture.with(backend) { fixture in
            try await fixture.application().test(.router) { client in
                let response = try await SyncClient(client: client, key: token).requestUploadURL(site: try Device().siteHex)
                #expect(response.status == .unauthorized)
                #expect(response.text.hasPrefix("malformed access token") || response.text.hasPrefix("access token header names no algorithm"))
            }
        }
    }

    @Test("a site id belongs to the first user who syncs with it", arguments: StorageBackend.allCases)
    func siteBinding(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let alice = try await fixture.token(for: "alice")
            let bob = try await fixture.token(for: "bob")
            let device = try Device()
            try device.insertTodos(1, prefix: "a")
            try await fixture.application().test(.router) { client in
                let asAlice = SyncClient(client: client, key: alice)
                let asBob = SyncClient(client: client, key: bob)
                #expect(try await asAlice.send(device) > 0)

                let upload = try await asBob.requestUploadURL(site: device.siteHex)
                #expect(upload.status == .forbidden)
                #expect(upload.text.contains("belongs to another user"))
                #expect(upload.text.contains("cloudsync_network_logout()"))
                let check = try await asBob.check(site: device.siteHex, cursor: .start)
                #expect(check.status == .forbidden)

                #expect(try await asAlice.check(site: device.siteHex, cursor: .start).status == .ok)
                #expect(try await asAlice.requestUploadURL(site: device.siteHex).status == .ok)
                // Bob with a site of his own is fine.
                #expect(try await asBob.check(site: try Device().siteHex, cursor: .start).status == .ok)
            }
        }
    }

    @Test("API keys still work, on any site, as the administrator; tokens as their user", arguments: StorageBackend.allCases)
    func apiKeysAreAdministrators(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let recorder = RecordingStorage(fixture.storage)
            let token = try await fixture.token(for: "alice")
            let device = try Device()
            try device.insertTodos(1, prefix: "a")
            let app = buildApplication(configuration: fixture.configuration, storage: recorder, logger: quietLogger)
            try await app.test(.router) { client in
                // Alice binds the site; the key is not subject to bindings.
                let asAlice = try await SyncClient(client: client, key: token).check(site: device.siteHex, cursor: .start)
                #expect(asAlice.status == .ok)
                let admin = SyncClient(client: client, key: fixture.key)
                #expect(try await admin.send(device) > 0)
                #expect(try await admin.check(site: device.siteHex, cursor: .start).status == .ok)
            }
            let principals = recorder.principals
            #expect(principals.count == 3)
            #expect(principals.first?.claims?.userID == "alice")
            #expect(principals.dropFirst().allSatisfy { $0 == .administrator })
        }
    }
}

@Suite("Token authority")
struct TokenAuthorityTests {
    @Test("issued claims come back verified, attributes as compact JSON", arguments: StorageBackend.allCases)
    func claimsRoundTrip(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let now = Date(timeIntervalSince1970: 1_900_000_000.75)
            let token = try await fixture.tokens.issue(
                database: ServerFixture.database, userID: "u-1", name: "Ann",
                attributesJSON: #" { "team": "blue", "level": 3, "tags": ["a", "b"], "ratio": 0.5 } "#,
                expiresIn: .seconds(60), now: now)
            let claims = try await fixture.tokens.verify(token, database: ServerFixture.database, now: now)
            #expect(claims.userID == "u-1")
            #expect(claims.name == "Ann")
            #expect(claims.attributesJSON == #"{"level":3,"ratio":0.5,"tags":["a","b"],"team":"blue"}"#)
            #expect(claims.expiresAt == 1_900_000_060)
            #expect(claims.database == ServerFixture.database)
            #expect(UUID(uuidString: claims.tokenID) != nil)
            // The header is exactly what the server signs with.
            let header = try JWTParts.decodeObject(JWTParts.split(token)[0])
            #expect(header["alg"] as? String == "HS256")

            // Valid up to the second before exp, not at exp.
            let last = Date(timeIntervalSince1970: 1_900_000_059)
            #expect(try await fixture.tokens.verify(token, database: ServerFixture.database, now: last) == claims)
            await expectTokenError(.expired) {
                try await fixture.tokens.verify(token, database: ServerFixture.database, now: Date(timeIntervalSince1970: 1_900_000_060))
            }
            // And not before its issue second.
            await expectTokenError(.notYetValid) {
                try await fixture.tokens.verify(token, database: ServerFixture.database, now: Date(timeIntervalSince1970: 1_899_999_999))
            }
            await expectTokenError(.wrongDatabase) {
                try await fixture.tokens.verify(token, database: "other.sqlite", now: now)
            }
        }
    }

    @Test("issue refuses unusable arguments", arguments: StorageBackend.allCases)
    func issueValidation(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let tokens = fixture.tokens
            for (user, attributes, expiry) in [("", "{}", nil), ("  ", "{}", nil), ("u", "[1]", nil), ("u", "nope", nil), ("u", "\"x\"", nil), ("u", "{}", Duration.zero), ("u", "{}", Duration.seconds(-5))] as [(String, String, Duration?)] {
                await expectTokenError(.invalidRequest, "user '\(user)' attributes \(attributes) expiry \(String(describing: expiry))") {
                    try await tokens.issue(database: ServerFixture.database, userID: user, attributesJSON: attributes, expiresIn: expiry)
                }
            }
            await expectTokenError(.unknownDatabase) {
                try await tokens.issue(database: "nope.sqlite", userID: "u")
            }
        }
    }

    @Test("revoke accepts an expired token, refuses a forged one", arguments: StorageBackend.allCases)
    func revoke(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let expired = try await fixture.token(for: "alice", expiresIn: .seconds(1), now: Date().addingTimeInterval(-60))
            try await fixture.tokens.revoke(expired)
            // Twice is fine.
            try await fixture.tokens.revoke(expired)
            #expect(try await fixture.storage.isTokenRevoked(id: try await fixture.tokens.authenticate(expired).id.value))

            let parts = JWTParts.split(try await fixture.token(for: "bob"))
            var payload = try JWTParts.decodeObject(parts[1])
            payload["jti"] = UUID().uuidString
            let forged = [parts[0], try JWTParts.encode(json: payload), parts[2]].joined(separator: ".")
            await expectTokenError(.invalidSignature) { try await fixture.tokens.revoke(forged) }
            await expectTokenError(.malformed) { try await fixture.tokens.revoke("not a token") }

            // Correctly signed but never recorded (the catalog lost it): unknown to revoke, and
            // refused by verify.
            let secret = try await fixture.storage.tokenSigningSecret()
            let unrecorded = try JWTParts.signed(header: ["alg": "HS256", "typ": "JWT"], payload: try JWTParts.encode(json: payload), secret: secret)
            await #expect(throws: SyncStorageError(.unknownToken, "no such access token")) { try await fixture.tokens.revoke(unrecorded) }
            await expectTokenError(.revoked) { try await fixture.tokens.verify(unrecorded, database: ServerFixture.database) }
        }
    }

    @Test("the signing secret is created once and shared by every instance on the same data", arguments: StorageBackend.allCases)
    func sharedSecret(backend: StorageBackend) async throws {
        try await ServerFixture.with(backend) { fixture in
            let other = try await fixture.openAnotherStorage()
            // The second instance asks first: the first one must find the secret it created.
            let secret = try await other.tokenSigningSecret()
            #expect(secret.count == 32)
            #expect(try await fixture.storage.tokenSigningSecret() == secret)
            #expect(try await other.tokenSigningSecret() == secret)

            let token = try await fixture.token(for: "alice")
            #expect(try await TokenAuthority(storage: other).verify(token, database: ServerFixture.database).userID == "alice")
            try await TokenAuthority(storage: other).revoke(token)
            await expectTokenError(.revoked) { try await fixture.tokens.verify(token, database: ServerFixture.database) }
            await other.close()
        }
    }

    @Test("the signing secret file is created with mode 0600 and reused on reopen")
    func secretFile() async throws {
        try await ServerFixture.with(.embedded) { fixture in
            let storage = try fixture.embeddedStorage
            let path = storage.tokenSecretPath
            #expect(!FileManager.default.fileExists(atPath: path))
            let secret = try await fixture.storage.tokenSigningSecret()
            #expect(secret.count == 32)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == secret)
            // No temporary files left behind.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: try fixture.directory.path).filter { $0.contains("token-secret.") }
            #expect(leftovers.isEmpty)

            let token = try await fixture.token(for: "alice")
            let reopened = try EmbeddedStorage(directory: try fixture.directory, configuration: fixture.configuration, logger: quietLogger)
            #expect(try await reopened.tokenSigningSecret() == secret)
            #expect(try await TokenAuthority(storage: reopened).verify(token, database: ServerFixture.database).userID == "alice")
            await reopened.close()
        }
    }

    @Test("processes racing to create the secret all end with the same one")
    func secretRace() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-secret-race-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("token-secret").path
        let results = try await withThrowingTaskGroup(of: (secret: [UInt8], created: Bool).self) { group in
            for _ in 0..<16 {
                group.addTask { try await Blocking.run { try EmbeddedStorage.loadOrCreateSecret(at: path) } }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 16)
        #expect(Set(results.map(\.secret)).count == 1)
        #expect(results.filter(\.created).count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["token-secret"])
    }

    @Test("a secret file of the wrong size is an error, not replaced")
    func badSecretFile() async throws {
        try await ServerFixture.with(.embedded) { fixture in
            let storage = try fixture.embeddedStorage
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: storage.tokenSecretPath))
            await #expect(throws: SyncStorageError.self) { try await fixture.storage.tokenSigningSecret() }
            #expect(try Data(contentsOf: URL(fileURLWithPath: storage.tokenSecretPath)) == Data([1, 2, 3]))
        }
    }

    @Test("JWT shape decides between token and API key")
    func shape() {
        #expect(TokenAuthority.looksLikeToken("a.b.c"))
        #expect(TokenAuthority.looksLikeToken("a.b."))
        #expect(!TokenAuthority.looksLikeToken("csk_" + String(repeating: "0", count: 64)))
        #expect(!TokenAuthority.looksLikeToken("a.b"))
        #expect(!TokenAuthority.looksLikeToken("a..c"))
        #expect(!TokenAuthority.looksLikeToken("a.b.c.d"))
    }
}
