/// A storage whose databases change outside this process: other server instances and other
/// programs writing the same PostgreSQL. The server listens to it so that waiting checks wake
/// for those changes as for its own merges.
public protocol ExternalChangeSource: Sendable {
    /// Reports changes until cancelled or the connection fails (then it throws and is called
    /// again). Calls `connected` once listening, after which `changed` gets the name of each
    /// database that changed.
    func watchChanges(connected: @escaping @Sendable () -> Void, changed: @escaping @Sendable (String) -> Void) async throws
}
