/// The waiting check, an extension of sync-protocol.md's check that old peers ignore.
///
/// A client that wants to wait for changes sends ``requestHeader`` with the milliseconds it is
/// willing to wait. A server that supports it answers every check with ``capabilityHeader``
/// naming ``capability``; when it has nothing to return it holds the answer until a change
/// this device may see arrives or the time is up. An old server ignores the header and
/// answers at once, without the capability, and the client falls back to waiting between
/// checks itself.
public enum WaitingCheck {
    /// Request header: how long the client accepts to wait, in milliseconds.
    public static let requestHeader = "Cloudsync-Wait-Ms"
    /// Response header listing what the server supports, comma-separated.
    public static let capabilityHeader = "Cloudsync-Capabilities"
    /// The capability of the waiting check.
    public static let capability = "wait-check"

    /// Whether a response's ``capabilityHeader`` value names the waiting check.
    public static func isSupported(_ headerValue: String?) -> Bool {
        names(capability, in: headerValue)
    }

    /// Whether a ``capabilityHeader`` value (comma-separated) names `capability`.
    public static func names(_ capability: String, in headerValue: String?) -> Bool {
        guard let headerValue else { return false }
        return headerValue.split(separator: ",").contains { $0.filter { !$0.isWhitespace } == capability }
    }
}
