import CloudSyncCore
import Crypto
import Foundation
import Synchronization
import Testing

@testable import CloudSyncServer

extension ServerFixture {
    /// The token authority of the fixture's storage.
    var tokens: TokenAuthority { TokenAuthority(storage: storage) }

    /// A token for `user` on the todo database, issued `now`.
    func token(for user: String, database: String = ServerFixture.database, expiresIn: Duration? = nil, now: Date = Date()) async throws -> String {
        try await tokens.issue(database: database, userID: user, name: nil, attributesJSON: "{}", expiresIn: expiresIn, now: now)
    }
}

/// Expects `body` to throw a `TokenError` with `code`.
func expectTokenError<T>(_ code: TokenError.Code, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async {
    do {
        _ = try await body()
        Issue.record("expected TokenError.\(code), nothing was thrown \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    } catch let error as TokenError {
        #expect(error.code == code, comment, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected TokenError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Takes JWTs apart and puts them back together, to build the tokens an attacker would send.
enum JWTParts {
    /// The three base64url segments.
    static func split(_ token: String) -> [String] {
        token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func encode(json object: [String: Any]) throws -> String {
        encode(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// A segment decoded as a JSON object.
    static func decodeObject(_ segment: String) throws -> [String: Any] {
        guard let data = TokenAuthority.base64URLDecode(Substring(segment)),
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw TestFailure("not a base64url JSON object: \(segment)") }
        return object
    }

    /// `header.payload.signature` with an HMAC over `header.payload`, whatever the header
    /// says: the test decides which hash and which secret.
    static func signed(header: [String: Any], payload: String, secret: [UInt8], sha384: Bool = false) throws -> String {
        let input = try encode(json: header) + "." + payload
        let key = SymmetricKey(data: secret)
        let mac: [UInt8] = sha384
            ? Array(HMAC<SHA384>.authenticationCode(for: Array(input.utf8), using: key))
            : Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key))
        return input + "." + encode(mac)
    }
}

/// A storage that forwards to another and records the principal of every merge and changes
/// call, to see what the HTTP layer decided a credential is.
final class RecordingStorage: SyncStorage {
    let base: any SyncStorage
    private let recorded = Mutex<[Principal]>([])

    init(_ base: any SyncStorage) { self.base = base }

    var principals: [Principal] { recorded.withLock { $0 } }

    func isHealthy() async -> Bool { await base.isHealthy() }
    func databaseExists(_ name: String) async throws -> Bool { try await base.databaseExists(name) }
    func createDatabase(name: String, schema: String, tables: [String]?) async throws -> [String] {
        try await base.createDatabase(name: name, schema: schema, tables: tables)
    }
    func listDatabases() async throws -> [String] { try await base.listDatabases() }
    func merge(database: String, site: SiteID, payload: [UInt8], as principal: Principal) async throws -> MergeResult {
        recorded.withLock { $0.append(principal) }
        return try await base.merge(database: database, site: site, payload: payload, as: principal)
    }
    func changes(database: String, excludingSite site: SiteID, after cursor: SyncCursor, limit: Int, options: ChangesPageOptions, as principal: Principal) async throws -> ChangesPage? {
        recorded.withLock { $0.append(principal) }
        return try await base.changes(database: database, excludingSite: site, after: cursor, limit: limit, options: options, as: principal)
    }
    func recordSendWindow(database: String, site: SiteID, window: ClosedRange<Int64>) async throws -> Int64 {
        try await base.recordSendWindow(database: database, site: site, window: window)
    }
    func sendCursor(database: String, site: SiteID) async throws -> Int64 { try await base.sendCursor(database: database, site: site) }
    func tokenSigningSecret() async throws -> [UInt8] { try await base.tokenSigningSecret() }
    func recordToken(_ claims: AccessClaims) async throws { try await base.recordToken(claims) }
    func revokeToken(id tokenID: String) async throws { try await base.revokeToken(id: tokenID) }
    func isTokenRevoked(id tokenID: String) async throws -> Bool { try await base.isTokenRevoked(id: tokenID) }
    func bindSite(database: String, site: SiteID, userID: String) async throws -> Bool {
        try await base.bindSite(database: database, site: site, userID: userID)
    }
    func setPolicy(_ policy: TablePolicy, database: String) async throws { try await base.setPolicy(policy, database: database) }
    func policies(database: String, table: String?) async throws -> [TablePolicy] { try await base.policies(database: database, table: table) }
    func disablePolicy(database: String, table: String) async throws { try await base.disablePolicy(database: database, table: table) }
    func setBlockColumn(database: String, table: String, column: String, delimiter: String) async throws {
        try await base.setBlockColumn(database: database, table: table, column: column, delimiter: delimiter)
    }
    func blockColumns(database: String) async throws -> [BlockColumnSetting] { try await base.blockColumns(database: database) }
    func createAPIKey(database: String) async throws -> String { try await base.createAPIKey(database: database) }
    func revokeAPIKey(_ key: String) async throws { try await base.revokeAPIKey(key) }
    func verifyAPIKey(_ key: String) async throws -> APIKeyGrant? { try await base.verifyAPIKey(key) }
    func makeBlobStorage(lifetime: Duration, maxBytes: Int) -> any BlobStorage { base.makeBlobStorage(lifetime: lifetime, maxBytes: maxBytes) }
    func close() async { await base.close() }
}
