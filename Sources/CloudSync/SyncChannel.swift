/// The state of a background sync's live channel, for a UI's "live" indicator (see
/// ``SyncEvent/channel(_:)``).
public enum SyncChannel: String, Sendable, Equatable {
    /// A change subscription (or, with a server without subscriptions, a waiting check) is
    /// open at the server: another device's change arrives within a fraction of a second.
    case live
    /// The server neither takes subscriptions nor holds checks (an older server): changes
    /// arrive at the next interval or local write.
    case polling
    /// The server cannot be reached; the client retries with backoff and keeps local changes.
    case down
}
