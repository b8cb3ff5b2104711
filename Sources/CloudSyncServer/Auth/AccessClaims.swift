import Foundation

/// What a verified access token says about its bearer: the identity that Row-Level Security
/// policies see through `auth_userid()` and `auth_json()`.
public struct AccessClaims: Sendable, Equatable {
    /// The user the token was issued to (`auth_userid()`).
    public var userID: String
    /// A display name, if the token has one.
    public var name: String?
    /// Free-form JSON object given at `token create --attributes` (`{}` when none).
    public var attributesJSON: String
    /// Expiry, in seconds since 1970, if the token expires.
    public var expiresAt: Int64?
    /// The database the token is valid for.
    public var database: String
    /// The token's unique id (`jti`), used for revocation.
    public var tokenID: String

    public init(userID: String, name: String? = nil, attributesJSON: String = "{}", expiresAt: Int64? = nil, database: String, tokenID: String) {
        self.userID = userID
        self.name = name
        self.attributesJSON = attributesJSON
        self.expiresAt = expiresAt
        self.database = database
        self.tokenID = tokenID
    }

    /// The value of `auth_json()`: `{"user_id", "name", "attributes", "expires_at"}`.
    public var json: String {
        var object = "{\"user_id\":" + Self.quoted(userID)
        object += ",\"name\":" + (name.map(Self.quoted) ?? "null")
        object += ",\"attributes\":" + attributesJSON
        object += ",\"expires_at\":" + (expiresAt.map(String.init) ?? "null") + "}"
        return object
    }

    /// The claims a policy can depend on, without the expiry: when it differs from the one
    /// a user's visibility was computed with, that visibility is computed again.
    /// A JSON array, so that it is valid text for either storage.
    var policyInputs: String {
        "[" + Self.quoted(userID) + "," + (name.map(Self.quoted) ?? "null") + "," + attributesJSON + "]"
    }

    private static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])) ?? Data("[\"\"]".utf8)
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
