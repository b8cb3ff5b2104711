import CloudSyncCore

/// Blob URLs: capabilities for the two transfers that carry no credential (sync-protocol.md).
///
/// A token is 256 random bits. An upload token is bound to one database and site, accepts
/// one PUT, and is consumed by the one notify that merges it. A download token holds one
/// built page of changes and can be fetched until it expires, or (the in-memory store) until
/// its device checks with a cursor past the page. Both expire after the
/// configured lifetime. Failures are `BlobFailure`s.
///
/// The three requests of one upload, and the check and GET of one download, may reach
/// different server instances: a storage shared by several instances provides a shared
/// implementation (`SyncStorage.makeBlobStorage`).
public protocol BlobStorage: Sendable {
    /// A new upload URL token for `database` and `site`.
    func issueUpload(database: String, site: SiteID) async throws -> String
    /// Claims an upload token for a PUT: it must be unused and unexpired.
    func beginUpload(token: String) async throws
    /// Stores the PUT body of a claimed upload token.
    func finishUpload(token: String, payload: [UInt8]) async throws
    /// Gives a claimed upload token back after a failed PUT, so the client may retry it.
    func abortUpload(token: String) async
    /// Takes the payload PUT with an upload token, for the notify of `database`/`site`; the
    /// token is used up.
    func takeUpload(token: String, database: String, site: SiteID) async throws -> [UInt8]
    /// Stores a built download page; returns its token.
    func storeDownload(database: String, site: SiteID, payload: [UInt8]) async throws -> String
    /// Stores a built download page whose last change is at `last`; returns its token.
    func storeDownload(database: String, site: SiteID, payload: [UInt8], last: SyncCursor) async throws -> String
    /// `site` checked with cursor `cursor`: it has merged every page up to there, so their
    /// bytes may go before they expire (a later GET of one answers as for an expired URL).
    func releaseDownloads(database: String, site: SiteID, through cursor: SyncCursor) async
    /// The page stored under a download token.
    func download(token: String) async throws -> [UInt8]
}

/// What a blob token is for.
public enum BlobKind: Sendable, Equatable {
    case upload, download
}

/// Why a blob operation failed; shown to clients as an HTTP error.
public enum BlobFailure: Error, Equatable, Sendable {
    case unknown
    case expired
    case alreadyUsed
    case notUploaded
    case wrongKind(BlobKind)
    case wrongScope
    case full
}
