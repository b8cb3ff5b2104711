import Foundation
import JWTKit

/// The claims of an access token, as they are signed.
///
///     sub         the user id (`auth_userid()`)
///     name        optional display name
///     attributes  free-form JSON object
///     exp         optional expiry (seconds since 1970)
///     nbf, iat    issue time
///     jti         random UUID, the key for revocation
///     db          the one database the token is valid for
struct AccessTokenPayload: JWTPayload, Equatable {
    var subject: SubjectClaim
    var name: String?
    var attributes: JSONValue
    var expiration: ExpirationClaim?
    var notBefore: NotBeforeClaim
    var issuedAt: IssuedAtClaim
    var id: IDClaim
    var database: String

    enum CodingKeys: String, CodingKey {
        case subject = "sub"
        case name
        case attributes
        case expiration = "exp"
        case notBefore = "nbf"
        case issuedAt = "iat"
        case id = "jti"
        case database = "db"
    }

    /// Checks only what does not depend on the clock: expiry and not-before are checked by
    /// `TokenAuthority` against its own notion of now, which tests can set.
    func verify(using algorithm: some JWTAlgorithm) async throws {
        guard !subject.value.isEmpty, !id.value.isEmpty, !database.isEmpty, attributes.isObject else {
            throw TokenError(.malformed, "malformed access token: missing or empty claims")
        }
    }

    /// What the rest of the server sees of a verified token.
    var claims: AccessClaims {
        AccessClaims(
            userID: subject.value,
            name: name,
            attributesJSON: attributes.compactText,
            expiresAt: expiration.map { Int64($0.value.timeIntervalSince1970.rounded(.down)) },
            database: database,
            tokenID: id.value)
    }
}
