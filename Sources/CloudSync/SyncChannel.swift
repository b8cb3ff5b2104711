/// The state of a background sync's live channel, for a UI's "live" indicator (see
/// ``SyncEvent/channel(_:)``).
public enum SyncChannel: String, Sendable, Equatable {
    /// A waiting check is open at the server: another device's change arrives within a
    /// fraction of a second.
    case live
    /// The server does not hold checks (an older server): changes arrive at the next
    /// interval or local write.
    case polling
    /// The server cannot be reached; the client retries with backoff and keeps local changes.
    case down
}
