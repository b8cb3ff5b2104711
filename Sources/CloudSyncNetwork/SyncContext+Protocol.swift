import CloudSyncCore

/// The database side of ``SyncStateMachine``'s actions, on the engine's connection: what both
/// clients run (the extension directly, `SyncClient` inside a GRDB write).
extension SyncContext {
    private typealias Key = SyncCursor.SettingKey

    /// The send cursor: the last local change the server accepted.
    package func sendCursor() throws(CloudSyncError) -> SyncCursor {
        SyncCursor(dbVersion: try integerSetting(Key.sendVersion) ?? 0, seq: try integerSetting(Key.sendSeq) ?? 0)
    }

    /// The receive cursor: the last server change merged.
    package func receiveCursor() throws(CloudSyncError) -> SyncCursor {
        SyncCursor(dbVersion: try integerSetting(Key.checkVersion) ?? 0, seq: try integerSetting(Key.checkSeq) ?? 0)
    }

    /// This device's changes after `cursor`, about `maxChanges` and at most about `maxBytes`, as
    /// one payload; nil when there are none
    /// (``SyncStateMachine/Action/encodeUpload(after:maxChanges:maxBytes:)``).
    ///
    /// The page ends on a whole db_version, passing `maxChanges` if its last version needs it
    /// (protocol v2 announces each page's versions as a window, and sqlite-sync 1.x reads the
    /// send cursor's version as sent whole), unless that version does not fit in `maxBytes`:
    /// then the page is cut inside it, as the server's body limit would refuse it whole. The
    /// server merges every change of a page whatever its window says, and this client resumes
    /// at its exact cursor, so nothing is lost either way.
    package func uploadPage(after cursor: SyncCursor, maxChanges: Int, maxBytes: Int = SyncLimits.defaultMaxBytesPerUpload) throws(CloudSyncError) -> SyncStateMachine.UploadPage? {
        guard let page = try encodeWholeVersions(
            where: [.site(try siteID(), equal: true), .after(dbVersion: cursor.dbVersion, seq: cursor.seq)],
            maxChanges: max(1, maxChanges), maxBytes: maxBytes, maxWholeBytes: maxBytes)
        else { return nil }
        return SyncStateMachine.UploadPage(payload: page.payload, last: SyncCursor(dbVersion: page.lastDbVersion, seq: page.lastSeq), count: page.count)
    }

    /// The settings key of the protocol the device's network operations start with
    /// (``SyncStateMachine/Action/rememberProtocol(_:)``); missing means v1.
    package static let protocolVersionSetting = "network_protocol_version"

    /// The protocol remembered by ``storeProtocolVersion(_:)``, v1 when none was.
    package func protocolVersion() throws(CloudSyncError) -> SyncStateMachine.ProtocolVersion {
        try integerSetting(Self.protocolVersionSetting).flatMap { SyncStateMachine.ProtocolVersion(rawValue: Int($0)) } ?? .v1
    }

    package func storeProtocolVersion(_ version: SyncStateMachine.ProtocolVersion) throws(CloudSyncError) {
        try setSetting(Self.protocolVersionSetting, .integer(Int64(version.rawValue)))
    }

    /// Whether this device has changes the server has not accepted yet.
    package func hasUnsentChanges() throws(CloudSyncError) -> Bool {
        let cursor = try sendCursor()
        return try hasChanges(where: [.site(try siteID(), equal: true), .after(dbVersion: cursor.dbVersion, seq: cursor.seq)])
    }

    package func storeSendCursor(_ cursor: SyncCursor) throws(CloudSyncError) {
        try connection.withSavepoint("cloudsync_send_cursor") { () throws(CloudSyncError) in
            try setSetting(Key.sendVersion, .integer(cursor.dbVersion))
            try setSetting(Key.sendSeq, .integer(cursor.seq))
        }
    }

    /// Merges a downloaded payload and moves the receive cursor to its last change, both or
    /// neither (``SyncStateMachine/Action/apply(_:)``).
    package func applyDownload(_ payload: [UInt8]) throws(CloudSyncError) -> MergeReport {
        try connection.withSavepoint("cloudsync_download") { () throws(CloudSyncError) in
            let report = try applyPayload(payload)
            if report.movesCursor {
                try setSetting(Key.checkVersion, .integer(report.lastDbVersion))
                try setSetting(Key.checkSeq, .integer(report.lastSeq))
            }
            return report
        }
    }

    /// Sets the four cursors to 0: everything is sent and received again (idempotently).
    package func resetCursors() throws(CloudSyncError) {
        for key in Key.all { try setSetting(key, .integer(0)) }
    }
}
