/// How a ``SyncClient`` authenticates to the server.
///
/// ```swift
/// .apiKey("csk_...")                                   // full access (tools, tests)
/// .token(currentToken) { try await auth.refreshToken() } // a user's expiring token
/// ```
public struct SyncCredential: Sendable {
    /// Returns a fresh token; called when the server answers HTTP 401.
    public typealias Refresh = @Sendable () async throws -> String

    enum Kind: Sendable {
        case apiKey(String)
        case token(String, refresh: Refresh?)
    }

    let kind: Kind

    /// An API key (`cloudsync-server apikey create`).
    public static func apiKey(_ key: String) -> SyncCredential {
        SyncCredential(kind: .apiKey(key))
    }

    /// An access token, and optionally how to get a new one when it expires: on an HTTP 401
    /// the client calls `refresh` once, then repeats the request with the new token.
    public static func token(_ token: String, refresh: Refresh? = nil) -> SyncCredential {
        SyncCredential(kind: .token(token, refresh: refresh))
    }

    var initialBearer: String {
        switch kind {
        case .apiKey(let key): key
        case .token(let token, _): token
        }
    }

    var refresh: Refresh? {
        if case .token(_, let refresh) = kind { return refresh }
        return nil
    }
}
