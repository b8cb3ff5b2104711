import CloudSyncCore

// Codes of failures only a networked client has; the extension's functions and the Swift
// API report the same ones.
extension CloudSyncError.Code {
    /// The server refused the credential (HTTP 401 or 403), after a token refresh if one was
    /// possible.
    public static let unauthorized = Self(rawValue: "unauthorized")
    /// The operation was cancelled (its task was cancelled, or the client stopped).
    public static let cancelled = Self(rawValue: "cancelled")
}
