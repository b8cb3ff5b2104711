/// Why an access token was refused, or could not be issued or revoked.
///
/// `message` is meant for the client or the administrator as it is: the HTTP layer sends it
/// as the body of the 401, and the CLI prints it on stderr.
public struct TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure: callers decide on it, never on the message.
    public enum Code: String, Sendable, Equatable {
        /// `issue` was given arguments it cannot use (empty user id, attributes that are not
        /// a JSON object, an expiry that is not positive).
        case invalidRequest
        /// `issue` for a database that does not exist.
        case unknownDatabase
        /// Not a JWT at all, or one whose header or claims cannot be read.
        case malformed
        /// A header naming an algorithm other than the one this server signs with (`none`
        /// included).
        case unsupportedAlgorithm
        /// A signature that does not match: tampered, or signed with another secret.
        case invalidSignature
        /// Past its `exp`.
        case expired
        /// Before its `nbf`.
        case notYetValid
        /// Revoked with `token revoke`.
        case revoked
        /// Issued for another database.
        case wrongDatabase
    }

    /// The kind of failure.
    public var code: Code
    /// One line saying what is wrong, for people.
    public var message: String

    /// An error of kind `code` explained by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
