/// Check answers that carry the page itself, an extension of sync-protocol.md's check that old
/// peers ignore: a client that sends ``requestHeader`` (the largest payload it takes inline, in
/// bytes) may get the payload as the answer's body, marked by ``responseHeader``, instead of a
/// download URL, saving the second round trip. Without the header, or from an old server, the
/// answer is the URL as always.
public enum InlineCheck {
    /// Request header: the largest payload, in bytes, the client accepts in the check's answer.
    public static let requestHeader = "Cloudsync-Inline-Max"
    /// Response header whose value ``responseValue`` says the body is the payload itself.
    public static let responseHeader = "Cloudsync-Payload"
    public static let responseValue = "inline"
    /// What this project's clients accept inline: more than a server's page, bounded by bytes
    /// (4 MiB by default), takes, so pages come inline; a larger page still comes by URL.
    public static let clientMaximum = 8 << 20
}
