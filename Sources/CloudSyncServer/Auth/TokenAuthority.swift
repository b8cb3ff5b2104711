import Foundation
import JWTKit

/// Issues, verifies and revokes access tokens: JWTs signed with HS256 and the storage's
/// signing secret (`SyncStorage.tokenSigningSecret()`), so that every server process sharing
/// a storage accepts the tokens any of them (or the CLI) issued.
///
/// A token carries the claims `sub` (user id), `name`, `attributes` (a JSON object), `exp`
/// (optional), `nbf`, `iat`, `jti` (a random UUID) and `db` (the one database it is valid
/// for). Each issued token is recorded in storage by its `jti`, which is what revocation
/// marks.
public struct TokenAuthority: Sendable {
    /// The one algorithm this server signs with and accepts. Anything else in a token's
    /// header is refused before its signature is even looked at: accepting the header's word
    /// for the algorithm is the classic JWT hole (`none`, or an HMAC made with a public key).
    public static let algorithm = "HS256"

    let storage: any SyncStorage

    /// An authority over the tokens of `storage`.
    public init(storage: any SyncStorage) {
        self.storage = storage
    }

    // MARK: Issue

    /// Issues a token for `userID` on `database` and records it, so that it can be revoked.
    ///
    /// - Parameters:
    ///   - database: the database the token is valid for; it must exist.
    ///   - userID: the user id policies see (`auth_userid()`); must not be empty.
    ///   - name: an optional display name.
    ///   - attributesJSON: a JSON object policies can read through `auth_json()`.
    ///   - expiresIn: lifetime in whole seconds (at least one); nil for a token that does not
    ///     expire (it can still be revoked).
    /// - Returns: the signed token (compact JWT).
    /// - Throws: `TokenError` for unusable arguments or an unknown database;
    ///   `SyncStorageError` when storage fails.
    public func issue(database: String, userID: String, name: String? = nil, attributesJSON: String = "{}", expiresIn: Duration? = nil) async throws -> String {
        try await issue(database: database, userID: userID, name: name, attributesJSON: attributesJSON, expiresIn: expiresIn, now: Date())
    }

    /// `issue` at a given time (tests).
    func issue(database: String, userID: String, name: String?, attributesJSON: String, expiresIn: Duration?, now: Date) async throws -> String {
        guard !userID.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw TokenError(.invalidRequest, "the user id must not be empty")
        }
        guard let attributes = JSONValue(parsing: attributesJSON), attributes.isObject else {
            throw TokenError(.invalidRequest, "attributes must be a JSON object, for example {\"team\": \"blue\"}")
        }
        var lifetime: Int64?
        if let expiresIn {
            let seconds = expiresIn.components.seconds
            guard seconds > 0 else { throw TokenError(.invalidRequest, "the expiry must be at least one second") }
            lifetime = seconds
        }
        guard try await storage.databaseExists(database) else {
            throw TokenError(.unknownDatabase, "database \(database) does not exist")
        }
        // Whole seconds: JWT times are NumericDates, and `auth_json()` shows `expires_at` as
        // an integer; truncating here keeps the signed value and the recorded one equal.
        let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let payload = AccessTokenPayload(
            subject: SubjectClaim(value: userID),
            name: name.flatMap { $0.isEmpty ? nil : $0 },
            attributes: attributes,
            expiration: lifetime.map { ExpirationClaim(value: issuedAt.addingTimeInterval(Double($0))) },
            notBefore: NotBeforeClaim(value: issuedAt),
            issuedAt: IssuedAtClaim(value: issuedAt),
            id: IDClaim(value: UUID().uuidString.lowercased()),
            database: database)
        let keys = try await keyCollection()
        // Recorded before it is handed out: every token in circulation can be revoked.
        try await storage.recordToken(payload.claims)
        return try await keys.sign(payload)
    }

    // MARK: Verify

    /// The claims of `token` if it is authentic, current, not revoked and valid for
    /// `database`.
    ///
    /// - Throws: `TokenError` naming what is wrong (malformed, algorithm, signature, expired,
    ///   not yet valid, revoked, other database); `SyncStorageError` when storage fails.
    public func verify(_ token: String, database: String) async throws -> AccessClaims {
        try await verify(token, database: database, now: Date())
    }

    /// `verify(_:database:)` at a given time (tests).
    func verify(_ token: String, database: String, now: Date) async throws -> AccessClaims {
        let claims = try await verify(token, now: now)
        try Self.checkScope(claims, database: database)
        return claims
    }

    /// The claims of `token` if it is authentic, current and not revoked, whatever its
    /// database. The HTTP layer checks the database separately (`checkScope`) so that only a
    /// valid credential learns whether a database exists.
    public func verify(_ token: String) async throws -> AccessClaims {
        try await verify(token, now: Date())
    }

    /// `verify(_:)` at a given time (tests).
    func verify(_ token: String, now: Date) async throws -> AccessClaims {
        let payload = try await authenticate(token)
        if let expiration = payload.expiration, now >= expiration.value {
            throw TokenError(.expired, "access token expired at \(Self.timestamp(expiration.value)): ask for a new one")
        }
        if now < payload.notBefore.value {
            throw TokenError(.notYetValid, "access token is not valid before \(Self.timestamp(payload.notBefore.value))")
        }
        if try await storage.isTokenRevoked(id: payload.id.value) {
            throw TokenError(.revoked, "access token was revoked")
        }
        return payload.claims
    }

    /// Throws `.wrongDatabase` unless `claims` were issued for `database`.
    public static func checkScope(_ claims: AccessClaims, database: String) throws {
        guard claims.database == database else {
            throw TokenError(.wrongDatabase, "this access token is not valid for database \(database.prefix(80))")
        }
    }

    // MARK: Revoke

    /// Revokes `token` from now on, on every server sharing this storage.
    ///
    /// The token must be authentic (signed by this server), but may have expired: revoking
    /// an expired token is harmless and saves the caller from checking first. Revoking a
    /// revoked token succeeds.
    ///
    /// - Throws: `TokenError` for a forged or malformed token; `SyncStorageError`
    ///   (`.unknownToken`) for an authentic token this storage has no record of.
    public func revoke(_ token: String) async throws {
        let payload = try await authenticate(token)
        try await storage.revokeToken(id: payload.id.value)
    }

    // MARK: Parts

    /// True when `credential` has the shape of a compact JWT: three dot-separated parts, the
    /// first two non-empty. API keys never contain a dot.
    public static func looksLikeToken(_ credential: some StringProtocol) -> Bool {
        let parts = credential.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && !parts[0].isEmpty && !parts[1].isEmpty
    }

    /// The payload of `token` once its algorithm and signature are checked; no time or
    /// revocation checks.
    func authenticate(_ token: String) async throws -> AccessTokenPayload {
        guard Self.looksLikeToken(token) else {
            throw TokenError(.malformed, "malformed access token: expected three base64url parts separated by dots")
        }
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        try Self.checkAlgorithm(header: segments[0])
        // Base64 leaves the low bits of the last character unused, so several spellings
        // decode to the same signature. Only the one the server writes is accepted: any
        // change to a token's text makes it invalid, as one would expect.
        let signature = segments[2]
        guard let decoded = Self.base64URLDecode(signature) else {
            throw TokenError(.malformed, "malformed access token: its signature is not base64url")
        }
        guard Self.base64URLEncode(decoded) == signature else {
            throw TokenError(.invalidSignature, "access token signature is not valid")
        }
        let keys = try await keyCollection()
        do {
            return try await keys.verify(token, as: AccessTokenPayload.self)
        } catch let error as TokenError {
            throw error
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw TokenError(.invalidSignature, "access token signature is not valid")
        } catch {
            // Undecodable signature or payload, missing claims: nothing a client can fix but
            // by getting a new token, so no more detail than this.
            throw TokenError(.malformed, "malformed access token: its signature or claims cannot be read")
        }
    }

    /// Refuses every header whose `alg` is not exactly `algorithm`.
    ///
    /// jwt-kit picks the key by `kid` and does not compare the header's `alg` with the key's
    /// algorithm, so without this check a token labelled HS384 (or anything) but signed
    /// HS256 would pass, and the label would lie.
    static func checkAlgorithm(header segment: Substring) throws {
        struct Header: Decodable { var alg: String? }
        guard let data = base64URLDecode(segment), let header = try? JSONDecoder().decode(Header.self, from: data) else {
            throw TokenError(.malformed, "malformed access token: its header is not base64url-encoded JSON")
        }
        guard let alg = header.alg else {
            throw TokenError(.unsupportedAlgorithm, "access token header names no algorithm; this server accepts only \(algorithm)")
        }
        guard alg == algorithm else {
            throw TokenError(.unsupportedAlgorithm, "access token algorithm '\(alg.prefix(32))' is not accepted; this server accepts only \(algorithm)")
        }
    }

    static func base64URLEncode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !base64.contains("=") else { return nil }
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }

    /// A key collection holding the signing secret.
    ///
    /// Built per call rather than shared: the secret itself is cached by the storage,
    /// building the collection is cheap next to the catalog lookup every verification does,
    /// and a shared collection (an actor) would make every request queue on one actor.
    private func keyCollection() async throws -> JWTKeyCollection {
        let secret = try await storage.tokenSigningSecret()
        let encoder = JSONEncoder()
        // Integer NumericDates, as most JWT tooling writes them; sorted keys so that the
        // same claims always give the same token text.
        encoder.dateEncodingStrategy = .integerSecondsSince1970
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, serializer: DefaultJWTSerializer(jsonEncoder: encoder))
        return keys
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
