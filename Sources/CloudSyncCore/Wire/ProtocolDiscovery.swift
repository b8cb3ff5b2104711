/// How this project's clients learn that a server speaks protocol v2 (sync-protocol-v2.md)
/// and how they ask it for exact check cursors; an extension of both protocols that other
/// peers ignore.
///
/// A server that serves v2 names ``capability`` in the `Cloudsync-Capabilities` header
/// (``WaitingCheck/capabilityHeader``) of its v1 answers (upload URL, upload confirmation,
/// check). A client that sees it switches to v2 and remembers so; one that never sees it (an
/// older server) stays on v1.
public enum ProtocolDiscovery {
    /// The token in `Cloudsync-Capabilities`.
    public static let capability = "protocol-v2"
    /// A token of the v2 request header `X-CloudSync-Capabilities` on `/check`: the client's
    /// `seq` is the exact position of the last change it merged, which may lie inside a
    /// db_version (pages of v1), so the server must resume after `(dbVersion, seq)` rather than
    /// after the whole `dbVersion` as it does for sqlite-sync 1.1.x.
    public static let exactCursor = "check-exact-cursor"

    /// Whether a `Cloudsync-Capabilities` value names protocol v2.
    public static func isOffered(_ headerValue: String?) -> Bool {
        WaitingCheck.names(capability, in: headerValue)
    }
}
