/// The bounds both clients put on one operation, under the same names.
package enum SyncLimits {
    /// Local changes per uploaded payload; a larger backlog goes in several.
    package static let defaultMaxChangesPerUpload = 10_000
    /// Payloads downloaded per check round, a bound on one call's work (the server pages its
    /// backlog; what is left comes with the next check).
    package static let defaultMaxDownloadsPerCheck = 1_000
}
