/// Per-row queries and version reservations for code that builds its own change streams on
/// top of the engine (the server's Row-Level Security). Package API: apps and extensions
/// never need it.
extension SyncContext {
    /// Settings the engine keeps for itself in `cloudsync_settings`.
    package enum EngineSetting {
        /// A `db_version` every later transaction must exceed (engine.md): raised by
        /// `reserveVersion()`, and by a server that stamps a merge with a version it chose.
        package static let versionFloor = "db_version_floor"
        /// The payload format this database writes (`PayloadFormat`, 1 or 2; 2 when unset):
        /// `cloudsync_set('payload_version', 1)` for peers of the 0.8 generation.
        package static let payloadVersion = "payload_version"
    }

    /// The format `cloudsync_payload_encode` and uploads write: the `payload_version` setting.
    public func payloadFormat() throws(CloudSyncError) -> PayloadFormat {
        guard let stored = try integerSetting(EngineSetting.payloadVersion) else { return .v2 }
        guard let format = PayloadFormat(rawValue: stored) else {
            throw CloudSyncError(.misuse, "the payload_version setting is \(stored); it must be 1 (for sqlite-sync 0.8 peers) or 2 (checksummed, the default)")
        }
        return format
    }

    /// The schema hash a payload of `format` carries: the text hash for 0.8 peers, the
    /// structural hash for 1.x peers.
    package func schemaHash(for format: PayloadFormat) throws(CloudSyncError) -> UInt64 {
        switch format {
        case .v1: try currentSchemaHash()
        case .v2: try currentStructuralSchemaHash()
        }
    }

    /// The synchronized table called `name` (case-insensitively), or nil.
    package func synchronizedTable(named name: String) throws(CloudSyncError) -> SynchronizedTableInfo? {
        guard let table = try table(name) else { return nil }
        return SynchronizedTableInfo(
            name: table.name, primaryKey: table.primaryKey, columns: table.columns,
            quotedName: table.quotedName, clockTable: table.clockTable)
    }

    /// The causal length of a row here (crdt-model.md, "Clocks"): odd while it exists, even
    /// once deleted, 0 when this database has no clock for the key.
    package func causalLength(table name: String, pk: [UInt8]) throws(CloudSyncError) -> Int64 {
        let table = try requireTable(name)
        let row = try connection.rows(
            "SELECT (SELECT col_version FROM \(table.clockTable) WHERE pk = ?1 AND col_name = ?2), EXISTS (SELECT 1 FROM \(table.clockTable) WHERE pk = ?1)",
            [.blob(pk), .string(Change.sentinelColumn)]).first ?? []
        return MergeRules.localCausalLength(
            sentinel: row.first?.integerValue, hasClocks: (row.dropFirst().first?.integerValue ?? 0) != 0)
    }

    /// The current changes of one row (its sentinel and every cell clock), in feed order.
    package func rowChanges(table name: String, pk: [UInt8]) throws(CloudSyncError) -> [Change] {
        try changes(where: [.table(name), .primaryKey(pk)])
    }

    /// A `db_version` that no change has yet and that every later local or merged change will
    /// exceed: for changes made up outside the clock tables (they sort into the feed at it).
    /// Call inside the write transaction that records what the version is used for.
    package func reserveVersion() throws(CloudSyncError) -> Int64 {
        let version = max(try databaseVersion(), try integerSetting(EngineSetting.versionFloor) ?? 0) + 1
        try setSetting(EngineSetting.versionFloor, .integer(version))
        return version
    }

    /// Decodes `payload` and checks that it was made against a schema this database had.
    /// Nothing is written. Version-3 fragment payloads are refused: only a device applies them
    /// (``applyPayload(_:)``), staging their pieces.
    package func decodePayload(_ payload: [UInt8]) throws(CloudSyncError) -> [Change] {
        let (header, changes) = try decodeCheckedPayload(payload)
        guard header.version != 3 else {
            throw CloudSyncError(.malformedPayload, "a version-3 payload holds fragments of a large value (sqlite-sync 1.1); it is applied on a device with cloudsync_payload_apply, not merged here")
        }
        return changes
    }

    /// Decodes `payload` and checks its schema hash (not for version 3, whose hash readers
    /// ignore, wire-format §9).
    func decodeCheckedPayload(_ payload: [UInt8]) throws(CloudSyncError) -> (header: PayloadHeader, changes: [Change]) {
        let (header, changes) = try PayloadDecoder.decode(payload, limits: payloadLimits)
        let result = (header, changes)
        if header.version == 3 { return result }
        if header.version >= 2 {
            // 1.x peers stamp the structural hash (wire-format §9, §10).
            if try integerSetting("skip_schema_hash_check") ?? 0 != 0 { return result }
            if try isKnownSchemaHash(header.schemaHash) { return result }
            guard try currentStructuralSchemaHash() == header.schemaHash else {
                throw CloudSyncError.unknownSchema(header.schemaHash)
            }
            return result
        }
        guard try isKnownSchemaHash(header.schemaHash) else { throw CloudSyncError.unknownSchema(header.schemaHash) }
        return result
    }
}

extension CloudSyncError {
    /// A payload made against a schema the receiving database never had.
    package static func unknownSchema(_ hash: UInt64) -> CloudSyncError {
        CloudSyncError(.schemaMismatch, "the payload was made against a schema this database never had (schema hash \(hash)): create the synchronized tables with the same CREATE TABLE statements on both sides and call cloudsync_init for each")
    }
}
