/// The change subscription, the push channel added to sync-protocol.md: a Server-Sent Events
/// stream that tells a device when the server holds changes it has not received and may see.
///
///     GET /v1/cloudsync/{database}/{site}/{dbversion}/{seq}/subscribe
///     Accept: text/event-stream
///
/// The path and credential are those of a check; the cursor is where the device's received
/// changes end. The stream carries no row data: an event only says "check now", and the device
/// fetches through the normal check, so its cursor decides what it gets. A server that supports
/// it names ``capability`` in every check answer's `Cloudsync-Capabilities`
/// (``WaitingCheck/capabilityHeader``).
public enum ChangeSubscription {
    /// The capability named in `Cloudsync-Capabilities`.
    public static let capability = "subscribe"
    /// The last path component, after the cursor.
    public static let pathSuffix = "subscribe"
    /// The stream's media type.
    public static let contentType = "text/event-stream"
    /// The event sent when changes wait for the device; its data is the cursor the server has
    /// looked up to, as `{"db_version":N,"seq":M}`.
    public static let changesEvent = "changes"

    /// Whether a `Cloudsync-Capabilities` value names the subscription.
    public static func isSupported(_ headerValue: String?) -> Bool {
        WaitingCheck.names(capability, in: headerValue)
    }
}
