/// Who is behind a sync request.
public enum Principal: Sendable, Equatable {
    /// An API key: the administrator's credential, which bypasses Row-Level Security.
    case administrator
    /// An access token's user, subject to the database's Row-Level Security policies.
    case user(AccessClaims)

    /// The token's claims, nil for the administrator.
    public var claims: AccessClaims? {
        if case .user(let claims) = self { return claims }
        return nil
    }
}
