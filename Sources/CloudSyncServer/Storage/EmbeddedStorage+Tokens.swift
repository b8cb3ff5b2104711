import CloudSyncCore

// Placeholder until tokens land; replaced by the token work.
extension EmbeddedStorage {
    public func tokenSigningSecret() async throws -> [UInt8] { throw SyncStorageError(.failure, "tokens are not available yet") }
    public func recordToken(_ claims: AccessClaims) async throws { throw SyncStorageError(.failure, "tokens are not available yet") }
    public func revokeToken(id tokenID: String) async throws { throw SyncStorageError(.unknownToken, "no such token") }
    public func isTokenRevoked(id tokenID: String) async throws -> Bool { true }
    public func bindSite(database: String, site: SiteID, userID: String) async throws -> Bool { false }
}
