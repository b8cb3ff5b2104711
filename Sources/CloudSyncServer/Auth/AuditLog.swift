import Logging

/// The log lines every storage writes when an administrator changes access (API keys, access
/// tokens, Row-Level Security policies), worded once so that the trail reads the same
/// whichever storage the server runs on. Keys are logged by the start of their hash, never in
/// clear.
struct AuditLog {
    let logger: Logger

    func createdAPIKey(database: String, hash: String) {
        logger.info("created API key", metadata: ["database": "\(database)", "key_hash": "\(hash.prefix(12))"])
    }

    func revokedAPIKey(hash: String) {
        logger.info("revoked API key", metadata: ["key_hash": "\(hash.prefix(12))"])
    }

    func issuedToken(_ claims: AccessClaims) {
        logger.info("issued access token", metadata: ["database": "\(claims.database)", "user": "\(claims.userID)", "token_id": "\(claims.tokenID)"])
    }

    func revokedToken(id: String) {
        logger.info("revoked access token", metadata: ["token_id": "\(id)"])
    }

    func setPolicy(database: String, table: String) {
        logger.info("set row-level security policy", metadata: ["database": "\(database)", "table": "\(table)"])
    }

    func disabledPolicy(database: String, table: String) {
        logger.info("disabled row-level security policy", metadata: ["database": "\(database)", "table": "\(table)"])
    }
}
