import CloudSyncCore

/// The token claims that `auth_userid()` and `auth_json()` return on one connection while a
/// token user's request is evaluated; both return NULL otherwise.
///
/// Not `Sendable`: belongs to one connection, which one worker uses at a time.
final class AuthFunctions {
    private(set) var claims: AccessClaims?

    /// Registers `auth_userid()` and `auth_json()` on the connection of `context`.
    init(registeringOn context: SyncContext) throws(CloudSyncError) {
        try CloudSyncEngine.registerFunction("auth_userid", arguments: 0, on: context) { _, _ in
            self.claims.map { .string($0.userID) } ?? .null
        }
        try CloudSyncEngine.registerFunction("auth_json", arguments: 0, on: context) { _, _ in
            self.claims.map { .string($0.json) } ?? .null
        }
    }

    /// Runs `body` with `claims` visible to the functions.
    func with<T>(_ claims: AccessClaims, _ body: () async throws -> T) async rethrows -> T {
        self.claims = claims
        defer { self.claims = nil }
        return try await body()
    }
}
