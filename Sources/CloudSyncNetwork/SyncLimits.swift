/// The bounds both clients put on one operation, under the same names.
package enum SyncLimits {
    /// Local changes per uploaded payload; a larger backlog goes in several. A page may pass
    /// it to end on a whole db_version (protocol v2 announces whole versions).
    package static let defaultMaxChangesPerUpload = 10_000
    /// Bytes of changes (uncompressed) per uploaded payload: with large values, a count alone
    /// would let one payload pass the server's body limit (32 MiB by default) and the memory
    /// both ends spend on it. A single larger change still goes, alone.
    package static let defaultMaxBytesPerUpload = 4 << 20
    /// Payloads downloaded per check round, a bound on one call's work (the server pages its
    /// backlog; what is left comes with the next check).
    package static let defaultMaxDownloadsPerCheck = 1_000
    /// Protocol v2: pages up to this size go inline in `/apply` (sync-protocol-v2.md §5.1, the
    /// threshold of sqlite-sync 1.1.x), larger ones by upload URL.
    package static let v2InlineApplyMaximum = 131_072
}
