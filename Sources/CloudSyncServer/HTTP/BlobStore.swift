import CloudSyncCore

/// The in-memory `BlobStorage` of a single server process (the embedded storage's).
///
/// Blobs are held in memory, with their total size bounded; expired ones are dropped on the
/// next blob operation.
actor BlobStore: BlobStorage {
    typealias Kind = BlobKind
    typealias Failure = BlobFailure

    enum State: Sendable, Equatable {
        /// Upload URL handed out; nothing PUT yet.
        case awaitingUpload
        /// A PUT is being received.
        case receiving
        /// Payload stored (upload) or built (download).
        case ready([UInt8])
        /// Upload merged (or being merged); the URL cannot be used again.
        case consumed
    }

    struct Entry {
        var kind: Kind
        var database: String
        var site: SiteID
        var expires: ContinuousClock.Instant
        var state: State
        /// A download page's last change: the page may go once its device checks past it.
        var last: SyncCursor?
        var size: Int { if case .ready(let bytes) = state { bytes.count } else { 0 } }
    }

    private let lifetime: Duration
    /// Used and expired tokens are remembered this long after expiry, so that a late use gets
    /// "already used"/"expired" instead of "unknown".
    private let tombstoneLifetime: Duration
    private let maxBytes: Int
    private var entries: [String: Entry] = [:]
    /// The download tokens of each device ("database/site"), for `releaseDownloads`.
    private var downloadsBySite: [String: [String]] = [:]
    private(set) var totalBytes = 0
    private let clock = ContinuousClock()
    private var lastSweep: ContinuousClock.Instant?

    init(lifetime: Duration, maxBytes: Int) {
        self.lifetime = lifetime
        self.tombstoneLifetime = max(lifetime, .seconds(60))
        self.maxBytes = maxBytes
    }

    var count: Int { entries.count }

    // MARK: Upload

    func issueUpload(database: String, site: SiteID) async -> String {
        sweep()
        let token = RandomToken.make()
        entries[token] = Entry(kind: .upload, database: database, site: site, expires: clock.now + lifetime, state: .awaitingUpload)
        return token
    }

    /// Claims an upload URL for a PUT: it must be unused and unexpired.
    func beginUpload(token: String) throws(Failure) {
        sweep()
        guard var entry = entries[token] else { throw .unknown }
        guard entry.kind == .upload else { throw .wrongKind(entry.kind) }
        guard clock.now < entry.expires else { throw .expired }
        guard entry.state == .awaitingUpload else { throw .alreadyUsed }
        entry.state = .receiving
        entries[token] = entry
    }

    /// Stores the PUT body of a claimed upload URL.
    func finishUpload(token: String, payload: [UInt8]) throws(Failure) {
        guard var entry = entries[token], entry.state == .receiving else { throw .unknown }
        if totalBytes + payload.count > maxBytes { sweep(force: true) }
        guard totalBytes + payload.count <= maxBytes else {
            entry.state = .awaitingUpload
            entries[token] = entry
            throw .full
        }
        entry.state = .ready(payload)
        entries[token] = entry
        totalBytes += payload.count
    }

    /// Gives a claimed upload URL back after a failed PUT, so the client may retry it.
    func abortUpload(token: String) {
        guard var entry = entries[token], entry.state == .receiving else { return }
        entry.state = .awaitingUpload
        entries[token] = entry
    }

    /// Takes the payload PUT at an upload URL, for the notify of `database`/`site`; the URL
    /// is used up.
    func takeUpload(token: String, database: String, site: SiteID) throws(Failure) -> [UInt8] {
        guard var entry = entries[token] else { throw .unknown }
        guard entry.kind == .upload else { throw .wrongKind(entry.kind) }
        guard entry.database == database, entry.site == site else { throw .wrongScope }
        guard clock.now < entry.expires else { throw .expired }
        switch entry.state {
        case .awaitingUpload, .receiving: throw .notUploaded
        case .consumed: throw .alreadyUsed
        case .ready(let payload):
            totalBytes -= payload.count
            entry.state = .consumed
            entries[token] = entry
            return payload
        }
    }

    // MARK: Download

    func storeDownload(database: String, site: SiteID, payload: [UInt8]) throws(Failure) -> String {
        try storeDownload(database: database, site: site, payload: payload, last: nil)
    }

    func storeDownload(database: String, site: SiteID, payload: [UInt8], last: SyncCursor) throws(Failure) -> String {
        try storeDownload(database: database, site: site, payload: payload, last: Optional(last))
    }

    private func storeDownload(database: String, site: SiteID, payload: [UInt8], last: SyncCursor?) throws(Failure) -> String {
        sweep()
        if totalBytes + payload.count > maxBytes { sweep(force: true) }
        guard totalBytes + payload.count <= maxBytes else { throw .full }
        let token = RandomToken.make()
        entries[token] = Entry(kind: .download, database: database, site: site, expires: clock.now + lifetime, state: .ready(payload), last: last)
        totalBytes += payload.count
        if last != nil { downloadsBySite[database + "/" + site.hex, default: []].append(token) }
        return token
    }

    /// Drops the bytes of `site`'s pages that end at or before `cursor`: a device checks with
    /// a cursor only after merging everything before it. Without this, a device catching up
    /// through download URLs (clients that do not take pages inline) would keep every page it
    /// was given in memory for the blob lifetime.
    func releaseDownloads(database: String, site: SiteID, through cursor: SyncCursor) {
        let key = database + "/" + site.hex
        guard let tokens = downloadsBySite[key] else { return }
        var kept: [String] = []
        for token in tokens {
            guard var entry = entries[token] else { continue }
            guard let last = entry.last, last <= cursor else {
                kept.append(token)
                continue
            }
            totalBytes -= entry.size
            entry.state = .consumed
            entries[token] = entry
        }
        downloadsBySite[key] = kept.isEmpty ? nil : kept
    }

    func download(token: String) throws(Failure) -> [UInt8] {
        guard let entry = entries[token] else { throw .unknown }
        guard entry.kind == .download else { throw .wrongKind(entry.kind) }
        guard clock.now < entry.expires, case .ready(let payload) = entry.state else { throw .expired }
        return payload
    }

    // MARK: Expiry

    /// Drops the bytes of expired blobs, and forgets tokens long past expiry.
    func sweep(force: Bool = false) {
        let now = clock.now
        // A full pass at most once a second.
        if !force, let lastSweep, now < lastSweep + .seconds(1) { return }
        lastSweep = now
        for (token, entry) in entries where entry.expires <= now {
            if entry.expires + tombstoneLifetime <= now {
                totalBytes -= entry.size
                entries[token] = nil
                if entry.last != nil {
                    let key = entry.database + "/" + entry.site.hex
                    downloadsBySite[key]?.removeAll { $0 == token }
                    if downloadsBySite[key]?.isEmpty == true { downloadsBySite[key] = nil }
                }
            } else if entry.size > 0 {
                totalBytes -= entry.size
                var expired = entry
                expired.state = .consumed
                entries[token] = expired
            }
        }
    }
}
