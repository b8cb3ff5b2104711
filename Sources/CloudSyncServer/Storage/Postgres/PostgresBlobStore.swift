import CloudSyncCore
import NIOCore
import PostgresNIO
import Synchronization

/// Blob URLs kept in `cloudsync.blobs`, so that the requests of one transfer may reach any
/// server instance. State changes are single conditional UPDATEs, so two instances can never
/// both claim or consume one token.
final class PostgresBlobStore: BlobStorage {
    let storage: PostgresStorage
    let lifetime: Duration
    let maxBytes: Int
    private let lastSweep = Mutex<ContinuousClock.Instant?>(nil)

    init(storage: PostgresStorage, lifetime: Duration, maxBytes: Int) {
        self.storage = storage
        self.lifetime = lifetime
        self.maxBytes = maxBytes
    }

    private var seconds: Double {
        Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) / 1e18
    }

    private func site(_ site: SiteID) -> ByteBuffer { ByteBuffer(bytes: site.bytes) }

    func issueUpload(database: String, site: SiteID) async throws -> String {
        try await sweep()
        let token = RandomToken.make()
        _ = try await storage.rows("""
            INSERT INTO cloudsync.blobs(token, kind, database, site, state, expires_at)
            VALUES (\(token), 'upload', \(database), \(self.site(site)), 'awaiting', now() + make_interval(secs => \(seconds)))
            """)
        return token
    }

    func beginUpload(token: String) async throws {
        let claimed = try await storage.rows("""
            UPDATE cloudsync.blobs SET state = 'receiving'
            WHERE token = \(token) AND kind = 'upload' AND state = 'awaiting' AND expires_at > now() RETURNING 1
            """)
        guard claimed.isEmpty else { return }
        throw try await failure(token, expecting: .upload)
    }

    func finishUpload(token: String, payload: [UInt8]) async throws {
        guard try await pendingBytes() + payload.count <= maxBytes else {
            await abortUpload(token: token)
            throw BlobFailure.full
        }
        let stored = try await storage.rows("""
            UPDATE cloudsync.blobs SET state = 'ready', payload = \(ByteBuffer(bytes: payload))
            WHERE token = \(token) AND state = 'receiving' RETURNING 1
            """)
        guard !stored.isEmpty else { throw BlobFailure.unknown }
    }

    func abortUpload(token: String) async {
        _ = try? await storage.rows("UPDATE cloudsync.blobs SET state = 'awaiting' WHERE token = \(token) AND state = 'receiving'")
    }

    func takeUpload(token: String, database: String, site: SiteID) async throws -> [UInt8] {
        let taken = try await storage.rows("""
            UPDATE cloudsync.blobs b SET state = 'consumed', payload = NULL
            FROM (SELECT payload FROM cloudsync.blobs WHERE token = \(token) FOR UPDATE) old
            WHERE b.token = \(token) AND b.kind = 'upload' AND b.database = \(database) AND b.site = \(self.site(site))
              AND b.state = 'ready' AND b.expires_at > now()
            RETURNING old.payload
            """)
        if let row = taken.first {
            return Array(try row.decode(ByteBuffer.self).readableBytesView)
        }
        guard let row = try await storage.rows("SELECT kind, database, site, state, expires_at > now() FROM cloudsync.blobs WHERE token = \(token)").first else {
            throw BlobFailure.unknown
        }
        let (kind, owner, ownerSite, state, live) = try row.decode((String, String, ByteBuffer, String, Bool).self)
        guard kind == "upload" else { throw BlobFailure.wrongKind(.download) }
        guard owner == database, Array(ownerSite.readableBytesView) == site.bytes else { throw BlobFailure.wrongScope }
        guard live else { throw BlobFailure.expired }
        throw state == "consumed" ? BlobFailure.alreadyUsed : BlobFailure.notUploaded
    }

    func storeDownload(database: String, site: SiteID, payload: [UInt8]) async throws -> String {
        try await sweep()
        guard try await pendingBytes() + payload.count <= maxBytes else { throw BlobFailure.full }
        let token = RandomToken.make()
        _ = try await storage.rows("""
            INSERT INTO cloudsync.blobs(token, kind, database, site, state, payload, expires_at)
            VALUES (\(token), 'download', \(database), \(self.site(site)), 'ready', \(ByteBuffer(bytes: payload)), now() + make_interval(secs => \(seconds)))
            """)
        return token
    }

    func storeDownload(database: String, site: SiteID, payload: [UInt8], last: SyncCursor) async throws -> String {
        try await storeDownload(database: database, site: site, payload: payload)
    }

    /// Pages are rows of PostgreSQL, not server memory: they stay until they expire.
    func releaseDownloads(database: String, site: SiteID, through cursor: SyncCursor) async {}

    func download(token: String) async throws -> [UInt8] {
        guard let row = try await storage.rows("SELECT kind, payload, expires_at > now() FROM cloudsync.blobs WHERE token = \(token)").first else {
            throw BlobFailure.unknown
        }
        let (kind, payload, live) = try row.decode((String, ByteBuffer?, Bool).self)
        guard kind == "download" else { throw BlobFailure.wrongKind(.upload) }
        guard live, let payload else { throw BlobFailure.expired }
        return Array(payload.readableBytesView)
    }

    private func failure(_ token: String, expecting kind: BlobKind) async throws -> BlobFailure {
        guard let row = try await storage.rows("SELECT kind, state, expires_at > now() FROM cloudsync.blobs WHERE token = \(token)").first else {
            return .unknown
        }
        let (storedKind, state, live) = try row.decode((String, String, Bool).self)
        if storedKind != (kind == .upload ? "upload" : "download") { return .wrongKind(kind == .upload ? .download : .upload) }
        if !live { return .expired }
        return state == "awaiting" ? .unknown : .alreadyUsed
    }

    private func pendingBytes() async throws -> Int {
        let row = try await storage.rows("SELECT COALESCE(sum(length(payload)), 0)::bigint FROM cloudsync.blobs WHERE payload IS NOT NULL AND expires_at > now()").first
        return Int(try row?.decode(Int64.self) ?? 0)
    }

    /// Drops payloads of expired blobs, and rows a minute after expiry (a late use then gets
    /// "unknown" rather than "expired").
    /// At most once a second per instance: it is housekeeping, not needed for correctness
    /// (every read checks `expires_at`).
    private func sweep() async throws {
        let now = ContinuousClock.now
        let due = lastSweep.withLock { last in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        _ = try await storage.rows("DELETE FROM cloudsync.blobs WHERE expires_at < now() - interval '1 minute'")
        _ = try await storage.rows("UPDATE cloudsync.blobs SET payload = NULL WHERE expires_at < now() AND payload IS NOT NULL")
    }
}
