import CloudSyncCore
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Access tokens in the embedded storage.
///
///     DATA/token-secret          32 random bytes (mode 0600): the HS256 signing secret
///     catalog access_tokens      every issued token by id (jti), with its revocation time
///     catalog site_bindings      which user a (database, site) belongs to
extension EmbeddedStorage {
    /// The signing secret's file name in the data directory.
    static let tokenSecretFileName = "token-secret"
    /// Bytes in the signing secret: 256 bits, as large as the HS256 output (RFC 7518 3.2).
    static let tokenSecretLength = 32

    /// `DATA/token-secret`.
    public var tokenSecretPath: String {
        directory.appendingPathComponent(Self.tokenSecretFileName).path
    }

    /// The signing secret, from `DATA/token-secret`, which is created on first use. Read
    /// once per storage instance, then cached.
    public func tokenSigningSecret() async throws -> [UInt8] {
        if let cached = tokenSecret.withLock({ $0 }) { return cached }
        let path = tokenSecretPath
        let (secret, created) = try await Blocking.run { try Self.loadOrCreateSecret(at: path) }
        if created { logger.info("created the token signing secret", metadata: ["path": "\(path)"]) }
        return tokenSecret.withLock { cached in
            if let cached { return cached }
            cached = secret
            return secret
        }
    }

    public func recordToken(_ claims: AccessClaims) async throws {
        try await catalog.run { connection in
            try Self.engineCall {
                try connection.connection.run(
                    "INSERT INTO access_tokens(token_id, database, user_id, name, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    [.string(claims.tokenID), .string(claims.database), .string(claims.userID),
                     claims.name.map(SQLValue.string) ?? .null, claims.expiresAt.map(SQLValue.integer) ?? .null])
            }
        }
        AuditLog(logger: logger).issuedToken(claims)
    }

    public func revokeToken(id tokenID: String) async throws {
        let found = try await catalog.run { connection in
            try Self.engineCall { () throws -> Bool in
                try connection.connection.run(
                    "UPDATE access_tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE token_id = ?1 AND revoked_at IS NULL",
                    [.string(tokenID)])
                if connection.connection.changes > 0 { return true }
                // Revoking a revoked token is not an error.
                return try connection.connection.scalar("SELECT 1 FROM access_tokens WHERE token_id = ?1", [.string(tokenID)]) != nil
            }
        }
        guard found else { throw SyncStorageError(.unknownToken, "no such access token") }
        AuditLog(logger: logger).revokedToken(id: tokenID)
    }

    /// Also true for an id that was never recorded: a correctly signed token this catalog
    /// does not know (a catalog restored from an old backup, say) is refused, not trusted.
    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        try await catalog.run { connection in
            try Self.engineCall { () throws -> Bool in
                guard let revokedAt = try connection.connection.scalar("SELECT revoked_at FROM access_tokens WHERE token_id = ?1", [.string(tokenID)]) else {
                    return true
                }
                return revokedAt != .null
            }
        }
    }

    public func bindSite(database: String, site: SiteID, userID: String) async throws -> Bool {
        try await catalog.run { connection in
            try Self.engineCall { () throws -> Bool in
                // The first user wins, also against another process on the same catalog:
                // the insert is atomic, and whoever loses reads the winner back.
                try connection.connection.run(
                    "INSERT OR IGNORE INTO site_bindings(database, site, user_id) VALUES (?1, ?2, ?3)",
                    [.string(database), .string(site.hex), .string(userID)])
                let owner = try connection.connection.scalar(
                    "SELECT user_id FROM site_bindings WHERE database = ?1 AND site = ?2", [.string(database), .string(site.hex)])
                return owner?.stringValue == userID
            }
        }
    }

    // MARK: Secret file

    /// Reads the secret at `path`, creating it first if there is none. Returns it and
    /// whether this call created it.
    ///
    /// Safe when several processes (a server and the CLI, two servers) start at once: each
    /// writes a complete candidate to its own temporary file and links it to `path`; link
    /// fails if `path` exists, so exactly one candidate becomes the secret, it is never seen
    /// half written, and everyone reads back that one.
    static func loadOrCreateSecret(at path: String) throws -> (secret: [UInt8], created: Bool) {
        if let existing = try readSecret(at: path) { return (existing, false) }
        let temporary = path + ".\(RandomToken.make().prefix(12)).tmp"
        defer { unlink(temporary) }
        try writeNewFile(at: temporary, bytes: RandomToken.bytes(tokenSecretLength))
        var created = true
        if link(temporary, path) != 0 {
            let code = errno
            guard code == EEXIST else {
                throw SyncStorageError(.failure, "cannot create \(path): \(String(cString: strerror(code)))")
            }
            created = false
        }
        syncDirectory(of: path)
        guard let secret = try readSecret(at: path) else {
            throw SyncStorageError(.failure, "\(path) disappeared right after it was created")
        }
        return (secret, created)
    }

    /// The secret at `path`, nil if the file does not exist.
    private static func readSecret(at path: String) throws -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw SyncStorageError(.failure, "cannot read \(path): \(String(cString: strerror(code)))")
        }
        defer { closeDescriptor(descriptor) }
        // One byte more than expected, to notice a file that is too long.
        var buffer = [UInt8](repeating: 0, count: tokenSecretLength + 1)
        var count = 0
        while count < buffer.count {
            let got = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + count, $0.count - count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw SyncStorageError(.failure, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if got == 0 { break }
            count += got
        }
        guard count == tokenSecretLength else {
            throw SyncStorageError(.failure, "\(path) must hold exactly \(tokenSecretLength) bytes, it has \(count > tokenSecretLength ? "more" : "\(count)"); removing it creates a new secret and invalidates every token issued so far")
        }
        return Array(buffer.prefix(tokenSecretLength))
    }

    /// Creates `path` (which must not exist) with mode 0600, writes `bytes` and syncs it.
    private static func writeNewFile(at path: String, bytes: [UInt8]) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SyncStorageError(.failure, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { closeDescriptor(descriptor) }
        // The umask can only take bits away from 0600, but be explicit: the secret is
        // everything an attacker needs to mint tokens.
        guard fchmod(descriptor, 0o600) == 0 else {
            throw SyncStorageError(.failure, "cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw SyncStorageError(.failure, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            written += result
        }
        // Durable before it becomes visible under its real name: a secret lost in a crash
        // would silently invalidate every token issued with it.
        guard fsync(descriptor) == 0 else {
            throw SyncStorageError(.failure, "cannot sync \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Makes a new directory entry durable (best effort: not every file system allows it).
    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        closeDescriptor(descriptor)
    }
}

/// `close(2)`, out of the extension, where `close` means `EmbeddedStorage.close()`.
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
