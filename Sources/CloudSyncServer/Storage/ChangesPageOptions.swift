import CloudSyncCore

/// How a download page is shaped for the protocol of the client that asked.
public struct ChangesPageOptions: Sendable, Hashable {
    /// The payload format (and so the schema hash) the page is written in.
    public var format: PayloadFormat
    /// Whether the page must end on a whole server `db_version`: it may then pass the limit to
    /// finish the version of its last change. sqlite-sync 1.1.x resumes on `db_version` alone
    /// (sync-protocol-v2.md §6.4).
    public var wholeVersions: Bool
    /// No change is added to the page once its uncompressed body holds this many bytes (a
    /// single larger change still makes a page, and whole versions still finish their
    /// version): the memory a page costs the server and the client follows from its bytes,
    /// which a change count alone does not bound when values are large.
    public var maxBytes: Int

    public init(format: PayloadFormat = .v1, wholeVersions: Bool = false, maxBytes: Int = .max) {
        self.format = format
        self.wholeVersions = wholeVersions
        self.maxBytes = maxBytes
    }

    /// These options with a page bounded to `maxBytes`.
    public func bounded(to maxBytes: Int) -> ChangesPageOptions {
        var options = self
        options.maxBytes = maxBytes
        return options
    }

    /// Protocol-v1 clients (sqlite-sync 0.8 and this project's devices): version 1 with the
    /// 0.8 text hash, the only format 0.8 reads.
    public static let v1Clients = ChangesPageOptions()
    /// Protocol-v2 clients (sqlite-sync 1.x): version 2 with the structural hash, whole
    /// versions.
    public static let v2Clients = ChangesPageOptions(format: .v2, wholeVersions: true)
}
